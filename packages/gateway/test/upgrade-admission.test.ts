import { afterEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import uWS from 'uWebSockets.js';
import WebSocket from 'ws';
import type { GatewayContext } from '../src/context.js';
import { OriginPolicy } from '../src/http/cors.js';
import { createGatewayMetrics } from '../src/metrics.js';
import { AddressLimits } from '../src/ws/address-limits.js';
import { admitUpgrade } from '../src/ws/admission.js';
import { ClientAddresses, limitKey } from '../src/ws/client-address.js';
import { ConnectionRegistry, type SocketData } from '../src/ws/connections.js';

describe('AddressLimits', () => {
  it('allows `ratePerS` upgrades per address per second, refuses the next with Retry-After, and frees up at the rate', () => {
    let t = 0;
    const limits = new AddressLimits(0, 2, 0, () => t);
    expect(limits.spendUpgrade('198.51.100.1')).toBeUndefined();
    expect(limits.spendUpgrade('198.51.100.1')).toBeUndefined();
    expect(limits.spendUpgrade('198.51.100.1')).toEqual({ reason: 'rate_limited', message: expect.stringMatching(/at most 2 per second/) as unknown, retryAfterS: 1 });
    // Another address has its own budget.
    expect(limits.spendUpgrade('198.51.100.2')).toBeUndefined();
    t += 499;
    expect(limits.spendUpgrade('198.51.100.1')?.reason).toBe('rate_limited');
    // A second later the budget is back, and used up again the same way.
    t += 1_000;
    expect(limits.spendUpgrade('198.51.100.1')).toBeUndefined();
    expect(limits.spendUpgrade('198.51.100.1')).toBeUndefined();
    expect(limits.spendUpgrade('198.51.100.1')?.reason).toBe('rate_limited');
  });

  it('caps open connections per address and forgets an address once its last connection closed', () => {
    const limits = new AddressLimits(2, 0);
    limits.opened('a');
    expect(limits.capacityFor('a')).toBeUndefined();
    limits.opened('a');
    expect(limits.capacityFor('a')).toMatchObject({ reason: 'per_address', retryAfterS: undefined });
    expect(limits.capacityFor('b')).toBeUndefined();
    limits.closed('a');
    expect(limits.capacityFor('a')).toBeUndefined();
    limits.closed('a');
    expect(limits.connectionsOf('a')).toBe(0);
    limits.closed('a'); // a stray close never goes negative
    expect(limits.connectionsOf('a')).toBe(0);
  });

  it('turns either limit off with 0', () => {
    const limits = new AddressLimits(0, 0);
    for (let i = 0; i < 100; i++) {
      expect(limits.spendUpgrade('a')).toBeUndefined();
      limits.opened('a');
    }
    expect(limits.capacityFor('a')).toBeUndefined();
  });
});

describe('ClientAddresses: who the client is', () => {
  it("ignores X-Forwarded-For from a peer that is not a trusted proxy: a client could write anything there", () => {
    expect(new ClientAddresses([]).resolve('203.0.113.9', '198.51.100.1')).toBe('203.0.113.9');
    expect(new ClientAddresses(['10.0.0.0/8']).resolve('203.0.113.9', '198.51.100.1')).toBe('203.0.113.9');
  });

  it('reads X-Forwarded-For from the right behind trusted proxies, skipping trusted hops', () => {
    const addresses = new ClientAddresses(['10.0.0.0/8', '192.0.2.7']);
    expect(addresses.resolve('10.1.2.3', '198.51.100.1')).toBe('198.51.100.1');
    // A client cannot hide behind a forged left-most entry: the first untrusted hop from the right wins.
    expect(addresses.resolve('10.1.2.3', '6.6.6.6, 198.51.100.1, 192.0.2.7')).toBe('198.51.100.1');
    expect(addresses.resolve('10.1.2.3', '')).toBe('10.1.2.3');
    // Only trusted hops: the left-most one.
    expect(addresses.resolve('10.1.2.3', '10.9.9.9')).toBe('10.9.9.9');
  });

  it('stops at a malformed hop (the last good one is the answer) and normalizes IPv4-mapped and IPv6 peers', () => {
    const addresses = new ClientAddresses(['127.0.0.1', '::1']);
    expect(addresses.resolve('127.0.0.1', 'not-an-ip, 198.51.100.1')).toBe('198.51.100.1');
    expect(addresses.resolve('127.0.0.1', '198.51.100.1, garbage')).toBe('127.0.0.1');
    expect(addresses.resolve('0000:0000:0000:0000:0000:ffff:7f00:0001', '198.51.100.3')).toBe('198.51.100.3');
    expect(addresses.resolve('0000:0000:0000:0000:0000:0000:0000:0001', '2001:db8::1')).toBe('2001:db8::1');
  });

  it('counts IPv6 clients by their /64 and IPv4 clients by address', () => {
    expect(limitKey('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(limitKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(limitKey('198.51.100.1')).toBe('198.51.100.1');
  });
});

/** Upgrade admission on a real uWS app (port 0) with real WebSocket clients. */
describe('admitUpgrade on a real uWS app', () => {
  const opened: WebSocket[] = [];
  let token: uWS.us_listen_socket | undefined;

  afterEach(() => {
    for (const ws of opened.splice(0)) ws.terminate();
    if (token !== undefined) uWS.us_listen_socket_close(token);
    token = undefined;
  });

  interface Setup {
    maxConnections?: number;
    maxPerAddress?: number;
    ratePerS?: number;
    trustedProxies?: string[];
    draining?: boolean;
  }

  async function gateway(setup: Setup): Promise<{ port: number; registry: Registry; ctx: GatewayContext }> {
    const registry = new Registry();
    const metrics = createGatewayMetrics(registry);
    const addressLimits = new AddressLimits(setup.maxPerAddress ?? 0, setup.ratePerS ?? 0);
    const app = uWS.App();
    const ctx = {
      app,
      config: { maxConnections: setup.maxConnections ?? 100, authRequired: false, jwt: undefined },
      metrics,
      logger: pino({ level: 'silent' }),
      origins: new OriginPolicy([]),
      connections: new ConnectionRegistry(metrics, addressLimits),
      clientAddresses: new ClientAddresses(setup.trustedProxies ?? []),
      addressLimits,
      isDraining: () => setup.draining === true,
    } as unknown as GatewayContext;
    app.ws<SocketData>('/ws/test', {
      upgrade: (res, req, context) => admitUpgrade<SocketData>(ctx, 'test', res, req, context, {}),
      open: (ws) => ctx.connections.add(ws),
      close: (ws, code) => ctx.connections.remove(ws, code),
    });
    token = await new Promise<uWS.us_listen_socket>((resolve, reject) =>
      app.listen('127.0.0.1', 0, (listening) => (listening ? resolve(listening) : reject(new Error('listen failed')))),
    );
    return { port: uWS.us_socket_local_port(token), registry, ctx };
  }

  type Outcome = { open: true } | { open: false; status: number; retryAfter: string | undefined; body: string };

  /** Connects and reports whether the upgrade was accepted, or how it was refused. */
  function connect(port: number, forwardedFor?: string): Promise<Outcome> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws/test`, { headers: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor } });
      opened.push(ws);
      ws.once('open', () => resolve({ open: true }));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ open: false, status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], body }));
      });
      ws.once('error', (err) => reject(err));
    });
  }

  const refused = async (registry: Registry, reason: string) => {
    const found = (await registry.getMetricsAsJSON()).find((m) => m.name === 'switchboard_ws_upgrades_refused_total');
    return found?.values.find((v) => v.labels['reason'] === reason)?.value ?? 0;
  };

  it('refuses upgrades past MAX_CONNECTIONS with 503, and admits again once a connection closed', async () => {
    const { port, registry, ctx } = await gateway({ maxConnections: 2 });
    expect(await connect(port)).toEqual({ open: true });
    expect(await connect(port)).toEqual({ open: true });
    const third = await connect(port);
    expect(third).toMatchObject({ open: false, status: 503 });
    expect(third.open === false && third.body).toMatch(/MAX_CONNECTIONS/);
    expect(await refused(registry, 'capacity')).toBe(1);
    opened[0]?.close();
    await vi.waitFor(() => expect(ctx.connections.total).toBe(1), { timeout: 5_000 });
    expect(await connect(port)).toEqual({ open: true });
  });

  it('refuses a draining node with 503', async () => {
    const { port, registry } = await gateway({ draining: true });
    expect(await connect(port)).toMatchObject({ open: false, status: 503 });
    expect(await refused(registry, 'draining')).toBe(1);
  });

  it('caps connections per client address behind a trusted proxy, by X-Forwarded-For', async () => {
    const { port, registry } = await gateway({ maxPerAddress: 1, trustedProxies: ['127.0.0.1'] });
    expect(await connect(port, '198.51.100.1')).toEqual({ open: true });
    const again = await connect(port, '198.51.100.1');
    expect(again).toMatchObject({ open: false, status: 429, retryAfter: undefined });
    expect(again.open === false && again.body).toMatch(/MAX_CONNECTIONS_PER_ADDRESS/);
    expect(await connect(port, '198.51.100.2')).toEqual({ open: true });
    expect(await refused(registry, 'per_address')).toBe(1);
  });

  it('ignores X-Forwarded-For from an untrusted peer: every connection counts under the peer', async () => {
    const { port } = await gateway({ maxPerAddress: 1 });
    expect(await connect(port, '198.51.100.1')).toEqual({ open: true });
    expect(await connect(port, '198.51.100.2')).toMatchObject({ open: false, status: 429 });
  });

  it('refuses upgrades over the per-address rate with 429 and Retry-After', async () => {
    const { port, registry } = await gateway({ ratePerS: 2, trustedProxies: ['127.0.0.1'] });
    expect(await connect(port, '198.51.100.1')).toEqual({ open: true });
    expect(await connect(port, '198.51.100.1')).toEqual({ open: true });
    expect(await connect(port, '198.51.100.1')).toEqual({ open: false, status: 429, retryAfter: '1', body: expect.stringMatching(/per second/) as unknown });
    expect(await connect(port, '198.51.100.2')).toEqual({ open: true });
    expect(await refused(registry, 'rate_limited')).toBe(1);
  });
});
