import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI, NodeProcess } from '../support/node-process.js';
import { freePort } from '../support/ports.js';
import { waitFor } from '../support/wait.js';

// `all` without REDIS_URL runs on the in-memory engine: no Redis needed to see the start-up lines.
const nodes: NodeProcess[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop('SIGKILL')));
});

const start = async (env: Record<string, string>) => {
  const node = await NodeProcess.start('all', env);
  nodes.push(node);
  await waitFor(() => node.output.some((line) => line.includes('listening')), { timeoutMs: 30_000, what: 'the listening line' });
  return node;
};

describe('process logs (real processes, stdout piped)', () => {
  it('are JSON when stdout is not a terminal and LOG_FORMAT is unset (auto)', async () => {
    const node = await start({});
    for (const line of node.output) {
      const entry = JSON.parse(line) as Record<string, unknown>;
      expect(entry).toMatchObject({ role: 'all', node: node.nodeId });
      expect(typeof entry['level']).toBe('number');
    }
  });

  it('are readable lines with LOG_FORMAT=pretty: time, level, role, message, key=value fields', async () => {
    const node = await start({ LOG_FORMAT: 'pretty' });
    const listening = node.output.find((line) => line.includes('listening'));
    expect(listening).toMatch(/^\d\d:\d\d:\d\d\.\d{3} {2}INFO {3}all {6}.*listening.* port=\d+/);
    for (const line of node.output) expect(line.startsWith('{')).toBe(false);
    expect(listening).not.toContain('\u001b['); // no colours when stdout is not a terminal
  });

  it('refuses an unknown LOG_FORMAT at start-up', async () => {
    const node = await NodeProcess.start('all', { LOG_FORMAT: 'yaml' }, { waitReady: false });
    nodes.push(node);
    expect((await node.exited).code).toBe(78);
    expect(node.output.join('\n')).toContain('LOG_FORMAT');
  });
});

describe('process logs on a terminal (script(1) gives the process a pseudo-terminal)', () => {
  it('are readable, coloured lines with LOG_FORMAT unset (auto)', async () => {
    const port = await freePort();
    const command = `exec '${process.execPath}' '${CLI}' all`;
    const child = spawn('script', ['-qefc', command, '/dev/null'], {
      env: { PATH: process.env['PATH'] ?? '', NODE_ENV: 'test', PORT: String(port), NODE_ID: 'tty-node', TERM: 'xterm' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    try {
      await waitFor(() => output.includes('listening'), { timeoutMs: 30_000, what: 'the listening line on the terminal' });
      const listening = output.split(/\r?\n/).find((line) => line.includes('listening')) ?? '';
      const ESC = String.fromCharCode(27);
      expect(listening).toMatch(/^\d\d:\d\d:\d\d\.\d{3} {2}/);
      expect(listening).toContain(`${ESC}[32mINFO ${ESC}[0m`); // the level, in colour
      expect(listening).toMatch(/port=.*\d+/);
      expect(output).not.toContain('{"level"');
    } finally {
      // Ctrl-C on the terminal: the process gets SIGINT as from a person, stops, and script ends.
      const ended = new Promise((resolve) => child.once('exit', resolve));
      child.stdin.write('\u0003');
      const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await ended;
      clearTimeout(killer);
    }
  });
});
