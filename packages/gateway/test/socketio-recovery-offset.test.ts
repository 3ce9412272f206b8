import { describe, expect, it } from 'vitest';
import { formatRecoveryOffset, parseRecoveryOffset } from '../src/socketio/recovery-offset.js';

describe('Socket.IO recovery offsets', () => {
  it('carry the epoch and the offset, and read back', () => {
    expect(formatRecoveryOffset({ epoch: 'Ab-9_x0', offset: 42 })).toBe('Ab-9_x0:42');
    expect(parseRecoveryOffset('Ab-9_x0:42')).toEqual({ epoch: 'Ab-9_x0', offset: 42 });
    expect(parseRecoveryOffset('e:0')).toEqual({ epoch: 'e', offset: 0 });
  });

  it.each([
    ['not a string', 42],
    ['undefined', undefined],
    ['an object', { epoch: 'e', offset: 1 }],
    ['empty', ''],
    ['no epoch', ':5'],
    ['no offset', 'e:'],
    ['a negative offset', 'e:-1'],
    ['a fraction', 'e:1.5'],
    ['an offset past 15 digits', `e:${'9'.repeat(16)}`],
    ['two separators', 'a:b:1'],
    ['an epoch over 64 characters', `${'e'.repeat(65)}:1`],
    ["Socket.IO's own offset format", 'OaFg5Jx'],
  ])('refuses %s', (_what, value) => {
    expect(parseRecoveryOffset(value)).toBeUndefined();
  });
});
