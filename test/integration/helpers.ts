export const PRODUCER_KEY = 'test-producer-key-0001';

/** POST a JSON body (or raw string) to an ingest route. */
export async function post(
  baseUrl: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = { authorization: `Bearer ${PRODUCER_KEY}` },
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = { raw: text };
  }
  return { status: res.status, json };
}

/** Stats without the read time, for comparing figures between nodes. */
export const figures = (stats: unknown): Record<string, unknown> => {
  const { timestamp: _ignored, ...rest } = stats as Record<string, unknown>;
  return rest;
};
