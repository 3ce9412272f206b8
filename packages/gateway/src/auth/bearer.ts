/**
 * `Authorization: Bearer <credential>` → credential (a JWT on WebSocket upgrades, an ingest key
 * on HTTP ingest); undefined for any other scheme or shape. The scheme is case-insensitive.
 */
export function bearerToken(header: string): string | undefined {
  const match = /^Bearer\s+(\S+)$/i.exec(header.trim());
  return match?.[1];
}
