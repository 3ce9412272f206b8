import { describe, expect, it } from 'vitest';
import { OriginPolicy, PREFLIGHT_HEADERS } from '../src/http/cors.js';

describe('OriginPolicy', () => {
  describe('with an empty list (open)', () => {
    const policy = new OriginPolicy([]);

    it('is open and allows any origin', () => {
      expect(policy.open).toBe(true);
      expect(policy.allows('https://anything.example.com')).toBe(true);
      expect(policy.allows('http://localhost:5173')).toBe(true);
    });

    it("answers with '*' rather than echoing the origin", () => {
      expect(policy.corsHeaders('https://anything.example.com')).toEqual([
        ['access-control-allow-origin', '*'],
        ['vary', 'Origin'],
      ]);
    });
  });

  describe('with an allow-list', () => {
    const policy = new OriginPolicy(['https://app.example.com', 'http://localhost:3000']);

    it('is not open', () => {
      expect(policy.open).toBe(false);
    });

    it('allows listed origins, case-insensitively', () => {
      expect(policy.allows('https://app.example.com')).toBe(true);
      expect(policy.allows('http://localhost:3000')).toBe(true);
      expect(policy.allows('HTTPS://APP.EXAMPLE.COM')).toBe(true);
    });

    it('refuses other origins, including near misses', () => {
      expect(policy.allows('https://evil.example.com')).toBe(false);
      expect(policy.allows('http://app.example.com')).toBe(false); // other scheme
      expect(policy.allows('https://app.example.com:8443')).toBe(false); // other port
      expect(policy.allows('https://app.example.com.evil.com')).toBe(false);
      expect(policy.allows('http://localhost:3001')).toBe(false);
      expect(policy.allows('null')).toBe(false);
    });

    it('allows requests without an Origin header (non-browser clients)', () => {
      expect(policy.allows('')).toBe(true);
    });

    it('echoes an allowed origin with Vary: Origin', () => {
      expect(policy.corsHeaders('https://app.example.com')).toEqual([
        ['access-control-allow-origin', 'https://app.example.com'],
        ['vary', 'Origin'],
      ]);
    });

    it('sends no CORS headers to a refused origin', () => {
      expect(policy.corsHeaders('https://evil.example.com')).toEqual([]);
    });

    it('sends no CORS headers when there is no Origin', () => {
      expect(policy.corsHeaders('')).toEqual([]);
      expect(new OriginPolicy([]).corsHeaders('')).toEqual([]);
    });
  });

  it('lists the ingest credential headers in the preflight answer', () => {
    const allowHeaders = new Map(PREFLIGHT_HEADERS).get('access-control-allow-headers') ?? '';
    const names = allowHeaders.split(',').map((h) => h.trim().toLowerCase());
    expect(names).toEqual(expect.arrayContaining(['content-type', 'authorization', 'x-api-key']));
    expect(new Map(PREFLIGHT_HEADERS).get('access-control-allow-methods')).toContain('POST');
  });
});
