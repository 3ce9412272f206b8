import type { ClientKind } from './load/protocol.js';
import { cpuProfArgs } from './profile.js';
import { SWITCHBOARD_CLI, serverScript, startNode, startRedis, type Proc } from './lib/proc.js';
import { batchHttp, eventBody, failoverHttp, perMessageHttp, rawFrame, redisChannel, reportBody, switchboardFrame, type Message, type Publisher } from './publish.js';
import type { Scenario } from './results.js';

/** One way of publishing into a running system; each is a row of its own in the report. */

/**
 * Environment of every Switchboard process the bench starts. All load comes from one address
 * (loopback), so the per-address connection cap and upgrade rate are off, as they would be for
 * clients spread over many addresses.
 */
export const SWITCHBOARD_BENCH_ENV = {
  LOG_LEVEL: 'warn',
  NODE_ENV: 'development',
  HEARTBEAT_INTERVAL_MS: '5000',
  MAX_CONNECTIONS_PER_ADDRESS: '0',
  UPGRADE_RATE_PER_ADDRESS: '0',
};
export interface Variant {
  /** Result id, e.g. `switchboard-redis`. */
  id: string;
  label: string;
  baseline: boolean;
  publisher(): Publisher;
  /** The frame a client receives for this message (for the size column). */
  frame(m: Message): string;
}

/** Processes running one system, the clients' targets, and the ways to publish into it. */
export interface Session {
  id: string;
  label: string;
  kind: ClientKind;
  /** Where clients connect, in turn. */
  clientUrls: string[];
  /** Processes that hold the client connections (RSS per connection is measured on these). */
  connectionHolders: Proc[];
  /** Processes by role, for the CPU figures (e.g. gateways, worker, redis). */
  processes: Record<string, Proc[]>;
  /** Gateway base URLs (the ingest scenario posts there), when it is Switchboard. */
  gatewayUrls: string[];
  redisUrl?: string;
  variants: Variant[];
  /** Churn and rolling restart: how clients come back and how messages go in (one per send). */
  disruption?: { id: string; label: string; resume: boolean; publisher(): Publisher };
  /** Stops gateway i (SIGTERM: it drains) and starts it again on the same port; resolves once ready. */
  restartGateway?: (i: number) => Promise<void>;
  stop(): Promise<void>;
}

export interface SessionSpec {
  id: string;
  label: string;
  kind: ClientKind;
  /** The scenarios this system takes part in (default: all that apply to its kind). */
  scenarios?: Scenario[];
  start(options: StartOptions): Promise<Session>;
}

export interface StartOptions {
  /** Directory for the gateways' and the worker's CPU profiles (`--cpu-prof`), when profiling. */
  profileDir?: string;
}

const sioFrame = (event: string) => (m: Message) =>
  `42["${event}",${JSON.stringify({ id: '6f1c2b1e-0000-4000-8000-000000000000', service: m.service, message: 'bench error', stack: null, path: null, method: null, level: 'error', metadata: { t: m.t, seq: m.seq, pad: m.pad }, createdAt: new Date(m.t).toISOString() })}]`;

/** Redis, two gateways and one worker: the cluster as deployed, each a `switchboard` process. */
export async function startSwitchboard(
  options: StartOptions,
): Promise<{
  gateways: Proc[];
  gatewayUrls: string[];
  redisUrl: string;
  all: Proc[];
  processes: Record<string, Proc[]>;
  restartGateway(i: number): Promise<void>;
}> {
  const redis = await startRedis();
  const env = { ...SWITCHBOARD_BENCH_ENV, REDIS_URL: redis.url };
  const execArgv = cpuProfArgs(options.profileDir);
  const worker = await startNode('worker', SWITCHBOARD_CLI, ['worker'], { ...env, NODE_ID: 'bench-wk' }, '/readyz', { execArgv });
  const startGateway = (i: number, port?: number) =>
    startNode(`gateway-${i + 1}`, SWITCHBOARD_CLI, ['gateway'], { ...env, NODE_ID: `bench-gw-${i + 1}` }, '/readyz', { execArgv, ...(port === undefined ? {} : { port }) });
  const started = await Promise.all([0, 1].map((i) => startGateway(i)));
  const gateways = started.map((g) => g.proc);
  const all = [...gateways, worker.proc, redis.proc];
  return {
    gateways,
    gatewayUrls: started.map((g) => `http://127.0.0.1:${g.port}`),
    redisUrl: redis.url,
    // Gateways first (they drain), then the worker, Redis last.
    all,
    processes: { gateways, worker: [worker.proc], redis: [redis.proc] },
    // The arrays above are updated in place, so the session's stop() and meters see the new process.
    async restartGateway(i) {
      const old = gateways[i]!;
      await old.stop();
      const next = await startGateway(i, started[i]!.port);
      gateways[i] = next.proc;
      all[all.indexOf(old)] = next.proc;
    },
  };
}

