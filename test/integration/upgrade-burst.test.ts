import { connect as tcpConnect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorMonitorClient } from '@switchboard/client';
import { NodeProcess, metricValue } from '../support/node-process.js';
import { waitFor } from '../support/wait.js';

/**
 * The per-address upgrade limit's burst and its `Retry-After`, against real `switchboard all`
 * processes: a burst over the rate is let in at once, what is past it is refused with
 * `Retry-After`, and the SDK's Socket.IO client waits that long instead of hammering.
 */
const nodes: NodeProcess[] = [];
const trusted = { TRUSTED_PROXIES: '127.0.0.1', LOG_LEVEL: 'warn' };
let bursty: NodeProcess;
let strict: NodeProcess;

beforeAll(async () => {
  [bursty, strict] = await Promise.all([
    NodeProcess.start('all', { ...trusted, MAX_CONNECTIONS_PER_ADDRESS: '0', UPGRADE_RATE_PER_ADDRESS: '2', UPGRADE_BURST_PER_ADDRESS: '6' }),
    NodeProcess.start('all', { ...trusted, MAX_CONNECTIONS_PER_ADDRESS: '0', UPGRADE_RATE_PER_ADDRESS: '1', UPGRADE_BURST_PER_ADDRESS: '0' }),
  ]);
  nodes.push(bursty, strict);
});

afterAll(async () => {
  await Promise.all(nodes.map((n) => n.stop('SIGKILL')));
});

/** A raw upgrade request to /ws/analytics, so every answer's status, Retry-After and body can be read. */
function rawUpgrade(node: NodeProcess, client: string): Promise<{ status: number; retryAfter: string | null; body: string }> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: '127.0.0.1', port: node.port }, () =>
      socket.write(
        `GET /ws/analytics HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n` +
          `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX-Forwarded-For: ${client}\r\n\r\n`,
      ),
    );
    let text = '';
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (text.startsWith('HTTP/1.1 101')) socket.destroy(); // accepted: the upgrade stays open otherwise
    });
    socket.once('close', () => {
      const head = text.split('\r\n\r\n')[0] ?? '';
      resolve({ status: Number(head.split(' ')[1]), retryAfter: /\r\nretry-after: (\d+)/i.exec(head)?.[1] ?? null, body: text.slice(head.length + 4) });
    });
  });
}

const socketIoRefusals = async (node: NodeProcess) =>
  metricValue(await node.metrics(), 'switchboard_ws_upgrades_refused_total{endpoint="socket.io",reason="rate_limited"}') ?? 0;

describe('per-address upgrade burst', () => {
  it('lets the rate plus the burst in at once, then refuses with 429 and Retry-After', async () => {
    const answers = await Promise.all(Array.from({ length: 14 }, () => rawUpgrade(bursty, '198.51.100.9')));
    const admitted = answers.filter((a) => a.status === 101).length;
    // A bucket of 2 + 6 tokens; refilling at 2 per second while the 14 arrive may add one or two.
    expect(admitted).toBeGreaterThanOrEqual(8);
    expect(admitted).toBeLessThanOrEqual(10);
    const limited = answers.filter((a) => a.status === 429);
    expect(limited).toHaveLength(14 - admitted);
    for (const a of limited) {
      expect(a.body).toContain('at most 2 per second after a burst of 6');
      // The next token is at most half a second away: Retry-After is that, rounded up.
      expect(a.retryAfter).toBe('1');
    }
    // Another address behind the same trusted proxy has its own burst.
    expect((await rawUpgrade(bursty, '198.51.100.10')).status).toBe(101);
  });

  it("the SDK's Socket.IO client waits out Retry-After on a refused polling handshake instead of retrying at its own pace", async () => {
    // Spend this second's one upgrade, so the client's first handshake is refused.
    const spent = await rawUpgrade(strict, '127.0.0.1');
    expect(spent.status).toBe(101);
    const before = await socketIoRefusals(strict);
    const client = new ErrorMonitorClient({ url: strict.url, reconnect: { initialDelayMs: 20, maxDelayMs: 100 }, socketOptions: { transports: ['polling'] } });
    client.on('error', () => undefined);
    try {
      await waitFor(() => client.state === 'open', { timeoutMs: 20_000, what: 'the client connected' });
      // At its own pace (20-100 ms) it would have been refused about ten times within the second.
      expect((await socketIoRefusals(strict)) - before).toBeLessThanOrEqual(2);
      expect((await socketIoRefusals(strict)) - before).toBeGreaterThanOrEqual(1);
    } finally {
      client.close();
    }
  });
});
