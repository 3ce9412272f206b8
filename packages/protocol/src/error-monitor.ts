import { z } from 'zod';
import { jsonObject, nonEmptyString, tokenString } from './common.js';

/** Socket.IO events of the error monitor (docs/protocol-socketio.md). */
export const ERROR_EVENTS = {
  new: 'error:new',
  service: 'error:service',
  level: 'error:level',
} as const;

export const ERROR_CLIENT_EVENTS = {
  subscribeService: 'subscribe:service',
  unsubscribeService: 'unsubscribe:service',
  subscribeLevel: 'subscribe:level',
  unsubscribeLevel: 'unsubscribe:level',
} as const;

export const serviceRoom = (service: string): string => `service:${service}`;
export const levelRoom = (level: string): string => `level:${level}`;

/** Service and level names as clients pass them to subscribe (room-safe tokens). */
export const serviceName = tokenString(128);
export const levelName = tokenString(32);

const REPORT_FIELDS = new Set(['service', 'error', 'level', 'path', 'method', 'metadata']);
const optionalText = (max: number) => z.string({ error: 'expected a string' }).max(max, { error: `expected at most ${max} characters` }).optional().nullable();

/**
 * `POST /report` body — the original error collector's: `{service, error:{message?, stack?},
 * level, path?, method?, metadata?}`. Unknown extra fields are kept in `metadata`.
 */
export const reportIngestSchema = z
  .looseObject(
    {
      service: serviceName,
      error: z.object(
        {
          message: optionalText(10_000),
          stack: optionalText(100_000),
        },
        { error: 'expected an object, with optional message and stack strings' },
      ),
      level: levelName,
      path: optionalText(2_048),
      method: nonEmptyString(16).optional().nullable(),
      metadata: jsonObject.optional().nullable(),
    },
    { error: 'expected a JSON object' },
  )
  .transform((body) => {
    const extras: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(body)) if (!REPORT_FIELDS.has(key)) extras[key] = value;
    const metadata = { ...extras, ...(body.metadata ?? {}) };
    return {
      service: body.service,
      error: { message: body.error.message ?? null, stack: body.error.stack ?? null },
      level: body.level,
      path: body.path ?? null,
      method: body.method ?? null,
      metadata: Object.keys(metadata).length > 0 ? metadata : null,
    };
  });
export type ReportIngest = z.output<typeof reportIngestSchema>;

/** What clients receive: absent fields are `null`, `createdAt` is ISO-8601. */
export interface ErrorEventRecord {
  id: string;
  service: string;
  message: string | null;
  stack: string | null;
  path: string | null;
  method: string | null;
  level: string;
  metadata: Record<string, unknown> | null;
  createdAt: string;
}

export const errorEventRecord = (id: string, report: ReportIngest, at: number): ErrorEventRecord => ({
  id,
  service: report.service,
  message: report.error.message,
  stack: report.error.stack,
  path: report.path,
  method: report.method,
  level: report.level,
  metadata: report.metadata,
  createdAt: new Date(at).toISOString(),
});
