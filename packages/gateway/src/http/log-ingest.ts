import { logIngestSchema, newEventId } from '@switchboard/protocol';
import type { IngestRoute } from './ingest.js';

type LogBatch = ReturnType<typeof logIngestSchema.parse>;

/**
 * `POST /logs`: one entry or a batch. Every entry gets its own id now, stored with it and
 * answered: `{"id"}` for one entry, `{"id","ids":[...]}` for a batch (`id` is the first).
 */
export const logIngestRoute: IngestRoute<LogBatch> = {
  path: '/logs',
  kind: 'logs',
  schema: logIngestSchema,
  prepare: ({ items, many }, id) => {
    const ids = items.map((_, index) => (index === 0 ? id : newEventId()));
    return {
      body: items.map((item, index) => ({ id: ids[index], ...item })),
      answer: many ? { id, ids } : { id },
    };
  },
};
