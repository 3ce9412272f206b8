import { drawBars, drawSparkline } from './charts.js';
import { $, el, num, setStatus } from './dom.js';
import { origin } from './settings.js';

/** How often the page asks the gateway for the figures, and how much history it draws. */
const POLL_MS = 2_000;
const HISTORY = 150; // 5 minutes at one sample every 2 s

/** The figures of `GET /api/status` this view uses, read defensively: the page trusts no input. */
interface Status {
  at: number;
  eventsTotal: number;
  errorRate: number;
  nodes: { node: string; connections: number; ageMs: number }[];
  partitions: { pending: number; lag: number | null }[];
  deadLetters: number;
  leader: string | null;
  redis: { address: string; role: string }[];
}

const record = (value: unknown): Record<string, unknown> => (typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {});
const list = (value: unknown): Record<string, unknown>[] => (Array.isArray(value) ? value.map(record) : []);
const text = (value: unknown): string => (typeof value === 'string' ? value : '');

function readStatus(body: unknown): Status | undefined {
  const s = record(body);
  const at = num(s['at']);
  const eventsTotal = num(s['eventsTotal']);
  if (at === undefined || eventsTotal === undefined) return undefined;
  return {
    at,
    eventsTotal,
    errorRate: num(record(s['logs'])['errorRate']) ?? 0,
    nodes: list(s['nodes']).map((n) => ({ node: text(n['node']), connections: num(n['connections']) ?? 0, ageMs: num(n['ageMs']) ?? 0 })),
    partitions: list(record(s['ingest'])['partitions']).map((p) => ({ pending: num(p['pending']) ?? 0, lag: num(p['lag']) ?? null })),
    deadLetters: num(s['deadLetters']) ?? 0,
    leader: typeof s['leader'] === 'string' ? s['leader'] : null,
    redis: list(s['redis']).map((r) => ({ address: text(r['address']), role: text(r['role']) })),
  };
}

/** A node's role, as the processes name their reports (`<NODE_ID>-<role>-<random>`). */
const roleOf = (node: string): string => /-(gateway|worker|bridge|all)-[0-9a-f]+$/.exec(node)?.[1] ?? 'node';

/**
 * The operations view: events/s and errors/s over the last minutes, connections per gateway,
 * ingest lag per partition, dead letters, workers and the leader, Redis roles. Polls the
 * gateway's `/api/status` and draws on canvases.
 */
export class OpsPanel {
  private readonly events: number[] = [];
  private readonly errors: number[] = [];
  private previous: Status | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;

  start(): void {
    clearTimeout(this.timer);
    void this.poll();
  }

  private async poll(): Promise<void> {
    try {
      const res = await fetch(`${origin}/api/status`, { cache: 'no-store' });
      const status = res.ok ? readStatus(await res.json()) : undefined;
      if (status === undefined) throw new Error(`status ${res.status}`);
      this.show(status);
      setStatus('ops', 'live', `updated ${new Date(status.at).toLocaleTimeString([], { hour12: false })}`);
    } catch (err) {
      setStatus('ops', '', `status unavailable (${err instanceof Error ? err.message : String(err)})`);
    }
    this.timer = setTimeout(() => void this.poll(), POLL_MS);
  }

  private show(status: Status): void {
    const previous = this.previous;
    this.previous = status;
    if (previous !== undefined && status.at > previous.at) {
      const perS = (Math.max(0, status.eventsTotal - previous.eventsTotal) * 1000) / (status.at - previous.at);
      push(this.events, perS);
    } else if (previous === undefined) {
      push(this.events, 0);
    }
    push(this.errors, status.errorRate);
    drawSparkline($('ops-events') as HTMLCanvasElement, this.events, '#3fb950');
    drawSparkline($('ops-errors') as HTMLCanvasElement, this.errors, '#f85149');
    $('ops-events-now').textContent = `${round(this.events.at(-1) ?? 0)}/s`;
    $('ops-errors-now').textContent = `${round(status.errorRate)}/s`;

    const gateways = status.nodes.filter((n) => roleOf(n.node) === 'gateway' || roleOf(n.node) === 'all');
    drawBars($('ops-connections') as HTMLCanvasElement, gateways.map((n) => ({ label: n.node, value: n.connections })));
    drawBars(
      $('ops-lag') as HTMLCanvasElement,
      status.partitions.map((p, i) => ({ label: `partition ${i}`, value: (p.lag ?? 0) + p.pending, color: p.lag === null ? '#d29922' : '#58a6ff' })),
    );
    $('ops-dead').textContent = status.deadLetters.toLocaleString('en-US');
    $('ops-dead').className = `value${status.deadLetters > 0 ? ' bad' : ''}`;

    const workers = $('ops-workers');
    workers.replaceChildren();
    // The leader is named by its consumer (`<NODE_ID>-<random>`), a report by `<NODE_ID>-<role>-<random>`.
    const leaderNode = status.leader?.replace(/-[0-9a-f]+$/, '');
    for (const node of status.nodes.filter((n) => roleOf(n.node) === 'worker' || roleOf(n.node) === 'all')) {
      const leads = leaderNode !== undefined && node.node.startsWith(`${leaderNode}-`);
      workers.append(chip(node.node, node.ageMs < 15_000 ? 'ok' : 'bad', leads ? 'leader' : undefined));
    }
    if (workers.childElementCount === 0) workers.append(el('span', 'muted', 'no worker reported lately'));
    $('ops-leader').textContent = status.leader ?? 'none — no worker holds the lease';
    const redis = $('ops-redis');
    redis.replaceChildren();
    if (status.redis.length === 0) redis.append(el('span', 'muted', 'in-memory engine (no Redis)'));
    for (const node of status.redis) redis.append(chip(node.address, node.role === 'master' ? 'ok' : 'replica', node.role));
  }
}

function push(series: number[], value: number): void {
  series.push(value);
  if (series.length > HISTORY) series.shift();
}

const round = (n: number): string => (n >= 100 ? String(Math.round(n)) : String(Math.round(n * 10) / 10));

function chip(label: string, kind: string, note?: string): HTMLElement {
  const node = el('span', `chip ${kind}`, label);
  if (note !== undefined) node.append(el('b', undefined, ` ${note}`));
  return node;
}
