import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

const STRONG_SECRET = 'k3Jq9vXw2LmP8rTz5NcB7hYd4FgA6sQe'; // 32 characters
const PRODUCER_KEY = 'producer-key-0123456789'; // over 16 characters

/** A production environment that passes every check; tests break one thing at a time. */
const production = (overrides: Record<string, string | undefined> = {}): NodeJS.ProcessEnv => ({
  NODE_ENV: 'production',
  JWT_SECRET: STRONG_SECRET,
  ALLOWED_ORIGINS: 'https://app.example.com',
  INGEST_API_KEYS: PRODUCER_KEY,
  ...overrides,
});

/** Calls loadConfig expecting a ConfigError, and returns it. */
function configError(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`expected loadConfig to throw for ${JSON.stringify(env)}`);
}

function expectRefused(env: NodeJS.ProcessEnv, variable: string, reason?: RegExp): ConfigError {
  const error = configError(env);
  expect(error.variable).toBe(variable);
  expect(error.name).toBe('ConfigError');
  expect(error.message.startsWith(`${variable}: `)).toBe(true);
  if (reason) expect(error.reason).toMatch(reason);
  return error;
}

let rsaPem: string | undefined;
const rsaPublicPem = (): string =>
  (rsaPem ??= generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString());

describe('loadConfig defaults', () => {
  it('applies the documented defaults to an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      env: 'development',
      production: false,
      port: 8080,
      host: '0.0.0.0',
      redisUrl: undefined, // in-memory engine
      jwt: undefined,
      authRequired: false,
      allowedOrigins: [],
      ingestApiKeys: [],
      heartbeatIntervalMs: 5000,
      logHistoryLimit: 1000,
      maxBodyBytes: 1_048_576,
      idempotencyTtlS: 86_400,
      historySize: 1000,
      historyTtlS: 300,
      rabbitmq: undefined,
      maxConnectionsPerAddress: 1000,
      upgradeRatePerAddress: 200,
      trustedProxies: [],
      reusePort: false,
      logLevel: 'info',
    });
    expect(config).not.toHaveProperty('rabbitmqUrl');
    expect(config.nodeId).toMatch(/^[A-Za-z0-9_.-]{1,64}$/);
  });

  it('treats blank values as unset', () => {
    const config = loadConfig({ PORT: '', REDIS_URL: '  ', JWT_SECRET: '', HEARTBEAT_INTERVAL_MS: ' ' });
    expect(config.port).toBe(8080);
    expect(config.redisUrl).toBeUndefined();
    expect(config.jwt).toBeUndefined();
    expect(config.heartbeatIntervalMs).toBe(5000);
  });

  it('reads explicit values', () => {
    const config = loadConfig({
      PORT: '9001',
      NODE_ID: 'gw-1',
      REDIS_URL: 'redis://127.0.0.1:6379/0',
      HEARTBEAT_INTERVAL_MS: '250',
      LOG_HISTORY_LIMIT: '50',
      MAX_BODY_BYTES: '2048',
      IDLE_TIMEOUT_S: '0',
      RABBITMQ_URL: 'amqp://guest:guest@localhost:5672',
      LOG_LEVEL: 'debug',
      IDEMPOTENCY_TTL_S: '60',
      HISTORY_SIZE: '50',
      HISTORY_TTL_S: '30',
    });
    expect(config).toMatchObject({
      port: 9001,
      nodeId: 'gw-1',
      redisUrl: 'redis://127.0.0.1:6379/0',
      heartbeatIntervalMs: 250,
      logHistoryLimit: 50,
      maxBodyBytes: 2048,
      idleTimeoutS: 0,
      rabbitmq: { url: 'amqp://guest:guest@localhost:5672' },
      logLevel: 'debug',
      idempotencyTtlS: 60,
      historySize: 50,
      historyTtlS: 30,
    });
  });

  it('accepts rediss:// URLs', () => {
    expect(loadConfig({ REDIS_URL: 'rediss://user:pw@redis.example.com:6380' }).redisUrl).toBe('rediss://user:pw@redis.example.com:6380');
  });

  it('splits and trims comma-separated lists, dropping empty items', () => {
    const config = loadConfig({ ALLOWED_ORIGINS: ' https://a.example.com , http://localhost:3000,, ', INGEST_API_KEYS: ' one ,two,' });
    expect(config.allowedOrigins).toEqual(['https://a.example.com', 'http://localhost:3000']);
    expect(config.ingestApiKeys).toEqual(['one', 'two']);
  });

  it("treats '*' in ALLOWED_ORIGINS as an open list outside production", () => {
    expect(loadConfig({ ALLOWED_ORIGINS: '*' }).allowedOrigins).toEqual([]);
  });
});

