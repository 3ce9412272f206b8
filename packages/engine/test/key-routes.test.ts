import { describe, expect, it } from 'vitest';
import * as names from '../../protocol/src/names.js';
import { clusterTopology, keySlot } from '../src/redis/topology.js';

/**
 * Every state key the protocol names lives where its key space says: on a Redis Cluster, with
 * the channel its commits publish on (so a commit is one atomic step on one shard), or on its
 * own slot. The names module is enumerated, so a key constructor added without a key space fails.
 */

/** Exports of the names module that are not state keys: channels, streams, topics, helpers. */
const NOT_STATE_KEYS = new Set([
  'KEY_PREFIX', 'INGEST_STREAM', 'INGEST_GROUP', 'INGEST_DEAD_LETTER_STREAM', 'JOB_OWNER_TTL_S',
  'CHANNELS', 'logsChannel', 'socketIoChannel',
  'RAW_TOPIC_PREFIX', 'ANALYTICS_TOPICS', 'LOGS_TOPICS', 'AVAILABILITY_TOPIC',
  'utcDay', 'keyRoute', 'keyPlacement', 'ingestRoute',
]);

/** The keys an export builds: itself (a string), its result (a function, called with sample arguments), or its members'. */
function keysOf(path: string, value: unknown): [string, string][] {
  if (typeof value === 'string') return [[path, value]];
  if (typeof value === 'function') return keysOf(`${path}()`, (value as (...args: string[]) => unknown)('x1', 'x2'));
  if (typeof value === 'object' && value !== null) return Object.entries(value).flatMap(([name, member]) => keysOf(`${path}.${name}`, member));
  return [];
}

/** Every state key a module's exports build, with where it came from. */
const stateKeysOf = (module: Record<string, unknown>): [string, string][] =>
  Object.entries(module)
    .filter(([name]) => !NOT_STATE_KEYS.has(name))
    .flatMap(([name, value]) => keysOf(name, value));

const topology = clusterTopology(16);

/** The keys whose placement is missing or not kept on a cluster topology, with why. */
function misplaced(module: Record<string, unknown>): string[] {
  return stateKeysOf(module).flatMap(([path, key]) => {
    const placement = names.keyPlacement(key);
    if (placement === undefined) return [`${path} = ${key}: built outside any key space`];
    const stored = topology.stateKey(key);
    if (placement.own) return stored === key ? [] : [`${path}: stored as ${stored}, not where its name puts it`];
    const channelSlot = keySlot(topology.channel(placement.channel).position);
    return keySlot(stored) === channelSlot ? [] : [`${path}: slot ${keySlot(stored)}, its channel ${placement.channel} is on ${channelSlot}`];
  });
}

describe('state key placement on a Redis Cluster', () => {
  it('finds every state key the names module exports', () => {
    const paths = stateKeysOf(names).map(([path]) => path);
    expect(paths).toEqual(expect.arrayContaining([
      'ANALYTICS_KEYS.totalEvents', 'ANALYTICS_KEYS.uniqueVisitors()', 'LOGS_KEYS.history()', 'NODE_METRICS_KEYS.node()',
      'heartbeatSlotKey()', 'logMetricsSlotKey()', 'jobOwnerKey()', 'leaseKey()', 'ingestDedupeKey()', 'socketIoSessionKey()',
    ]));
    // Every export is either a state key constructor or named as something else.
    for (const name of Object.keys(names)) if (!NOT_STATE_KEYS.has(name)) expect(keysOf(name, names[name as keyof typeof names]), name).not.toEqual([]);
  });

  it('stores each with the channel its key space names, on that channel\'s partition, or where its name puts it', () => {
    expect(misplaced(names)).toEqual([]);
    expect(names.keyRoute(names.LOGS_KEYS.history('app-1'))).toBe(names.logsChannel('app-1'));
    expect(names.keyRoute(names.jobOwnerKey('j1'))).toBe(names.socketIoChannel('/'));
    expect(names.keyRoute(names.leaseKey('heartbeat'))).toBeUndefined();
  });

  it('catches a key constructor added without a key space', () => {
    const added = { ...names, sessionCountKey: (app: string) => `${names.KEY_PREFIX}sessions:${app}` };
    expect(misplaced(added)).toEqual(['sessionCountKey() = sb:sessions:x1: built outside any key space']);
  });
});
