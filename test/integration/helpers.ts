import { connect as tcpConnect } from 'node:net';

export const PRODUCER_KEY = 'test-producer-key-0001';

/** POST a JSON body (or raw string) to an ingest route. */
export async function post(
  baseUrl: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = { authorization: `Bearer ${PRODUCER_KEY}` },
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = { raw: text };
  }
  return { status: res.status, json };
}

/** Stats without the read time, for comparing figures between nodes. */
export const figures = (stats: unknown): Record<string, unknown> => {
  const { timestamp: _ignored, ...rest } = stats as Record<string, unknown>;
  return rest;
};

/**
 * Sends a raw HTTP/1.1 request and resolves with every byte the server sent until it closed the
 * connection (the request should say `Connection: close`): what a client library would hide.
 */
export function rawHttp(port: number, request: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = tcpConnect({ host: '127.0.0.1', port }, () => socket.end(request));
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no close within ${timeoutMs} ms`)));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('error', reject);
    socket.once('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
  });
}