describe('loadConfig invalid values', () => {
  const cases: [string, string][] = [
    ['PORT', 'eighty'],
    ['PORT', '65536'],
    ['PORT', '-1'],
    ['PORT', '80.5'],
    ['HEARTBEAT_INTERVAL_MS', '0'],
    ['HEARTBEAT_INTERVAL_MS', '99'],
    ['HEARTBEAT_INTERVAL_MS', 'fast'],
    ['LOG_HISTORY_LIMIT', '0'],
    ['LOG_HISTORY_LIMIT', '1000001'],
    ['MAX_BODY_BYTES', '1023'],
    ['MAX_BODY_BYTES', String(64 * 1024 * 1024 + 1)],
    ['MAX_CONNECTIONS', '0'],
    ['IDEMPOTENCY_TTL_S', '0'],
    ['IDEMPOTENCY_TTL_S', String(30 * 86_400 + 1)],
    ['HISTORY_SIZE', '0'],
    ['HISTORY_SIZE', '1000001'],
    ['HISTORY_SIZE', 'many'],
    ['HISTORY_TTL_S', '0'],
    ['HISTORY_TTL_S', String(7 * 86_400 + 1)],
    ['IDLE_TIMEOUT_S', '5'],
    ['IDLE_TIMEOUT_S', '961'],
    ['NODE_ENV', 'staging'],
    ['NODE_ID', 'has space'],
    ['NODE_ID', 'x'.repeat(65)],
    ['LOG_LEVEL', 'verbose'],
    ['AUTH_REQUIRED', 'maybe'],
    ['REDIS_URL', 'localhost:6379'],
    ['REDIS_URL', 'http://redis:6379'],
    ['RABBITMQ_URL', 'http://rabbit:5672'],
    ['ALLOWED_ORIGINS', 'app.example.com'],
    ['ALLOWED_ORIGINS', 'https://app.example.com/path'],
    ['ALLOWED_ORIGINS', 'https://ok.example.com,ftp://bad.example.com'],
    ['JWT_PUBLIC_KEY', 'not-a-pem-key'],
    ['WS_RATE_LIMIT_PER_S', '0'],
    ['MAX_CONNECTIONS_PER_ADDRESS', '-1'],
    ['MAX_CONNECTIONS_PER_ADDRESS', 'many'],
    ['UPGRADE_RATE_PER_ADDRESS', '1.5'],
    ['UPGRADE_BURST_PER_ADDRESS', '-1'],
    ['LOG_FORMAT', 'yaml'],
    ['TRUSTED_PROXIES', 'proxy.example.com'],
    ['TRUSTED_PROXIES', '10.0.0.0/33'],
    ['TRUSTED_PROXIES', '10.0.0.1,::1/129'],
    ['TRUSTED_PROXIES', '10.0.0.0/8/8'],
    ['REUSE_PORT', 'sometimes'],
    ['REDIS_CLUSTER_NODES', 'redis-1'],
    ['REDIS_CLUSTER_NODES', 'redis-1:6379,redis-2'],
    ['REDIS_CLUSTER_NODES', 'redis://redis-1:6379'],
    ['REDIS_CLUSTER_NODES', 'redis-1:0'],
    ['REDIS_CLUSTER_NODES', 'redis-1:65536'],
    ['REDIS_CLUSTER_NODES', '::1:6379'],
    ['INGEST_PARTITIONS', '0'],
    ['INGEST_PARTITIONS', '1025'],
  ];

  it.each(cases)('%s=%j throws a ConfigError naming the variable', (variable, value) => {
    expectRefused({ [variable]: value }, variable);
  });

  it('quotes the offending value for integers', () => {
    const error = expectRefused({ PORT: '70000' }, 'PORT');
    expect(error.message).toBe('PORT: expected an integer from 0 to 65535, got "70000"');
  });

  it('accepts the integer bounds themselves', () => {
    const config = loadConfig({ PORT: '0', HEARTBEAT_INTERVAL_MS: '100', MAX_BODY_BYTES: '1024', IDLE_TIMEOUT_S: '8' });
    expect(config.port).toBe(0);
    expect(config.heartbeatIntervalMs).toBe(100);
    expect(config.maxBodyBytes).toBe(1024);
    expect(config.idleTimeoutS).toBe(8);
    expect(loadConfig({ PORT: '65535', IDLE_TIMEOUT_S: '960' })).toMatchObject({ port: 65535, idleTimeoutS: 960 });
  });

  it('reads REDIS_CLUSTER_NODES as seed nodes (names, IPv4, bracketed IPv6), with 16 ingest partitions by default', () => {
    const config = loadConfig({ REDIS_CLUSTER_NODES: ' redis-1:6379, 10.0.0.2:7000 ,[::1]:7001' });
    expect(config.redisClusterNodes).toEqual([
      { host: 'redis-1', port: 6379 },
      { host: '10.0.0.2', port: 7000 },
      { host: '::1', port: 7001 },
    ]);
    expect(config.redisUrl).toBeUndefined();
    expect(config.ingestPartitions).toBe(16);
    expect(loadConfig({ REDIS_CLUSTER_NODES: 'redis-1:6379', INGEST_PARTITIONS: '32' }).ingestPartitions).toBe(32);
    expect(loadConfig({ REDIS_CLUSTER_NODES: '  ' }).redisClusterNodes).toBeUndefined();
  });

  it('refuses REDIS_URL and REDIS_CLUSTER_NODES together, in one line', () => {
    expectRefused({ REDIS_URL: 'redis://127.0.0.1:6379', REDIS_CLUSTER_NODES: 'redis-1:6379' }, 'REDIS_CLUSTER_NODES', /either REDIS_URL/);
  });
});

