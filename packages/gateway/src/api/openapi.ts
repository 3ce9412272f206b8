import { COMPONENTS, json } from './openapi-parts.js';
import { API_PREFIX, type ApiRoute } from './server-api.js';

/** The path of the document itself, under API_PREFIX. */
export const OPENAPI_PATH = '/openapi.json';

/** The OpenAPI 3.1 document of `routes` (and of itself), built from the route table the gateway serves. */
export function openApiDocument(routes: ApiRoute[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const operation = (route: Pick<ApiRoute, 'method' | 'path' | 'doc'>): void => {
    const item = (paths[route.path] ??= {});
    item[route.method] = { operationId: operationId(route), ...route.doc };
  };
  for (const route of routes) operation(route);
  operation({
    method: 'get',
    path: OPENAPI_PATH,
    doc: { summary: 'This document', responses: { 200: json('The OpenAPI 3.1 document', { type: 'object' }) } },
  });
  return {
    openapi: '3.1.0',
    info: { title: 'Switchboard server API', version, description: 'Admin-only: every route needs the admin credential.' },
    servers: [{ url: API_PREFIX }],
    security: [{ admin: [] }],
    paths,
    components: COMPONENTS,
  };
}

/** `get /dead-letters/{id}/requeue` → `getDeadLettersIdRequeue`: unique per method and path. */
function operationId({ method, path }: Pick<ApiRoute, 'method' | 'path'>): string {
  const words = path.split(/[^A-Za-z0-9]+/).filter((w) => w !== '');
  return method + words.map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('');
}
