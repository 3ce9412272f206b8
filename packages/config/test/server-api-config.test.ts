import { describe, expect, it } from 'vitest';
import { loadConfig, type ConfigError } from '../src/index.js';

const PRODUCTION = {
  NODE_ENV: 'production',
  JWT_SECRET: 'a-production-secret-of-at-least-32-chars',
  ALLOWED_ORIGINS: 'https://app.example.com',
  INGEST_API_KEYS: 'a-producer-key-0001',
};

const problems = (env: Record<string, string>): string[] => {
  try {
    loadConfig(env);
    return [];
  } catch (err) {
    return (err as ConfigError).problems.map((p) => `${p.variable}: ${p.reason}`);
  }
};

describe('server API configuration', () => {
  it('is closed by default: no admin token, not anonymous', () => {
    expect(loadConfig({}).serverApi).toEqual({ adminToken: undefined, anonymous: false });
  });

  it('reads ADMIN_TOKEN and ADMIN_API_ANONYMOUS', () => {
    expect(loadConfig({ ADMIN_TOKEN: 'tok', ADMIN_API_ANONYMOUS: 'true' }).serverApi).toEqual({ adminToken: 'tok', anonymous: true });
  });

  it('refuses a bad ADMIN_API_ANONYMOUS', () => {
    expect(problems({ ADMIN_API_ANONYMOUS: 'maybe' })).toEqual(['ADMIN_API_ANONYMOUS: expected true or false']);
  });

  it('refuses an anonymous API and a short admin token in production', () => {
    expect(problems({ ...PRODUCTION, ADMIN_API_ANONYMOUS: 'true' })).toEqual(['ADMIN_API_ANONYMOUS: refused in production: an anonymous server API']);
    expect(problems({ ...PRODUCTION, ADMIN_TOKEN: 'short' })[0]).toMatch(/^ADMIN_TOKEN: refused in production: a short admin token/);
    expect(loadConfig({ ...PRODUCTION, ADMIN_TOKEN: 'x'.repeat(32) }).serverApi.adminToken).toBe('x'.repeat(32));
  });
});

describe('presence configuration', () => {
  it('defaults to a 30 s TTL and a 15 s grace', () => {
    expect(loadConfig({}).presence).toEqual({ enabled: true, ttlS: 30, graceS: 15 });
    expect(loadConfig({}).maxConnectionsPerUser).toBe(0);
    expect(loadConfig({ MAX_CONNECTIONS_PER_USER: '5' }).maxConnectionsPerUser).toBe(5);
    expect(loadConfig({ PRESENCE_TTL_S: '10', PRESENCE_GRACE_S: '0' }).presence).toEqual({ enabled: true, ttlS: 10, graceS: 0 });
  });

  it('switches off with PRESENCE_ENABLED=false, which MAX_CONNECTIONS_PER_USER cannot go with', () => {
    expect(loadConfig({ PRESENCE_ENABLED: 'false' }).presence.enabled).toBe(false);
    expect(problems({ PRESENCE_ENABLED: 'false', MAX_CONNECTIONS_PER_USER: '3' })).toEqual(['MAX_CONNECTIONS_PER_USER: needs presence (PRESENCE_ENABLED=false counts no connection)']);
    expect(problems({ PRESENCE_ENABLED: 'off' })).toEqual(['PRESENCE_ENABLED: expected true or false']);
  });

  it('refuses a TTL under 3 s', () => {
    expect(problems({ PRESENCE_TTL_S: '1' })).toEqual(['PRESENCE_TTL_S: expected an integer from 3 to 3600, got "1"']);
  });
});
