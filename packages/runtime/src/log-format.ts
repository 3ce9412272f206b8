/** How log lines are written: `pretty` for a person at a terminal, `json` for collectors. */
export type LogFormat = 'auto' | 'pretty' | 'json';

/** `auto` is pretty only when stdout is a terminal: piped or redirected output stays JSON. */
export function resolveLogFormat(format: LogFormat, stdoutIsTerminal: boolean): 'pretty' | 'json' {
  if (format === 'auto') return stdoutIsTerminal ? 'pretty' : 'json';
  return format;
}

const LEVELS: Record<number, { name: string; color: string }> = {
  10: { name: 'TRACE', color: '90' },
  20: { name: 'DEBUG', color: '36' },
  30: { name: 'INFO', color: '32' },
  40: { name: 'WARN', color: '33' },
  50: { name: 'ERROR', color: '31' },
  60: { name: 'FATAL', color: '35' },
};
/** Fields every line carries in its own place, or that say nothing to a reader. */
const SHOWN_APART = new Set(['level', 'time', 'msg', 'role', 'node', 'pid', 'hostname', 'err']);

const paint = (color: boolean, code: string, text: string): string => (color ? `\u001b[${code}m${text}\u001b[0m` : text);

const fieldValue = (value: unknown): string => {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  return JSON.stringify(value) ?? String(value);
};

/**
 * One pino JSON line as a line a person reads: time, level, role, message, then the other
 * fields as key=value (an error's message and stack on the lines below). A line that is not
 * pino's JSON is passed through as it is.
 */
export function prettyLogLine(line: string, color = false): string {
  let entry: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(line);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return line.trimEnd();
    entry = parsed as Record<string, unknown>;
  } catch {
    return line.trimEnd();
  }
  const time = typeof entry['time'] === 'number' ? new Date(entry['time']).toISOString().slice(11, 23) : '';
  const level = LEVELS[Number(entry['level'])] ?? { name: String(entry['level']), color: '0' };
  const role = typeof entry['role'] === 'string' ? entry['role'] : '';
  const fields = Object.entries(entry)
    .filter(([key, value]) => !SHOWN_APART.has(key) && value !== undefined)
    .map(([key, value]) => `${paint(color, '2', `${key}=`)}${fieldValue(value)}`);
  const msg = typeof entry['msg'] === 'string' ? entry['msg'] : entry['msg'] === undefined ? '' : fieldValue(entry['msg']);
  const head = [time, paint(color, level.color, level.name.padEnd(5)), paint(color, '1', role.padEnd(7)), msg];
  let text = [...head, ...fields].filter((part) => part !== '').join('  ');
  const err = entry['err'] as { type?: unknown; message?: unknown; stack?: unknown } | undefined;
  if (err !== undefined && err !== null) {
    const stack = typeof err.stack === 'string' ? err.stack : `${typeof err.type === 'string' ? err.type : 'Error'}: ${typeof err.message === 'string' ? err.message : fieldValue(err)}`;
    text += `\n${stack.split('\n').map((l) => `    ${l}`).join('\n')}`;
  }
  return text;
}

/** A pino destination that writes each line pretty to `out` (synchronous, like pino's own stdout). */
export function prettyDestination(out: { write(text: string): unknown; isTTY?: boolean } = process.stdout, color = out.isTTY === true && process.env['NO_COLOR'] === undefined): {
  write(line: string): void;
} {
  return {
    write(chunk: string) {
      for (const line of chunk.split('\n')) if (line !== '') out.write(`${prettyLogLine(line, color)}\n`);
    },
  };
}
