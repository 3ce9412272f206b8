#!/usr/bin/env node
/**
 * Presence at scale: `npm run build && npm run presence -w @switchboard/bench`, against a private redis-server.
 *
 * Registers `--members` members on one channel (in batches, as gateways do), then times
 * `occupancy` of that channel (`--samples` calls, p50/p99), then registers `--list-members` on a
 * second channel and times paging through its whole member list `--page` at a time, repeated
 * until `--samples` pages were read (p50/p99 per page). Targets: occupancy p99 < 5 ms, a page of
 * 1,000 p99 < 50 ms. Beside the latencies (which a loaded machine stretches), the work each call
 * costs, which load does not: Redis's time per call (INFO commandstats, the scripts' own
 * execution) and CPU per call (Redis's and this process's). Then presence's overhead on a gateway,
 * off against on (presence-overhead.ts): RSS per idle connection (target +10 % at most) and fan-out
 * CPU per delivery (+5 % at most); `--skip-overhead` leaves it out (a quick rerun of the rest).
 * Results: bench/results/presence-latest.{json,md}.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { createEngine, type Engine, type PresenceEntry } from '@switchboard/engine';
import { startBenchRedis } from './cluster-shards.js';
import { measurePresenceOverhead, overheadMarkdown, type OverheadResult } from './presence-overhead.js';

const { values: options } = parseArgs({
  options: {
    members: { type: 'string', default: '100000' },
    'list-members': { type: 'string', default: '10000' },
    page: { type: 'string', default: '1000' },
    samples: { type: 'string', default: '1000' },
    'overhead-clients': { type: 'string', default: '2000' },
    'fanout-rate': { type: 'string', default: '100' },
    'fanout-s': { type: 'string', default: '10' },
    rounds: { type: 'string', default: '2' },
    profile: { type: 'string' },
    'skip-overhead': { type: 'boolean', default: false },
    out: { type: 'string', default: fileURLToPath(new URL('../results', import.meta.url)) },
    help: { type: 'boolean', default: false },
  },
});
if (options.help) {
  process.stdout.write(
    'usage: npm run presence -w @switchboard/bench -- [--members 100000] [--list-members 10000] [--page 1000] [--samples 1000] [--overhead-clients 2000] [--fanout-rate 100] [--fanout-s 10] [--rounds 2] [--profile DIR] [--skip-overhead] [--out DIR]\n',
  );
  process.exit(0);
}
const positive = (name: 'members' | 'list-members' | 'page' | 'samples' | 'overhead-clients' | 'fanout-rate' | 'fanout-s' | 'rounds'): number => {
  const value = Number(options[name]);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name}: expected a positive integer, got ${String(options[name])}`);
  return value;
};
const MEMBERS = positive('members');
const LIST_MEMBERS = positive('list-members');
const PAGE = positive('page');
const SAMPLES = positive('samples');
const OVERHEAD = {
  clients: positive('overhead-clients'),
  fanoutRate: positive('fanout-rate'),
  fanoutS: positive('fanout-s'),
  rounds: positive('rounds'),
  ...(options.profile === undefined ? {} : { profileDir: options.profile }),
};
const TTL_S = 600;
const REGISTER_BATCH = 5_000;

/** Percentile of sorted values (nearest rank). */
const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
const summary = (ms: number[]) => {
  const sorted = [...ms].sort((a, b) => a - b);
  return { samples: sorted.length, p50Ms: round(percentile(sorted, 50)), p99Ms: round(percentile(sorted, 99)), maxMs: round(sorted.at(-1) ?? 0) };
};
const round = (ms: number): number => Math.round(ms * 1000) / 1000;
const timed = async (run: () => Promise<unknown>): Promise<number> => {
  const start = process.hrtime.bigint();
  await run();
  return Number(process.hrtime.bigint() - start) / 1e6;
};

/**
 * What `run`'s calls cost, whatever the load: Redis's own time for each of them (SLOWLOG with
 * every command logged: the execution of the `commands` each call sends, p50/p99), Redis's CPU
 * per call (with the network I/O), and this process's CPU per call. `keyPart`: a key only these
 * calls name.
 */
