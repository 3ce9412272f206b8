import { $, field } from './dom.js';

// The token: taken from the URL fragment (which browsers never send to the server; then removed
// from the address bar) or the token field, and kept for this tab only (sessionStorage), so a
// reload keeps working. Settings in the fragment: /#token=<jwt>&app=<appId>&job=<jobId>

const TOKEN_KEY = 'switchboard.token';

function stored(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null; // storage disabled: the token lives in memory only
  }
}

function store(token: string): void {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // storage disabled
  }
}

export const fragment = new URLSearchParams(location.hash.slice(1));
let token = fragment.get('token') ?? stored() ?? '';
if (fragment.has('token')) {
  store(token);
  fragment.delete('token');
  const rest = fragment.toString();
  history.replaceState(null, '', `${location.pathname}${location.search}${rest ? `#${rest}` : ''}`);
}

/** The current token, or undefined when none was given. */
export const currentToken = (): string | undefined => token || undefined;

export function setToken(value: string): void {
  token = value;
  store(value);
  authProblems.clear();
  showAuthProblems();
}

/** The token's `sub` (unverified: only to name ourselves on /ws/logs, where it must match). */
export function tokenSubject(): string | undefined {
  try {
    const part = token.split('.')[1] ?? '';
    const claims = JSON.parse(atob(part.replace(/-/g, '+').replace(/_/g, '/'))) as { sub?: unknown };
    return typeof claims.sub === 'string' && claims.sub !== '' ? claims.sub : undefined;
  } catch {
    return undefined;
  }
}

const authProblems = new Map<string, string>();

/** Records (or, without a message, clears) a refused-credentials problem of one panel; the banner shows the first. */
export function authProblem(source: string, message?: string): void {
  if (message) authProblems.set(source, message);
  else authProblems.delete(source);
  showAuthProblems();
}

function showAuthProblems(): void {
  const banner = $('auth-banner');
  const first = [...authProblems.values()][0];
  banner.hidden = first === undefined;
  if (first === undefined) return;
  banner.textContent = token
    ? `${first}: the token was refused (expired, signed with another key, or not granting this). Paste another token above.`
    : `${first}: this server needs a token. Paste a JWT in the Token field above, or open this page as /#token=<jwt>.`;
}

field('token').value = token;
