import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const rel = (...p: string[]): string => join(ROOT, ...p);
export const read = (...p: string[]): string => readFileSync(rel(...p), 'utf8');

/** A parsed Kubernetes (or compose) object: only what the checks look at is typed. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Doc = Record<string, any>;

/** Every file under `dir` (relative to the root) whose name ends with one of `exts`. */
export function filesUnder(dir: string, exts: string[]): string[] {
  const out: string[] = [];
  const walk = (abs: string) => {
    for (const name of readdirSync(abs)) {
      const path = join(abs, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (exts.some((e) => name.endsWith(e))) out.push(relative(ROOT, path));
    }
  };
  walk(rel(dir));
  return out.sort();
}

/** All documents of a YAML file or string; throws on any syntax error (merge keys `<<` allowed). */
export function parseYaml(text: string, what: string): Doc[] {
  const docs = parseAllDocuments(text, { merge: true });
  if (!Array.isArray(docs)) return [];
  const out: Doc[] = [];
  for (const d of docs) {
    if (d.errors.length > 0) throw new Error(`${what}: ${d.errors.map((e) => e.message).join('; ')}`);
    const value = d.toJS() as Doc | null;
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

export const loadYaml = (path: string): Doc[] => parseYaml(read(path), path);

/** KEY=value lines (comments and blank lines skipped), as kustomize's `envs` and docker's env files read them. */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) continue;
    const eq = t.indexOf('=');
    if (eq < 0) throw new Error(`not KEY=value: ${t}`);
    out[t.slice(0, eq)] = t.slice(eq + 1);
  }
  return out;
}

export const literalsToEnv = (literals: string[] = []): Record<string, string> =>
  Object.fromEntries(
    literals.map((l) => {
      const eq = l.indexOf('=');
      return [l.slice(0, eq), l.slice(eq + 1)];
    }),
  );

/**
 * Why `kubectl kustomize` cannot render k8s/ here, or undefined when it can. The overlays use
 * kustomize Components (kustomize v3.7+, built into kubectl 1.21+); Debian bookworm's own
 * kubectl (package kubernetes-client, 1.20) predates them.
 */
export const kubectlUnusable: string | undefined = (() => {
  let version: { clientVersion?: { major?: string; minor?: string; gitVersion?: string } };
  try {
    version = JSON.parse(execFileSync('kubectl', ['version', '--client', '-o', 'json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as typeof version;
  } catch {
    return 'kubectl is not installed (.ci/run installs it)';
  }
  const major = Number(version.clientVersion?.major);
  const minor = Number.parseInt(version.clientVersion?.minor ?? '', 10);
  if (major === 1 && minor < 21) return `kubectl ${version.clientVersion?.gitVersion} is too old for kustomize Components (needs 1.21+)`;
  return undefined;
})();

/**
 * `kubectl kustomize` of a kustomization under k8s/, rendered from a temporary copy of k8s/ in
 * which each `secrets.env.example` stands in for the gitignored `secrets.env`. `extra` writes a
 * kustomization of its own (e.g. base + every component) at `dir`.
 */
export function kustomize(dir: string, extra?: string): Doc[] {
  const tmp = mkdtempSync(join(tmpdir(), 'sb-kustomize-'));
  try {
    cpSync(rel('k8s'), join(tmp, 'k8s'), { recursive: true });
    for (const example of filesUnder('k8s', ['secrets.env.example'])) {
      const target = join(tmp, example.replace(/\.example$/, ''));
      if (!existsSync(target)) copyFileSync(join(tmp, example), target);
    }
    if (extra !== undefined) {
      mkdirSync(join(tmp, dir), { recursive: true });
      writeFileSync(join(tmp, dir, 'kustomization.yaml'), extra);
    }
    const out = execFileSync('kubectl', ['kustomize', join(tmp, dir)], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
    return parseYaml(out, `kubectl kustomize ${dir}`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** "45s", "1m30s", "1h", "0s" (Gateway API / HAProxy durations), or bare seconds (nginx annotations). */
export function durationSeconds(value: string | number): number {
  if (typeof value === 'number') return value;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v);
  const parts = [...v.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s|d)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== v) throw new Error(`not a duration: ${value}`);
  const unit: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };
  return parts.reduce((sum, p) => sum + Number(p[1]) * (unit[p[2]!] ?? Number.NaN), 0);
}

/** Dockerfile instructions (continuation lines joined, comments dropped), grouped by stage. */
export interface DockerInstruction {
  op: string;
  args: string;
  stage: string;
}

export function parseDockerfile(text: string): DockerInstruction[] {
  const lines: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (current === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue;
    if (line.endsWith('\\')) {
      current += line.slice(0, -1) + ' ';
      continue;
    }
    lines.push(current + line);
    current = '';
  }
  const out: DockerInstruction[] = [];
  let stage = '';
  for (const line of lines) {
    const m = /^(\S+)\s+([\s\S]*)$/.exec(line);
    if (!m) continue;
    const op = m[1]!.toUpperCase();
    const args = m[2]!.trim();
    if (op === 'FROM') stage = /\bAS\s+(\S+)/i.exec(args)?.[1] ?? '';
    out.push({ op, args, stage });
  }
  return out;
}

/** `COPY [--flags] src... dest` → flags and paths. */
export function parseCopy(args: string): { from: string | undefined; sources: string[]; dest: string } {
  const words = args.split(/\s+/);
  const flags = words.filter((w) => w.startsWith('--'));
  const paths = words.filter((w) => !w.startsWith('--'));
  const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
  return { from, sources: paths.slice(0, -1), dest: paths.at(-1) ?? '' };
}

/** .dockerignore patterns (Go filepath.Match plus `**`), last match wins, `!` re-includes. */
export function dockerIgnored(patterns: string[], path: string): boolean {
  let ignored = false;
  for (const raw of patterns) {
    const negate = raw.startsWith('!');
    const pattern = (negate ? raw.slice(1) : raw).replace(/^\/+|\/+$/g, '');
    const re = new RegExp(
      '^' +
        pattern
          .split('/')
          .map((seg) => (seg === '**' ? '.*' : seg.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')))
          .join('/')
          .replace(/\.\*\//g, '(?:.*/)?') +
        '(?:/.*)?$',
    );
    if (re.test(path)) ignored = !negate;
  }
  return ignored;
}

/** Routes a source file registers, found with `pattern` (first group: the path). */
export const routesIn = (path: string, pattern: RegExp): Set<string> => new Set([...read(path).matchAll(pattern)].map((m) => m[1]!));

/** The gateway's operational GET routes (`app.get(...)` or `getAndHead(app, ...)` in ops.ts). */
/** The gateway serves the shared ops routes (packages/runtime, as workers and bridges do) and its own. */
export const GATEWAY_ROUTES = new Set([
  ...routesIn('packages/runtime/src/ops/routes.ts', /case '([^']+)'/g),
  ...routesIn('packages/gateway/src/http/ops.ts', /(?:app\.get\(|getAndHead\(app, )'([^']+)'/g),
]);

/** Metric names declared in a prom-client metrics file (`name: '...'`). */
export const metricNamesIn = (path: string): string[] => [...read(path).matchAll(/name:\s*'([a-z_:][a-z0-9_:]*)'/g)].map((m) => m[1]!);