async function workPerCall(admin: Redis, keyPart: string, commands: number, run: () => Promise<number>): Promise<{ calls: number; redisP50Us: number; redisP99Us: number; redisCpuUs: number; clientCpuUs: number }> {
  const cpuSeconds = async () => {
    const info = await admin.info('cpu');
    return ['used_cpu_user', 'used_cpu_sys'].reduce((sum, name) => sum + Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0), 0);
  };
  await admin.config('SET', 'slowlog-max-len', '100000');
  await admin.config('SET', 'slowlog-log-slower-than', '0');
  await admin.slowlog('RESET');
  const redisCpu = await cpuSeconds();
  const cpu = process.cpuUsage();
  const calls = await run();
  const used = process.cpuUsage(cpu);
  const redisUsed = (await cpuSeconds()) - redisCpu;
  await admin.config('SET', 'slowlog-log-slower-than', '10000');
  // Entries, newest first: [id, time, µs, [command, ...args], client]; a script's own commands
  // are logged too (client `?:0`), their time within the script's.
  const log = (await admin.slowlog('GET', -1)) as [number, number, number, string[], string][];
  const micros = log
    .filter(([, , , args, client]) => client !== '?:0' && args.some((arg) => arg.includes(keyPart)))
    .reverse()
    .map(([, , us]) => us);
  if (micros.length !== calls * commands) throw new Error(`SLOWLOG holds ${micros.length} commands for ${calls} calls of ${commands}`);
  const us = Array.from({ length: calls }, (_, i) => micros.slice(i * commands, (i + 1) * commands).reduce((sum, value) => sum + value, 0));
  us.sort((a, b) => a - b);
  const per = (value: number) => Math.round((value / calls) * 10) / 10;
  return { calls, redisP50Us: percentile(us, 50), redisP99Us: percentile(us, 99), redisCpuUs: per(redisUsed * 1e6), clientCpuUs: per(used.user + used.system) };
}

/** Registers `count` members on `channel`, half of them sharing 100 users (a user with many connections). */
async function register(engine: Engine, channel: string, count: number): Promise<void> {
  for (let from = 0; from < count; from += REGISTER_BATCH) {
    const entries: PresenceEntry[] = [];
    for (let i = from; i < Math.min(count, from + REGISTER_BATCH); i++) {
      const clientId = `client-${String(i).padStart(7, '0')}`;
      entries.push({ channel, member: { clientId, userId: i % 2 === 0 ? `user-${i % 100}` : `user-${i}`, info: { endpoint: 'analytics' } } });
    }
    await engine.presence.refresh(entries, TTL_S, 'bench-gateway');
  }
}

