import { describe, expect, it } from 'vitest';
import { IngestKeys } from '../src/auth/ingest-keys.js';

const KEY_A = 'producer-a-0123456789abcdef';
const KEY_B = 'producer-b-fedcba9876543210';

describe('IngestKeys', () => {
  it('allows anonymous ingest when no keys are configured', () => {
    const keys = new IngestKeys([]);
    expect(keys.anonymousAllowed).toBe(true);
    expect(keys.check('', '')).toBe('ok');
    expect(keys.check('Bearer anything', 'whatever')).toBe('ok');
  });

  describe('with keys', () => {
    const keys = new IngestKeys([KEY_A, KEY_B]);

    it('does not allow anonymous ingest', () => {
      expect(keys.anonymousAllowed).toBe(false);
    });

    it("reports no credential as 'missing'", () => {
      expect(keys.check('', '')).toBe('missing');
      expect(keys.check('   ', '   ')).toBe('missing');
      expect(keys.check('Basic dXNlcjpwdw==', '')).toBe('missing');
      expect(keys.check('Bearer', '')).toBe('missing');
    });

    it('accepts every configured key via Authorization: Bearer', () => {
      expect(keys.check(`Bearer ${KEY_A}`, '')).toBe('ok');
      expect(keys.check(`Bearer ${KEY_B}`, '')).toBe('ok');
      expect(keys.check(`bearer   ${KEY_A}  `, '')).toBe('ok');
    });

    it('accepts every configured key via X-API-Key', () => {
      expect(keys.check('', KEY_A)).toBe('ok');
      expect(keys.check('', ` ${KEY_B} `)).toBe('ok');
    });

    it("reports a wrong key as 'invalid'", () => {
      expect(keys.check('Bearer wrong-key', '')).toBe('invalid');
      expect(keys.check('', 'wrong-key')).toBe('invalid');
    });

    it('refuses prefixes, extensions and case changes of a key', () => {
      expect(keys.check('', KEY_A.slice(0, -1))).toBe('invalid');
      expect(keys.check('', `${KEY_A}x`)).toBe('invalid');
      expect(keys.check('', KEY_A.toUpperCase())).toBe('invalid');
      expect(keys.check(`Bearer ${KEY_A}${KEY_B}`, '')).toBe('invalid');
    });

    it('prefers X-API-Key over Authorization when both are present', () => {
      expect(keys.check('Bearer wrong-key', KEY_A)).toBe('ok');
      expect(keys.check(`Bearer ${KEY_A}`, 'wrong-key')).toBe('invalid');
    });
  });
});