/** A baseline that is one server process: clients on `/ws` (raw) or Socket.IO, batches POSTed to `route`. */
function singleProcess(spec: {
  id: string;
  label: string;
  kind: ClientKind;
  script: string;
  route: string;
  line: (m: Message) => string;
  frame: (m: Message) => string;
  env?: Record<string, string>;
  scenarios?: Scenario[];
}): SessionSpec {
  return {
    id: spec.id,
    label: spec.label,
    kind: spec.kind,
    ...(spec.scenarios === undefined ? {} : { scenarios: spec.scenarios }),
    async start() {
      const server = await startNode(spec.id, serverScript(spec.script), [], spec.env ?? {}, '/health');
      const base = `http://127.0.0.1:${server.port}`;
      return {
        id: spec.id,
        label: spec.label,
        kind: spec.kind,
        clientUrls: [spec.kind === 'ws' ? `ws://127.0.0.1:${server.port}/ws` : base],
        connectionHolders: [server.proc],
        processes: { server: [server.proc] },
        gatewayUrls: [],
        variants: [{ id: spec.id, label: spec.label, baseline: true, publisher: () => batchHttp([`${base}${spec.route}`], spec.line), frame: spec.frame }],
        disruption: { id: spec.id, label: spec.label, resume: false, publisher: () => batchHttp([`${base}${spec.route}`], spec.line) },
        stop: () => server.proc.stop(),
      };
    },
  };
}

type Cluster = Awaited<ReturnType<typeof startSwitchboard>>;

/** The Switchboard cluster with clients on both gateways. */
function switchboardSession(spec: {
  id: string;
  label: string;
  kind: ClientKind;
  clientUrl: (gatewayUrl: string) => string;
  variants: (sb: Cluster) => Variant[];
  /** Churn and rolling restart: the ingest route messages are posted to, and whether raw clients resume. */
  disruption: { route: string; body: (m: Message) => string; resume: boolean };
}): SessionSpec {
  return {
    id: spec.id,
    label: spec.label,
    kind: spec.kind,
    async start(options) {
      const sb = await startSwitchboard(options);
      return {
        id: spec.id,
        label: spec.label,
        kind: spec.kind,
        clientUrls: sb.gatewayUrls.map(spec.clientUrl),
        connectionHolders: sb.gateways,
        processes: sb.processes,
        gatewayUrls: sb.gatewayUrls,
        redisUrl: sb.redisUrl,
        variants: spec.variants(sb),
        disruption: {
          id: spec.id,
          label: spec.label,
          resume: spec.disruption.resume,
          publisher: () => failoverHttp(sb.gatewayUrls.map((u) => `${u}${spec.disruption.route}`), spec.disruption.body),
        },
        restartGateway: (i) => sb.restartGateway(i),
        // Gateways first (they drain), then the worker, Redis last.
        stop: async () => {
          for (const p of sb.all) await p.stop();
        },
      };
    },
  };
}