describe('every problem at once', () => {
  it('names every bad variable, in one ConfigError, first problem first', () => {
    const error = configError({ PORT: 'eighty', HEARTBEAT_INTERVAL_MS: '5', REDIS_URL: 'localhost', AUTH_REQUIRED: 'true' });
    expect(error.problems.map((p) => p.variable)).toEqual(['PORT', 'REDIS_URL', 'HEARTBEAT_INTERVAL_MS', 'AUTH_REQUIRED']);
    expect(error.variable).toBe('PORT');
    expect(error.message).toBe(
      'PORT: expected an integer from 0 to 65535, got "eighty"; REDIS_URL: expected a redis:// or rediss:// URL; ' +
        'HEARTBEAT_INTERVAL_MS: expected an integer from 100 to 3600000, got "5"; ' +
        'AUTH_REQUIRED: authentication is required but neither JWT_SECRET nor JWT_PUBLIC_KEY is set',
    );
  });

  it('lists every production refusal together', () => {
    const error = configError({ NODE_ENV: 'production', JWT_SECRET: 'secret' });
    expect(error.problems.map((p) => p.variable)).toEqual(['JWT_SECRET', 'ALLOWED_ORIGINS', 'INGEST_API_KEYS']);
  });
});

describe('role requirements', () => {
  it.each(['gateway', 'worker', 'bridge'])('the %s role needs REDIS_URL', (role) => {
    expect(loadConfig({}).redisUrl).toBeUndefined(); // no role: nothing required
    expect(() => loadConfig({}, { role })).toThrow(new RegExp(`^REDIS_URL: required for the ${role} role`));
  });

  it('the bridge role needs RABBITMQ_URL too, and both are named at once', () => {
    try {
      loadConfig({}, { role: 'bridge' });
      expect.unreachable();
    } catch (err) {
      expect((err as ConfigError).problems.map((p) => p.variable)).toEqual(['REDIS_URL', 'RABBITMQ_URL']);
    }
    expect(loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379', RABBITMQ_URL: 'amqp://127.0.0.1' }, { role: 'bridge' }).rabbitmq?.url).toBe('amqp://127.0.0.1');
  });

  it.each(['gateway', 'worker', 'bridge'])('the %s role runs on REDIS_CLUSTER_NODES instead of REDIS_URL', (role) => {
    const env = { REDIS_CLUSTER_NODES: 'redis-1:6379', RABBITMQ_URL: 'amqp://127.0.0.1' };
    expect(loadConfig(env, { role }).redisClusterNodes).toEqual([{ host: 'redis-1', port: 6379 }]);
  });

  it('the all role runs without Redis', () => {
    expect(loadConfig({}, { role: 'all' }).redisUrl).toBeUndefined();
  });
});

describe('per-address limits and the listening port', () => {
  it('reads the limits, 0 turning them off, and the trusted proxies', () => {
    const config = loadConfig({ MAX_CONNECTIONS_PER_ADDRESS: '0', UPGRADE_RATE_PER_ADDRESS: '5', TRUSTED_PROXIES: '10.0.0.0/8, 127.0.0.1,::1,fd00::/8', REUSE_PORT: 'true' });
    expect(config).toMatchObject({
      maxConnectionsPerAddress: 0,
      upgradeRatePerAddress: 5,
      trustedProxies: ['10.0.0.0/8', '127.0.0.1', '::1', 'fd00::/8'],
      reusePort: true,
    });
  });

  it('absorbs a burst of as many upgrades as an address may hold connections by default', () => {
    const config = loadConfig({});
    expect(config.upgradeBurstPerAddress).toBe(config.maxConnectionsPerAddress);
    expect(loadConfig({ UPGRADE_BURST_PER_ADDRESS: '0' }).upgradeBurstPerAddress).toBe(0);
  });
});

describe('log format', () => {
  it('is auto unless set to pretty or json', () => {
    expect(loadConfig({}).logFormat).toBe('auto');
    expect(loadConfig({ LOG_FORMAT: 'json' }).logFormat).toBe('json');
    expect(loadConfig({ LOG_FORMAT: 'pretty' }).logFormat).toBe('pretty');
  });
});

describe('loadConfig in production', () => {
  it('starts with a strong secret, a closed origin list and producer keys', () => {
    const config = loadConfig(production());
    expect(config.production).toBe(true);
    expect(config.env).toBe('production');
    expect(config.authRequired).toBe(true);
    expect(config.allowedOrigins).toEqual(['https://app.example.com']);
    expect(config.ingestApiKeys).toEqual([PRODUCER_KEY]);
  });

  it.each(['secret', 'changeme', 'switchboard-dev-secret'])('refuses the well-known secret %j', (secret) => {
    expectRefused(production({ JWT_SECRET: secret }), 'JWT_SECRET', /refused in production/);
  });

  it('refuses a secret shorter than 32 characters', () => {
    expectRefused(production({ JWT_SECRET: STRONG_SECRET.slice(0, 31) }), 'JWT_SECRET', /refused in production/);
  });

  it('accepts short secrets outside production', () => {
    expect(loadConfig({ JWT_SECRET: 'secret' }).jwt?.key).toBe('secret');
  });

  it.each([
    ['unset', undefined],
    ['blank', ''],
    ["'*'", '*'],
    ["'*' among others", 'https://app.example.com,*'],
  ])('refuses an open origin list (%s)', (_name, origins) => {
    expectRefused(production({ ALLOWED_ORIGINS: origins }), 'ALLOWED_ORIGINS', /open origin list/);
  });

  it('refuses anonymous ingest', () => {
    expectRefused(production({ INGEST_API_KEYS: undefined }), 'INGEST_API_KEYS', /anonymous ingest/);
  });

  it('refuses producer keys shorter than 16 characters', () => {
    expectRefused(production({ INGEST_API_KEYS: 'short' }), 'INGEST_API_KEYS', /shorter than 16/);
    expectRefused(production({ INGEST_API_KEYS: `${PRODUCER_KEY},fifteen-chars-x` }), 'INGEST_API_KEYS', /shorter than 16/);
  });

  it('requires authentication by default, so a missing JWT key is refused', () => {
    expectRefused(production({ JWT_SECRET: undefined }), 'AUTH_REQUIRED', /JWT_SECRET/);
  });

  it('lets production turn authentication off explicitly', () => {
    expect(loadConfig(production({ AUTH_REQUIRED: 'false' })).authRequired).toBe(false);
  });

  it('accepts a public key instead of a secret', () => {
    const config = loadConfig(production({ JWT_SECRET: undefined, JWT_PUBLIC_KEY: rsaPublicPem() }));
    expect(config.jwt?.algorithms).toEqual(['RS256', 'ES256']);
  });
});

describe('AUTH_REQUIRED', () => {
  it.each(['development', 'test'])('defaults to false in %s', (env) => {
    expect(loadConfig({ NODE_ENV: env }).authRequired).toBe(false);
    expect(loadConfig({ NODE_ENV: env, JWT_SECRET: 'dev' }).authRequired).toBe(false);
  });

  it.each([
    ['true', true],
    ['1', true],
    ['yes', true],
    ['false', false],
    ['0', false],
    ['no', false],
  ])('reads %j as %s', (value, expected) => {
    expect(loadConfig({ AUTH_REQUIRED: value, JWT_SECRET: 'dev' }).authRequired).toBe(expected);
  });

  it('refuses AUTH_REQUIRED=true without a key to verify tokens', () => {
    expectRefused({ AUTH_REQUIRED: 'true' }, 'AUTH_REQUIRED');
  });
});

describe('JWT keys', () => {
  it('JWT_SECRET selects HS256 only, with issuer and audience', () => {
    const config = loadConfig({ JWT_SECRET: 'dev-only', JWT_ISSUER: 'https://auth.example.com', JWT_AUDIENCE: 'switchboard' });
    expect(config.jwt).toEqual({
      key: 'dev-only',
      algorithms: ['HS256'],
      issuer: 'https://auth.example.com',
      audience: 'switchboard',
    });
  });

  it('leaves issuer and audience undefined when unset', () => {
    expect(loadConfig({ JWT_SECRET: 'dev-only' }).jwt).toMatchObject({ issuer: undefined, audience: undefined });
  });

  it('JWT_PUBLIC_KEY selects RS256/ES256 and never HS256 or none', () => {
    const pem = rsaPublicPem();
    const jwt = loadConfig({ JWT_PUBLIC_KEY: pem }).jwt;
    expect(jwt?.key).toBe(pem);
    expect(jwt?.algorithms).toEqual(['RS256', 'ES256']);
    expect(jwt?.algorithms).not.toContain('HS256');
  });

  it('unescapes a one-line PEM with literal \\n into a usable key', () => {
    const pem = rsaPublicPem();
    const oneLine = pem.replace(/\n/g, '\\n');
    expect(oneLine).not.toContain('\n');
    const key = loadConfig({ JWT_PUBLIC_KEY: oneLine }).jwt?.key;
    expect(key).toBe(pem);
    expect(key).not.toContain('\\n');
    expect(createPublicKey(key as string).asymmetricKeyType).toBe('rsa');
  });

  it('refuses JWT_SECRET and JWT_PUBLIC_KEY together', () => {
    expectRefused({ JWT_SECRET: 'dev-only', JWT_PUBLIC_KEY: rsaPublicPem() }, 'JWT_PUBLIC_KEY', /not both/);
  });
});

describe('edge cases of environment values', () => {
  it('keeps the error on one line for values with newlines', () => {
    expect(() => loadConfig({ PORT: '80\n80' })).toThrow(ConfigError);
    try {
      loadConfig({ PORT: '80\n80' });
    } catch (err) {
      expect((err as Error).message.split('\n')).toHaveLength(1);
      expect((err as Error).message).toBe('PORT: expected an integer from 0 to 65535, got "80\\n80"');
    }
  });

  it('takes decimal integers only', () => {
    for (const value of ['0x1F90', '1e3', '0b101', '12.0', '-1']) {
      expect(() => loadConfig({ PORT: value }), value).toThrow(/^PORT: expected an integer/);
    }
    expect(loadConfig({ PORT: ' 9090 ' }).port).toBe(9090);
  });

  it('treats blank NODE_ID, AUTH_REQUIRED and HOST as unset', () => {
    const config = loadConfig({ NODE_ID: '', AUTH_REQUIRED: ' ', HOST: '' });
    expect(config.nodeId.length).toBeGreaterThan(0);
    expect(config.authRequired).toBe(false);
    expect(config.host).toBe('0.0.0.0');
    expect(loadConfig({ AUTH_REQUIRED: 'YES', JWT_SECRET: 's' }).authRequired).toBe(true);
  });
});

describe('log stream, availability and RabbitMQ settings', () => {
  it('defaults the intervals and leaves the bridge off without RABBITMQ_URL', () => {
    expect(loadConfig({})).toMatchObject({ logMetricsIntervalMs: 5000, availabilityPingIntervalMs: 30_000, rabbitmq: undefined });
  });

  it('fills the bridge defaults once RABBITMQ_URL is set', () => {
    expect(loadConfig({ RABBITMQ_URL: 'amqp://guest:guest@127.0.0.1:5672' }).rabbitmq).toEqual({
      url: 'amqp://guest:guest@127.0.0.1:5672',
      exchange: 'tour_booking_events',
      routingKey: 'tour.availability.low',
      queue: 'switchboard.availability',
      deadLetterExchange: undefined,
      prefetch: 32,
    });
  });

  it('reads explicit bridge settings, wildcards allowed in the routing key only', () => {
    const config = loadConfig({
      RABBITMQ_URL: 'amqps://broker.example:5671/vhost',
      RABBITMQ_EXCHANGE: 'events',
      RABBITMQ_ROUTING_KEY: 'tour.#',
      RABBITMQ_QUEUE: 'sb.q-1',
      RABBITMQ_DEAD_LETTER_EXCHANGE: 'dead',
      RABBITMQ_PREFETCH: '5',
    });
    expect(config.rabbitmq).toMatchObject({ exchange: 'events', routingKey: 'tour.#', queue: 'sb.q-1', deadLetterExchange: 'dead', prefetch: 5 });
    expectRefused({ RABBITMQ_QUEUE: 'q#' }, 'RABBITMQ_QUEUE', /letters, digits/);
    expectRefused({ RABBITMQ_URL: 'http://broker' }, 'RABBITMQ_URL', /amqp/);
    expectRefused({ LOG_METRICS_INTERVAL_MS: '10' }, 'LOG_METRICS_INTERVAL_MS', /from 100/);
  });
});
