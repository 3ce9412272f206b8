import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';
import { filesUnder, read, rel } from './support.js';

/** The README and docs/: what a newcomer reads, self-contained in the repository. */
const DOCS = ['README.md', ...filesUnder('docs', ['.md'])];
/** Every tracked text file: none may point outside the repository (code comments included). */
const TRACKED = execFileSync('git', ['ls-files'], { cwd: rel('.'), encoding: 'utf8' })
  .split('\n')
  .filter((f) => f !== '' && f !== 'test/deploy/docs.test.ts' && !/\.(png|svg|json|lock)$|package-lock\.json$/.test(f) && existsSync(rel(f)));

const withoutCode = (md: string): string => md.replace(/```[\s\S]*?```/g, '');
/** GitHub's heading anchors: lower-case, punctuation dropped, spaces to dashes. */
const anchor = (heading: string): string =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}_\- ]/gu, '')
    .replace(/ /g, '-');
const anchorsOf = (path: string): Set<string> => new Set([...withoutCode(read(path)).matchAll(/^#+ (.*)$/gm)].map((m) => anchor(m[1]!)));

describe('README and docs/', () => {
  it('the README is short and starts with the two commands, exactly', () => {
    const readme = read('README.md');
    expect(Buffer.byteLength(readme), 'README.md at most ~15 KB').toBeLessThanOrEqual(15 * 1024);
    expect(readme).toContain('npm install && npm start');
    expect(readme).toContain('npm install && npm test');
    // .ci/run runs the README's test command.
    expect(read('.ci/run')).toMatch(/^npm test$/m);
  });

  it('every relative link and anchor resolves inside the repository', () => {
    const broken: string[] = [];
    for (const file of DOCS) {
      for (const m of withoutCode(read(file)).matchAll(/\]\(([^)\s]+)\)/g)) {
        const link = m[1]!;
        if (/^[a-z]+:/.test(link)) continue;
        const [path = '', hash] = link.split('#');
        const target = path === '' ? file : normalize(join(dirname(file), path));
        if (target.startsWith('..') || !existsSync(rel(target))) broken.push(`${file}: ${link}`);
        else if (hash !== undefined && target.endsWith('.md') && !anchorsOf(target).has(hash)) broken.push(`${file}: ${link} (no such heading)`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('nothing in the repository points at a design file outside it', () => {
    const outside = TRACKED.filter((file) => /DESIGN(\.md| section|\s\d)|\.\.\/shared\/|shared\/DESIGN/.test(read(file)));
    expect(outside).toEqual([]);
  });

  it('every docs page is reachable from the README or the docs index', () => {
    const linked = new Set(
      ['README.md', 'docs/README.md'].flatMap((f) => [...read(f).matchAll(/\]\(([^)#\s]+)/g)].map((m) => normalize(join(dirname(f), m[1]!)))),
    );
    for (const page of filesUnder('docs', ['.md']).filter((f) => f !== 'docs/README.md')) expect(linked, page).toContain(page);
  });
});
