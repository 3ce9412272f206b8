import { describe, expect, it } from 'vitest';
import { prettyDestination, prettyLogLine, resolveLogFormat } from '../src/log-format.js';

describe('log format', () => {
  it('auto is pretty on a terminal only; pretty and json are what they say', () => {
    expect(resolveLogFormat('auto', true)).toBe('pretty');
    expect(resolveLogFormat('auto', false)).toBe('json');
    expect(resolveLogFormat('pretty', false)).toBe('pretty');
    expect(resolveLogFormat('json', true)).toBe('json');
  });

  it('writes time, level, role, message and the other fields as key=value', () => {
    const line = JSON.stringify({ level: 30, time: Date.parse('2026-12-04T15:04:05.678Z'), pid: 7, hostname: 'h', node: 'gw-1', role: 'gateway', msg: 'listening', port: 8080, url: 'http://x y', tags: ['a'] });
    expect(prettyLogLine(line)).toBe('15:04:05.678  INFO   gateway  listening  port=8080  url="http://x y"  tags=["a"]');
  });

  it('puts an error stack under its line, and leaves lines that are not pino JSON alone', () => {
    const text = prettyLogLine(JSON.stringify({ level: 50, time: 0, role: 'worker', msg: 'commit failed', err: { type: 'Error', message: 'boom', stack: 'Error: boom\n    at x' } }));
    expect(text.split('\n')).toEqual(['00:00:00.000  ERROR  worker   commit failed', '    Error: boom', '        at x']);
    expect(prettyLogLine('plain text\n')).toBe('plain text');
    expect(prettyLogLine('[1,2]')).toBe('[1,2]');
  });

  it('colours the level only when asked', () => {
    const line = JSON.stringify({ level: 40, time: 0, role: 'all', msg: 'slow' });
    expect(prettyLogLine(line, true)).toContain('\u001b[33mWARN \u001b[0m');
    expect(prettyLogLine(line, false)).not.toContain('\u001b[');
    const written: string[] = [];
    prettyDestination({ write: (t) => written.push(t) }, false).write(`${line}\n${line}\n`);
    expect(written).toEqual(['00:00:00.000  WARN   all      slow\n', '00:00:00.000  WARN   all      slow\n']);
  });
});
