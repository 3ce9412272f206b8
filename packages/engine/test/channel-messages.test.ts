import { describe, expect, it } from 'vitest';
import { decodeChannelPayload } from '../src/index.js';
import { decodeChannelMessages, frameWithOffset } from '../src/redis/channel-messages.js';

/** A batch's frames of one channel as workers of earlier releases published them, offsets inside. */
const packed = (epoch: string, first: number, frames: string[]) =>
  `${epoch} ${[first, ...frames.map((f) => Buffer.byteLength(f))].join(',')} ${frames.join('')}`;
/** The same as the batch scripts publish it now (BATCH_CHANNELS_LUA): frames without their offset. */
const bare = (epoch: string, first: number, frames: string[]) =>
  `${epoch} ${first};${frames.map((f) => Buffer.byteLength(f)).join(',')} ${frames.join('')}`;

describe('decodeChannelMessages', () => {
  it('reads a one-frame message as before', () => {
    expect(decodeChannelMessages('e1 7 {"a":1,"b":"x y","offset":7}')).toEqual([{ epoch: 'e1', offset: 7, frame: '{"a":1,"b":"x y","offset":7}' }]);
  });

  it("splits a batch's message into its frames, in offset order, by byte length (multi-byte text included)", () => {
    const frames = ['{"n":"a, b","offset":3}', '{"n":"é – 😀 }{","offset":4}', '{"offset":5}'];
    expect(decodeChannelMessages(packed('e1', 3, frames))).toEqual(frames.map((frame, n) => ({ epoch: 'e1', offset: 3 + n, frame })));
  });

  it('adds its offset to each frame of a bare message (one frame or several), as the last field', () => {
    expect(decodeChannelMessages(bare('e1', 9, ['{"a":1}']))).toEqual([{ epoch: 'e1', offset: 9, frame: '{"a":1,"offset":9}' }]);
    const frames = ['{"n":"a, b"}', '{"n":"é – 😀 }{"}', '{}'];
    expect(decodeChannelMessages(bare('e1', 3, frames))).toEqual([
      { epoch: 'e1', offset: 3, frame: '{"n":"a, b","offset":3}' },
      { epoch: 'e1', offset: 4, frame: '{"n":"é – 😀 }{","offset":4}' },
      { epoch: 'e1', offset: 5, frame: '{"offset":5}' },
    ]);
    expect(frameWithOffset('{"x":[1]}', 12)).toBe('{"x":[1],"offset":12}');
  });

  it('drops a bare message whose lengths do not match its frames, or whose header is not a position', () => {
    const frames = ['{"a":1}', '{"b":2}'];
    expect(decodeChannelMessages(bare('e1', 3, frames).replace(';7,7', ';7,6'))).toBeUndefined();
    expect(decodeChannelMessages(`e1 0;7,7 ${frames.join('')}`)).toBeUndefined();
    expect(decodeChannelMessages(`e1 x;7,7 ${frames.join('')}`)).toBeUndefined();
    expect(decodeChannelMessages(`e1 3;7;7 ${frames.join('')}`)).toBeUndefined();
    expect(decodeChannelMessages(`e1 3; ${frames.join('')}`)).toBeUndefined();
    expect(decodeChannelMessages(`e1 3;7,,7 ${frames.join('')}`)).toBeUndefined();
    expect(decodeChannelMessages(`e1 3;7,8 ${frames.join('')}`)).toBeUndefined();
    expect(decodeChannelMessages(`e1 3;7 ${frames.join('')}`)).toBeUndefined();
    expect(decodeChannelMessages(`e1 3;1,13 ${frames.join('')}`)).toBeUndefined();
  });

  it('drops a message whose lengths do not match its frames, or whose header is not a position', () => {
    const frames = ['{"offset":3}', '{"offset":4}'];
    expect(decodeChannelMessages(packed('e1', 3, frames).replace(',12,', ',11,'))).toBeUndefined();
    expect(decodeChannelMessages(`e1 3,12,13 ${frames.join('')}`)).toBeUndefined();
    expect(decodeChannelMessages(`e1 0,12,12 ${frames.join('')}`)).toBeUndefined();
    expect(decodeChannelMessages(`e1 3,x,12 ${frames.join('')}`)).toBeUndefined();
    expect(decodeChannelMessages('e1 3,6,6 {"a":1}x{"b":1}')).toBeUndefined();
    expect(decodeChannelMessages('hello world')).toBeUndefined();
  });

  it('is dropped by a gateway that only knows one-frame messages (mixed versions never forward it)', () => {
    expect(decodeChannelPayload(packed('e1', 3, ['{"offset":3}', '{"offset":4}']))).toBeUndefined();
    expect(decodeChannelPayload(bare('e1', 3, ['{"a":1}']))).toBeUndefined();
  });
});
