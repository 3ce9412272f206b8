import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { LongPollingCount } from '../src/socketio/uws-topics.js';

/** An engine.io connection as the count sees it: its transport, `upgrade` and `close`. */
class FakeConnection extends EventEmitter {
  constructor(readonly transport: { name: string }) {
    super();
  }
}

describe('LongPollingCount', () => {
  it('counts connections from their start on long-polling to their upgrade or close, once each', () => {
    const engine = new EventEmitter();
    const count = new LongPollingCount();
    count.watch(engine);
    const polling = [new FakeConnection({ name: 'polling' }), new FakeConnection({ name: 'polling' })];
    const websocket = new FakeConnection({ name: 'websocket' });
    for (const conn of [...polling, websocket]) engine.emit('connection', conn);
    expect(count.count).toBe(2);
    polling[0]!.emit('upgrade');
    expect(count.count).toBe(1);
    polling[0]!.emit('close'); // closing after its upgrade: already uncounted
    websocket.emit('close');
    expect(count.count).toBe(1);
    polling[1]!.emit('close');
    expect(count.count).toBe(0);
  });
});
