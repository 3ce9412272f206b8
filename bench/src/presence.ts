#!/usr/bin/env node
/**
 * Presence at scale: `npm run build && npm run presence -w @switchboard/bench`, against a private redis-server.
 *
 * Registers `--members` members on one channel (in batches, as gateways do), then times
 * `occupancy` of that channel (`--samples` calls, p50/p99), then registers `--list-members` on a
 * second channel and times paging through its whole member list `--page` at a time, repeated
 * until `--samples` pages were read (p50/p99 per page). Targets: occupancy p99 < 5 ms, a page of
 * 1,000 p99 < 50 ms. Then presence's overhead on a gateway, off against on (presence-overhead.ts):
 * RSS per idle connection (target +10 % at most) and fan-out CPU per delivery (+5 % at most).
 * Results: bench/results/presence-latest.{json,md}.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { createEngine, type Engine, type PresenceEntry } from '@switchboard/engine';
import { startBenchRedis } from './cluster-shards.js';
import { measurePresenceOverhead } from './presence-overhead.js';

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
    out: { type: 'string', default: fileURLToPath(new URL('../results', import.meta.url)) },
    help: { type: 'boolean', default: false },
  },
});
if (options.help) {
  process.stdout.write(
    'usage: npm run presence -w @switchboard/bench -- [--members 100000] [--list-members 10000] [--page 1000] [--samples 1000] [--overhead-clients 2000] [--fanout-rate 100] [--fanout-s 10] [--rounds 2] [--profile DIR] [--out DIR]\n',
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
  for (let i = 0; i < SAMPLES; i++) occupancyMs.push(await timed(() => engine.presence.occupancy([big])));

  await register(engine, listed, LIST_MEMBERS);
  const pageMs: number[] = [];
  let listedTotal = 0;
  while (pageMs.length < SAMPLES) {
    let cursor: string | undefined;
    let total = 0;
    do {
      let next: string | null = null;
      pageMs.push(
        await timed(async () => {
          const page = await engine.presence.members(listed, PAGE, cursor);
          total += page.members.length;
          next = page.next;
        }),
      );
      cursor = next ?? undefined;
    } while (cursor !== undefined && pageMs.length < SAMPLES);
    if (cursor === undefined) listedTotal = total;
  }
  if (listedTotal !== LIST_MEMBERS) throw new Error(`paging listed ${listedTotal} members, expected ${LIST_MEMBERS}`);

  process.stdout.write(`presence overhead: ${OVERHEAD.rounds} rounds of a gateway with presence off, then on\n`);
  const overhead = await measurePresenceOverhead({ redisEnv: redis.env, ...OVERHEAD }, (line) => process.stdout.write(line));

  const result = {
    at: new Date().toISOString(),
    redis: 'one redis-server (private, 127.0.0.1)',
    occupancy: { members: MEMBERS, users: occupancy.users, ...summary(occupancyMs), targetP99Ms: 5 },
    pages: { members: LIST_MEMBERS, pageSize: PAGE, ...summary(pageMs), targetP99Ms: 50 },
    registerSeconds,
    overhead,
  };
  const { off, on, ratios } = overhead;
  const within = (value: number, max: number) => (value <= max ? 'met' : 'MISSED');
  const pct = (ratio: number) => `${ratio >= 1 ? '+' : ''}${Math.round((ratio - 1) * 1000) / 10} %`;
  const verdict = (p99: number, target: number) => (p99 < target ? 'met' : 'MISSED');
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
    '## What presence costs a gateway',
    '',
    `One gateway with \`PRESENCE_ENABLED=false\`, then one with presence on, ${overhead.rounds} rounds alternating (medians), ${overhead.clients} clients per measured step. RSS per idle connection is the growth of the gateway's RSS (after full collections) over one step; fan-out is the gateway's CPU time per frame delivered while frames are committed on \`sb:ch:analytics\` at ${OVERHEAD.fanoutRate}/s for ${OVERHEAD.fanoutS} s to every raw client (${off.deliveries} / ${on.deliveries} deliveries).`,
    '',
    '| measure | presence off | presence on | on / off | target | verdict |',
    '|---|---|---|---|---|---|',
    `| RSS per idle raw connection (KB), not asking | ${off.rawKb} | ${on.rawKb} | ${pct(ratios.rawRss)} | ≤ +10 % | ${within(ratios.rawRss, 1.1)} |`,
    `| RSS per idle raw connection (KB), \`presence_subscribe\` sent | ${off.rawAskingKb} | ${on.rawAskingKb} | ${pct(ratios.rawAskingRss)} | ≤ +10 % | ${within(ratios.rawAskingRss, 1.1)} |`,
    `| RSS per idle Socket.IO connection (KB) | ${off.socketIoKb} | ${on.socketIoKb} | ${pct(ratios.socketIoRss)} | ≤ +10 % | ${within(ratios.socketIoRss, 1.1)} |`,
    `| JS heap + external per idle raw connection (KB), not asking | ${off.rawJsKb} | ${on.rawJsKb} | ${pct(on.rawJsKb / off.rawJsKb)} | | |`,
    `| JS heap + external per idle raw connection (KB), asking | ${off.rawAskingJsKb} | ${on.rawAskingJsKb} | ${pct(on.rawAskingJsKb / off.rawAskingJsKb)} | | |`,
    `| JS heap + external per idle Socket.IO connection (KB) | ${off.socketIoJsKb} | ${on.socketIoJsKb} | ${pct(on.socketIoJsKb / off.socketIoJsKb)} | | |`,
    `| gateway CPU at rest, every client connected (% of a core) | ${off.idleCpuPct} | ${on.idleCpuPct} | | | |`,
    `| fan-out, gateway CPU µs per delivery | ${off.fanoutUsPerDelivery} | ${on.fanoutUsPerDelivery} | ${pct(ratios.fanoutCpu)} | ≤ +5 % | ${within(ratios.fanoutCpu, 1.05)} |`,
    '',
  ].join('\n');
  mkdirSync(options.out, { recursive: true });
  writeFileSync(`${options.out}/presence-latest.json`, `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(`${options.out}/presence-latest.md`, md);
  process.stdout.write(md);
} finally {
  await engine.close();
  await redis.stop();
}
