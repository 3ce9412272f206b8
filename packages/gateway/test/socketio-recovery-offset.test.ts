import { describe, expect, it } from 'vitest';
import { formatRecoveryOffset, parseRecoveryOffset, partOffset } from '../src/socketio/recovery-offset.js';

describe('Socket.IO recovery offsets', () => {
  it('carry the epoch and the offset, and read back', () => {
    expect(formatRecoveryOffset({ epoch: 'Ab-9_x0', offset: 42 })).toBe('Ab-9_x0:42');
    expect(parseRecoveryOffset('Ab-9_x0:42')).toEqual({ epoch: 'Ab-9_x0', offset: 42 });
    expect(parseRecoveryOffset('e:0')).toEqual({ epoch: 'e', offset: 0 });
  });

  it('name a part of a frame of several broadcasts; the last part is the whole frame', () => {
    expect(formatRecoveryOffset({ epoch: 'e', offset: 7, part: 1 })).toBe('e:7.1');
    expect(parseRecoveryOffset('e:7.1')).toEqual({ epoch: 'e', offset: 7, part: 1 });
    expect(parseRecoveryOffset('e:7.0')).toEqual({ epoch: 'e', offset: 7, part: 0 });
    expect([0, 1, 2].map((i) => partOffset({ epoch: 'e', offset: 7 }, i, 3))).toEqual(['e:7.0', 'e:7.1', 'e:7']);
    expect(partOffset({ epoch: 'e', offset: 7 }, 0, 1)).toBe('e:7');
  });

  it.each([
    ['not a string', 42],
    ['undefined', undefined],
    ['an object', { epoch: 'e', offset: 1 }],
    ['empty', ''],
    ['no epoch', ':5'],
    ['no offset', 'e:'],
    ['a negative offset', 'e:-1'],
    ['a part of no frame', 'e:0.1'],
    ['a part past 2 digits', 'e:1.100'],
    ['an empty part', 'e:1.'],
    ['a negative part', 'e:1.-1'],
    ['an offset past 15 digits', `e:${'9'.repeat(16)}`],
    ['two separators', 'a:b:1'],
    ['an epoch over 64 characters', `${'e'.repeat(65)}:1`],
    ["Socket.IO's own offset format", 'OaFg5Jx'],
  ])('refuses %s', (_what, value) => {
    expect(parseRecoveryOffset(value)).toBeUndefined();
  });
});