const redis = await startBenchRedis('single');
const engine = createEngine({ redisUrl: redis.env['REDIS_URL'] }, pino({ level: 'warn' }));
const admin = new Redis(redis.env['REDIS_URL'] as string);
try {
  await engine.connect();
  const big = 'sb:ch:bench:presence:big';
  const listed = 'sb:ch:bench:presence:listed';
  const registerStart = Date.now();
  await register(engine, big, MEMBERS);
  const registerSeconds = (Date.now() - registerStart) / 1000;
  const [occupancy] = await engine.presence.occupancy([big]);
  if (occupancy?.connections !== MEMBERS) throw new Error(`expected ${MEMBERS} connections, got ${JSON.stringify(occupancy)}`);
  for (let i = 0; i < 50; i++) await engine.presence.occupancy([big]); // warm-up
  const occupancyMs: number[] = [];
  const occupancyWork = await workPerCall(admin, ':presence2:', 1, async () => {
    for (let i = 0; i < SAMPLES; i++) occupancyMs.push(await timed(() => engine.presence.occupancy([big])));
    return SAMPLES;
  });

  await register(engine, listed, LIST_MEMBERS);
  const pageMs: number[] = [];
  let listedTotal = 0;
  const pageWork = await workPerCall(admin, ':presence2:', 2, async () => {
    while (pageMs.length < SAMPLES) {
      let cursor: string | undefined;
      let total = 0;
      do {
        let next: string | null = null;
        pageMs.push(
          await timed(async () => {
            // The page as the server API answers it: the stored JSON text, not parsed.
            const page = await engine.presence.members(listed, PAGE, cursor);
            total += page.count;
            next = page.next;
          }),
        );
        cursor = next ?? undefined;
      } while (cursor !== undefined && pageMs.length < SAMPLES);
      if (cursor === undefined) listedTotal = total;
    }
    return pageMs.length;
  });
  if (listedTotal !== LIST_MEMBERS) throw new Error(`paging listed ${listedTotal} members, expected ${LIST_MEMBERS}`);
  const firstPage = await engine.presence.members(listed, PAGE);
  if (firstPage.members.length !== Math.min(PAGE, LIST_MEMBERS) || firstPage.members[0]?.clientId !== 'client-0000000') throw new Error('the first page does not parse to its members');

  let overhead: OverheadResult | undefined;
  if (!options['skip-overhead']) {
    process.stdout.write(`presence overhead: ${OVERHEAD.rounds} rounds of a gateway with presence off and one with it on, the order swapped every round\n`);
    overhead = await measurePresenceOverhead({ redisEnv: redis.env, ...OVERHEAD }, (line) => process.stdout.write(line));
  }

  const result = {
    at: new Date().toISOString(),
    redis: 'one redis-server (private, 127.0.0.1)',
    occupancy: { members: MEMBERS, users: occupancy.users, ...summary(occupancyMs), targetP99Ms: 5, work: occupancyWork },
    pages: { members: LIST_MEMBERS, pageSize: PAGE, ...summary(pageMs), targetP99Ms: 50, work: pageWork },
    registerSeconds,
    overhead,
  };
  const verdict = (p99: number, target: number) => (p99 < target ? 'met' : 'MISSED');
  const work = (w: typeof pageWork) => `${w.redisP50Us} | ${w.redisP99Us} | ${w.redisCpuUs} | ${w.clientCpuUs}`;
  const md = [
    '# Presence at scale',
    '',
    `${result.at}, ${result.redis}. \`npm run presence -w @switchboard/bench\` (${MEMBERS} members registered in ${registerSeconds.toFixed(1)} s).`,
    '',
    '| measure | samples | p50 ms | p99 ms | max ms | target p99 | verdict |',
    '|---|---|---|---|---|---|---|',
    `| occupancy of a ${MEMBERS}-member channel | ${result.occupancy.samples} | ${result.occupancy.p50Ms} | ${result.occupancy.p99Ms} | ${result.occupancy.maxMs} | < 5 ms | ${verdict(result.occupancy.p99Ms, 5)} |`,
    `| one page of ${PAGE} of a ${LIST_MEMBERS}-member list | ${result.pages.samples} | ${result.pages.p50Ms} | ${result.pages.p99Ms} | ${result.pages.maxMs} | < 50 ms | ${verdict(result.pages.p99Ms, 50)} |`,
    '',
    "The work per call, which a loaded machine stretches far less: Redis's own time for each call (SLOWLOG logging every command: their execution; a page is a sweep script and a ZRANGEBYLEX), Redis's CPU per call (with its network I/O), and the calling process's CPU per call (receiving the answer; a page is not parsed: the server API writes it through).",
    '',
    '| measure | Redis time p50 µs | Redis time p99 µs | Redis CPU µs per call | client CPU µs per call |',
    '|---|---|---|---|---|',
    `| occupancy of a ${MEMBERS}-member channel | ${work(occupancyWork)} |`,
    `| one page of ${PAGE} of a ${LIST_MEMBERS}-member list | ${work(pageWork)} |`,
    '',
    ...(overhead === undefined ? [] : overheadMarkdown(overhead, OVERHEAD.fanoutRate, OVERHEAD.fanoutS)),
  ].join('\n');
  mkdirSync(options.out, { recursive: true });
  writeFileSync(`${options.out}/presence-latest.json`, `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(`${options.out}/presence-latest.md`, md);
  process.stdout.write(md);
} finally {
  admin.disconnect();
  await engine.close();
  await redis.stop();
}
