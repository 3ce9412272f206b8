/** Summarizes V8 CPU profiles (`node --cpu-prof`): self time per function, hottest first. */
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

export interface HotFunction {
  function: string;
  where: string;
  /** Share of the busy samples (idle excluded). */
  self_pct: number;
}

const IDLE = '(idle)';

export function summarizeProfile(file: string, top = 15): HotFunction[] {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[] };
  const self = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === IDLE) {
      idle += hits;
      continue;
    }
    total += hits;
    const where = url === '' ? '' : `${url.replace(/^file:\/\//, '').replace(/.*\/(node_modules|packages)\//, '$1/')}:${lineNumber + 1}`;
    const key = `${functionName || '(anonymous)'}\t${where}`;
    self.set(key, (self.get(key) ?? 0) + hits);
  }
  const busy = { function: '(busy: share of all samples)', where: '', self_pct: Math.round((total / Math.max(1, total + idle)) * 1000) / 10 };
  return [
    busy,
    ...[...self.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([key, hits]) => {
        const [fn, where] = key.split('\t') as [string, string];
        return { function: fn, where, self_pct: Math.round((hits / Math.max(1, total)) * 1000) / 10 };
      }),
  ];
}

export const profilesIn = (dir: string): string[] =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(dir, f));

/** Node's flags that write a process's CPU profile into `dir` when it exits; none without a dir. */
export function cpuProfArgs(dir: string | undefined): string[] {
  if (dir === undefined) return [];
  mkdirSync(dir, { recursive: true });
  return ['--cpu-prof', `--cpu-prof-dir=${dir}`];
}

/**
 * Every profile in `dir` summarized, keyed `<prefix>/<role>/<file>`: the file names only say the
 * process id, which `roles` names (`fallback` for a process it does not know).
 */
export function summarizeProfilesIn(dir: string, prefix: string, roles: Map<number, string>, fallback: string): Record<string, HotFunction[]> {
  const out: Record<string, HotFunction[]> = {};
  if (!existsSync(dir)) return out;
  for (const file of profilesIn(dir)) {
    const name = file.split('/').pop()!;
    const pid = Number(/\.(\d+)\.\d+\.\d+\.cpuprofile$/.exec(name)?.[1]);
    out[`${prefix}/${roles.get(pid) ?? fallback}/${name}`] = summarizeProfile(file);
  }
  return out;
}

/** Process id → role, from a session's or a system's processes by role. */
export const rolesOf = (processes: Record<string, { pid?: number | undefined }[]>): Map<number, string> =>
  new Map(Object.entries(processes).flatMap(([role, procs]) => procs.map((p) => [p.pid ?? -1, role] as const)));
