import { describe, expect, it } from 'vitest';
import { JsonText, MemoryEngine } from '@switchboard/engine';
import { bodyText } from '../src/api/server-api.js';

describe('server API bodies', () => {
  it('writes a JsonText field as it is, and every other field as JSON', () => {
    const members = new JsonText('[{"clientId":"a","userId":null,"info":{"x":"\\u00e9"}}]');
    const text = bodyText({ members, next: null, skipped: undefined, occupancy: { connections: 1, users: 1 } });
    // The stored text verbatim (its escape kept: it was not parsed and written again).
    expect(text).toBe('{"members":[{"clientId":"a","userId":null,"info":{"x":"\\u00e9"}}],"next":null,"occupancy":{"connections":1,"users":1}}');
    expect(JSON.parse(text)).toEqual({ members: [{ clientId: 'a', userId: null, info: { x: 'é' } }], next: null, occupancy: { connections: 1, users: 1 } });
  });

  it('serializes any other body as JSON.stringify does', () => {
    for (const body of [{ a: 1, b: [1, 2] }, [1, 'x'], 'text', null, { nested: { members: new JsonText('[1]') } }]) {
      expect(bodyText(body)).toBe(JSON.stringify(body));
    }
    expect(JSON.stringify({ nested: new JsonText('[1,{"a":2}]') })).toBe('{"nested":[1,{"a":2}]}');
  });

  it("answers a presence page's members as the engine stored them", async () => {
    const engine = new MemoryEngine();
    await engine.presence.refresh([{ channel: 'ch', member: { clientId: 'c-1', userId: 'u', info: { name: 'Ann' } } }], 30, 'gw');
    const page = await engine.presence.members('ch', 10);
    expect(bodyText({ members: page.list, next: page.next })).toBe('{"members":[{"clientId":"c-1","userId":"u","info":{"name":"Ann"}}],"next":null}');
    await engine.close();
  });
});
