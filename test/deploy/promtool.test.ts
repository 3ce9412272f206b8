import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { promtool, promtoolMissing } from './promtool.js';
import { loadYaml, read, rel } from './support.js';

if (promtoolMissing !== undefined) console.warn(`test/deploy/promtool.test.ts skipped: ${promtoolMissing}`);

describe.skipIf(promtoolMissing !== undefined)(
  `shipped Prometheus rules and config, checked by promtool${promtoolMissing === undefined ? '' : ` (skipped: ${promtoolMissing})`}`,
  () => {
    const tmp = mkdtempSync(join(tmpdir(), 'sb-promtool-'));
    afterAll(() => rmSync(tmp, { recursive: true, force: true }));

    it('promtool check rules: deploy/prometheus/alerts.yml and the PrometheusRule\'s groups', () => {
      const shipped = promtool(['check', 'rules', rel('deploy/prometheus/alerts.yml')]);
      expect(shipped.output).toMatch(/SUCCESS: 6 rules found/);
      expect(shipped.status, shipped.output).toBe(0);
      // The operator's copy, as a plain rule file.
      const operator = join(tmp, 'prometheusrule-groups.yml');
      writeFileSync(operator, stringify({ groups: (loadYaml('k8s/components/prometheus-operator/prometheusrule.yaml')[0]!['spec'] as { groups: unknown[] }).groups }));
      const copy = promtool(['check', 'rules', operator]);
      expect(copy.status, copy.output).toBe(0);
    });

    it('promtool check rules refuses a broken rule (the check can fail)', () => {
      const broken = join(tmp, 'broken.yml');
      writeFileSync(broken, 'groups:\n  - name: x\n    rules:\n      - alert: Broken\n        expr: sum by (namespace (switchboard_redis_up)\n');
      expect(promtool(['check', 'rules', broken]).status).not.toBe(0);
    });

    it('promtool test rules: every alert case in deploy/prometheus/alerts.test.yml passes', () => {
      const r = promtool(['test', 'rules', 'alerts.test.yml'], { cwd: rel('deploy/prometheus') });
      expect(r.status, r.output).toBe(0);
      expect(r.output).toMatch(/SUCCESS/);
    });

    it('promtool test rules fails when an expected alert does not fire (the cases can fail)', () => {
      const tests = loadYaml('deploy/prometheus/alerts.test.yml')[0]!;
      // Redis back up at once: the "Redis unreachable" case must now fail.
      for (const t of tests['tests'] as { name: string; input_series: { series: string; values: string }[] }[]) {
        if (!t.name.startsWith('Redis unreachable')) continue;
        for (const s of t.input_series) s.values = s.values.replace(/0/g, '1');
      }
      writeFileSync(join(tmp, 'alerts.yml'), read('deploy/prometheus/alerts.yml'));
      writeFileSync(join(tmp, 'alerts.test.yml'), stringify(tests));
      const r = promtool(['test', 'rules', 'alerts.test.yml'], { cwd: tmp });
      expect(r.status).not.toBe(0);
      expect(r.output).toMatch(/SwitchboardRedisDown/);
    });

    it('promtool check config: deploy/prometheus/prometheus.yml with its rule file', () => {
      const r = promtool(['check', 'config', rel('deploy/prometheus/prometheus.yml')]);
      expect(r.status, r.output).toBe(0);
      expect(r.output).toMatch(/1 rule files found/);
    });
  },
);
