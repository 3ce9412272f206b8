// DOM helpers. Everything producers send (event data, error messages, stacks, log lines) is
// attacker-controlled: it reaches the DOM only through textContent, never as markup.

export const LIMITS = { events: 100, errors: 200, logs: 500, jobs: 8, jobEvents: 50 };
/** appId / jobId as the server accepts them. */
export const NAME = /^[A-Za-z0-9_.:-]{1,128}$/;
const LEVEL_CLASSES = new Set(['fatal', 'critical', 'error', 'warn', 'warning', 'info', 'debug', 'trace']);

export function $(id: string): HTMLElement {
  const node = document.getElementById(id);
  if (node === null) throw new Error(`the page has no #${id}`);
  return node;
}

export const field = (id: string): HTMLInputElement => $(id) as HTMLInputElement;

/** An element with a class and text; text is always set with textContent. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: unknown): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

/** Adds an item to a list, newest first or last, keeping at most `max` items. */
export function pushBounded(list: HTMLElement, item: HTMLElement, max: number, newestFirst = true): void {
  for (const placeholder of list.querySelectorAll(':scope > .empty')) placeholder.remove();
  if (newestFirst) list.prepend(item);
  else list.append(item);
  while (list.children.length > max) (newestFirst ? list.lastElementChild : list.firstElementChild)?.remove();
}

export function time(value: string | number): string {
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? '' : date.toLocaleTimeString([], { hour12: false });
}

/** Compact JSON for a line of text, cut at `max` characters; '' for an empty object. */
export function compact(value: unknown, max = 300): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    text = String(value);
  }
  if (text === undefined || text === '{}') return '';
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

export const num = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);

export function levelBadge(level: string): HTMLSpanElement {
  const name = level.toLowerCase();
  return el('span', `level${LEVEL_CLASSES.has(name) ? ` ${name}` : ''}`, name || '?');
}

/** A panel's connection indicator: `kind` is live, connecting, off or '' (a problem). */
export function setStatus(name: string, kind: string, text: string): void {
  $(`${name}-dot`).className = `dot ${kind}`;
  $(`${name}-state`).textContent = text;
}

/** The trimmed value of a name field, or undefined (and the field says why) when invalid. */
export function readName(inputId: string): string | undefined {
  const input = field(inputId);
  const value = input.value.trim();
  input.setCustomValidity(NAME.test(value) ? '' : "letters, digits, '_', '-', '.' or ':'");
  if (!input.reportValidity()) return undefined;
  return value;
}

/** What a resumed reconnect did, as people read it. */
export function resumeNote(outcome: { recovered: boolean; count?: number }): string {
  if (!outcome.recovered) return 'reconnected — state refreshed';
  if (outcome.count === undefined) return 'reconnected — resumed';
  return `reconnected — resumed, ${outcome.count} missed event${outcome.count === 1 ? '' : 's'} replayed`;
}

export const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
