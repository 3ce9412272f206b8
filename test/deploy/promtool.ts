import { execFileSync, spawnSync } from 'node:child_process';

/**
 * Prometheus' own checker. `.ci/run` installs Debian's `prometheus` package, which brings it;
 * elsewhere the tests that need it are skipped with this reason.
 */
export const promtoolMissing: string | undefined = (() => {
  try {
    execFileSync('promtool', ['--version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'promtool is not installed (apt-get install prometheus; .ci/run installs it)';
  }
})();

/** Runs promtool; `input` goes to its standard input. Output is stdout and stderr together. */
export function promtool(args: string[], { cwd, input }: { cwd?: string; input?: string } = {}): { status: number | null; output: string } {
  const r = spawnSync('promtool', args, { cwd, input, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}