export const SESSIONS: SessionSpec[] = [
  switchboardSession({
    id: 'switchboard',
    label: 'Switchboard /ws/analytics (2 gateways + worker + Redis)',
    kind: 'ws',
    clientUrl: (gateway) => `${gateway.replace('http', 'ws')}/ws/analytics`,
    disruption: { route: '/events', body: eventBody, resume: true },
    variants: (sb) => [
      {
        id: 'switchboard-ingest',
        label: 'Switchboard, POST /events (ingest → stream → worker → pub/sub → 2 gateways)',
        baseline: false,
        publisher: () => perMessageHttp(sb.gatewayUrls.map((u) => `${u}/events`), eventBody),
        frame: (m) => switchboardFrame(m, 1_000_000),
      },
      {
        id: 'switchboard-redis',
        label: 'Switchboard, frames committed on sb:ch:analytics as a worker does (offset + history + PUBLISH in one step → 2 gateways; gateway fan-out only)',
        baseline: false,
        publisher: () => redisChannel(sb.redisUrl),
        frame: (m) => switchboardFrame(m, 1_000_000),
      },
    ],
  }),
  switchboardSession({
    id: 'switchboard-sio',
    label: 'Switchboard Socket.IO error monitor (2 gateways + worker + Redis)',
    kind: 'sio',
    clientUrl: (gateway) => gateway,
    disruption: { route: '/report', body: reportBody, resume: true },
    variants: (sb) => [
      {
        id: 'switchboard-sio',
        label: 'Switchboard Socket.IO, POST /report (ingest → worker → adapter protocol → 2 gateways)',
        baseline: false,
        publisher: () => perMessageHttp(sb.gatewayUrls.map((u) => `${u}/report`), reportBody),
        frame: sioFrame('error:new'),
      },
    ],
  }),
  singleProcess({
    id: 'uws-bare',
    label: 'bare uWebSockets.js, topic publish (1 process)',
    kind: 'ws',
    script: 'uws-bare',
    route: '/publish',
    line: rawFrame,
    frame: rawFrame,
  }),
  singleProcess({
    id: 'ws-broadcast',
    label: '`ws` server, broadcast loop (1 process)',
    kind: 'ws',
    script: 'ws-broadcast',
    route: '/publish',
    line: rawFrame,
    frame: rawFrame,
  }),
  singleProcess({
    id: 'socketio-single',
    label: 'Socket.IO, single node',
    kind: 'sio',
    script: 'socketio',
    route: '/report',
    line: reportBody,
    frame: sioFrame('error:new'),
  }),
  singleProcess({
    id: 'socketio-recovery',
    label: 'Socket.IO, single node, connection state recovery (in memory)',
    kind: 'sio',
    script: 'socketio',
    route: '/report',
    line: reportBody,
    frame: sioFrame('error:new'),
    env: { RECOVERY_MS: '120000' },
    scenarios: ['churn'],
  }),
  {
    id: 'socketio-cluster',
    label: 'plain Socket.IO cluster: 2 nodes + @socket.io/redis-adapter',
    kind: 'sio',
    async start() {
      const redis = await startRedis();
      const nodes = await Promise.all([1, 2].map((i) => startNode(`socketio-${i}`, serverScript('socketio'), [], { REDIS_URL: redis.url }, '/health')));
      const bases = nodes.map((n) => `http://127.0.0.1:${n.port}`);
      return {
        id: 'socketio-cluster',
        label: this.label,
        kind: 'sio',
        clientUrls: bases,
        connectionHolders: nodes.map((n) => n.proc),
        processes: { nodes: nodes.map((n) => n.proc), redis: [redis.proc] },
        gatewayUrls: [],
        redisUrl: redis.url,
        variants: [
          {
            id: 'socketio-cluster',
            label: this.label,
            baseline: true,
            publisher: () => batchHttp(bases.map((b) => `${b}/report`), reportBody),
            frame: sioFrame('error:new'),
          },
        ],
        stop: async () => {
          for (const p of [...nodes.map((n) => n.proc), redis.proc]) await p.stop();
        },
      };
    },
  },
];

export const BASELINES = ['uws-bare', 'ws-broadcast', 'socketio-single', 'socketio-recovery', 'socketio-cluster'] as const;
