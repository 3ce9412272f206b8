import type { LogEntry } from '@switchboard/protocol';
import type { NodeProcess } from '../support/node-process.js';
import { TestClient, type Frame } from '../support/ws-client.js';

export type LogEntryFrame = LogEntry;

/** Opens `/ws/logs` on a node; `auth` sends the auth message and waits for its answer. */
export async function logsClient(node: NodeProcess, options: { origin?: string } = {}): Promise<TestClient> {
  return TestClient.connect(node.wsUrl('/ws/logs'), options.origin === undefined ? {} : { origin: options.origin });
}

/** Authenticates and resolves with the answer (`auth_success` or `auth_error`). */
export async function authenticate(client: TestClient, data: { userId: string; appId: string; token?: string }): Promise<Frame> {
  const mark = client.frames.length;
  client.send({ type: 'auth', data });
  return client.next((f) => f.type === 'auth_success' || f.type === 'auth_error', { from: mark, what: `auth answer for ${data.appId}` });
}

/** A connected, authenticated client of `appId`. */
export async function appClient(node: NodeProcess, appId: string, userId = 'tester', token?: string): Promise<TestClient> {
  const client = await logsClient(node);
  const answer = await authenticate(client, { userId, appId, ...(token === undefined ? {} : { token }) });
  if (answer.type !== 'auth_success') throw new Error(`auth refused: ${JSON.stringify(answer)}`);
  return client;
}

/** Every live log entry a client received (from `logs` batches that carry offsets), in order. */
export const liveEntries = (client: TestClient): LogEntryFrame[] =>
  client.frames
    .filter((f) => f.frame.type === 'logs' && typeof f.frame['offset'] === 'number')
    .flatMap((f) => f.frame['payload'] as LogEntryFrame[]);

/** Sends `request_history` and resolves with the answer's entries. */
export async function history(client: TestClient): Promise<LogEntryFrame[]> {
  const mark = client.frames.length;
  client.send({ type: 'request_history' });
  const frame = await client.next((f) => f.type === 'logs' && f['offset'] === undefined, { from: mark, what: 'history' });
  return frame['payload'] as LogEntryFrame[];
}
