/**
 * Origin policy shared by HTTP (CORS) and WebSocket upgrades. An empty allow-list means any
 * origin (development; refused in production by the config).
 */
export class OriginPolicy {
  private readonly allowed: Set<string>;

  constructor(origins: string[]) {
    this.allowed = new Set(origins.map((o) => o.toLowerCase()));
  }

  get open(): boolean {
    return this.allowed.size === 0;
  }

  /**
   * Requests without an Origin header come from non-browser clients (servers, wscat, curl):
   * they cannot be driven by a hostile page, so they pass.
   */
  allows(origin: string): boolean {
    return origin === '' || this.open || this.allowed.has(origin.toLowerCase());
  }

  /** CORS response headers for an allowed browser origin. */
  corsHeaders(origin: string): [string, string][] {
    if (origin === '' || !this.allows(origin)) return [];
    return [
      ['access-control-allow-origin', this.open ? '*' : origin],
      ['vary', 'Origin'],
    ];
  }
}

export const PREFLIGHT_HEADERS: [string, string][] = [
  ['access-control-allow-methods', 'GET, POST, OPTIONS'],
  ['access-control-allow-headers', 'content-type, authorization, x-api-key, idempotency-key'],
  ['access-control-max-age', '600'],
];
