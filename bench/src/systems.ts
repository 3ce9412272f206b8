import { mkdirSync } from 'node:fs';
import type { ClientKind } from './load/protocol.js';
import { SWITCHBOARD_CLI, serverScript, startNode, startRedis, type Proc } from './lib/proc.js';
import { batchHttp, eventBody, perMessageHttp, rawFrame, redisChannel, reportBody, switchboardFrame, type Message, type Publisher } from './publish.js';

/** One way of publishing into a running system; each is a row of its own in the report. */
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
  stop(): Promise<void>;
}

export interface SessionSpec {
  id: string;
  label: string;
  kind: ClientKind;
  start(options: StartOptions): Promise<Session>;
}

export interface StartOptions {
  /** Directory for gateway CPU profiles (`--cpu-prof`), when profiling. */
  profileDir?: string;
}

const sioFrame = (event: string) => (m: Message) =>
  `42["${event}",${JSON.stringify({ id: '6f1c2b1e-0000-4000-8000-000000000000', service: m.service, message: 'bench error', stack: null, path: null, method: null, level: 'error', metadata: { t: m.t, seq: m.seq, pad: m.pad }, createdAt: new Date(m.t).toISOString() })}]`;

/** Redis, two gateways and one worker: the cluster as deployed, each a `switchboard` process. */
export async function startSwitchboard(
  options: StartOptions,
): Promise<{ gateways: Proc[]; gatewayUrls: string[]; redisUrl: string; all: Proc[]; processes: Record<string, Proc[]> }> {
  const redis = await startRedis();
  const env = { REDIS_URL: redis.url, LOG_LEVEL: 'warn', NODE_ENV: 'development', HEARTBEAT_INTERVAL_MS: '5000' };
  const execArgv: string[] = [];
  if (options.profileDir !== undefined) {
    mkdirSync(options.profileDir, { recursive: true });
    execArgv.push('--cpu-prof', `--cpu-prof-dir=${options.profileDir}`);
  }
  const worker = await startNode('worker', SWITCHBOARD_CLI, ['worker'], { ...env, NODE_ID: 'bench-wk' }, '/readyz');
  const gateways = await Promise.all(
    [1, 2].map((i) => startNode(`gateway-${i}`, SWITCHBOARD_CLI, ['gateway'], { ...env, NODE_ID: `bench-gw-${i}` }, '/readyz', { execArgv })),
  );
  return {
    gateways: gateways.map((g) => g.proc),
    gatewayUrls: gateways.map((g) => `http://127.0.0.1:${g.port}`),
    redisUrl: redis.url,
    // Gateways first (they drain), then the worker, Redis last.
    all: [...gateways.map((g) => g.proc), worker.proc, redis.proc],
    processes: { gateways: gateways.map((g) => g.proc), worker: [worker.proc], redis: [redis.proc] },
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
}): SessionSpec {
  return {
    id: spec.id,
    label: spec.label,
    kind: spec.kind,
    async start() {
      const server = await startNode(spec.id, serverScript(spec.script), [], {}, '/health');
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
        label: 'Switchboard, PUBLISH on sb:ch:analytics (Redis pub/sub → 2 gateways; gateway fan-out only)',
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

export const BASELINES = ['uws-bare', 'ws-broadcast', 'socketio-single', 'socketio-cluster'] as const;
