import { existsSync, readdirSync } from 'node:fs';
import { join, posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { envSchema, loadConfig } from '@switchboard/config';
import {
  GATEWAY_ROUTES,
  type Doc,
  dockerIgnored,
  durationSeconds,
  filesUnder,
  loadYaml,
  metricNamesIn,
  parseCopy,
  parseDockerfile,
  read,
  rel,
} from './support.js';

const KNOWN_ENV = new Set(Object.keys(envSchema.shape));
const ROLES = JSON.parse((/export const ROLES = (\[[^\]]*\])/.exec(read('packages/cli/src/roles.ts'))?.[1] ?? '[]').replace(/'/g, '"')) as string[];
const SOCKETIO_IDLE_S = 45;

/** The parts of a deploy/compose.yaml service these checks read. */
interface ComposeService {
  build?: { context: string; dockerfile: string };
  healthcheck?: { test?: string[] };
  restart?: string;
  command?: string[];
  environment?: Record<string, string>;
  profiles?: string[];
  depends_on?: Record<string, { condition?: string }>;
  volumes?: string[];
  stop_grace_period?: string;
}
/** A Prometheus alerting rule (deploy/prometheus/alerts.yml). */
interface AlertRule {
  alert: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** Every metric name the code defines (`name: '...'` in any package's sources). */
const EXPORTED_METRICS = new Set(filesUnder('packages', ['.ts']).filter((f) => f.includes('/src/')).flatMap(metricNamesIn));
const isExported = (name: string): boolean => {
  const base = name.replace(/_(bucket|sum|count)$/, '');
  return EXPORTED_METRICS.has(name) || EXPORTED_METRICS.has(base);
};
/** Switchboard metric names a PromQL expression reads. */
const metricsIn = (expr: string): string[] => [...expr.matchAll(/\b((?:maicivy|switchboard)_[a-z0-9_]+)/g)].map((m) => m[1]!);

/** Workspace package directories, from the root package.json's globs ("packages/*", "bench"). */
function workspaces(): string[] {
  const globs = (JSON.parse(read('package.json')) as { workspaces: string[] }).workspaces;
  return globs
    .flatMap((g) => (g.endsWith('/*') ? readdirSync(rel(g.slice(0, -2))).map((d) => `${g.slice(0, -2)}/${d}`) : [g]))
    .filter((d) => existsSync(rel(d, 'package.json')))
    .sort();
}

/**
 * The workspaces the image runs: the CLI and, transitively, every workspace package it depends
 * on. Others (the client SDK, bench) only need their manifests present for `npm ci`.
 */
function runtimeWorkspaces(): string[] {
  const byName = new Map(
    workspaces().map((ws) => [(JSON.parse(read(ws, 'package.json')) as { name: string }).name, ws] as const),
  );
  const seen = new Set<string>();
  const visit = (ws: string) => {
    if (seen.has(ws)) return;
    seen.add(ws);
    const deps = (JSON.parse(read(ws, 'package.json')) as { dependencies?: Record<string, string> }).dependencies ?? {};
    for (const name of Object.keys(deps)) {
      const dep = byName.get(name);
      if (dep !== undefined) visit(dep);
    }
  };
  visit('packages/cli');
  return [...seen].sort();
}

describe('deploy/Dockerfile', () => {
  const steps = parseDockerfile(read('deploy/Dockerfile'));
  const ignore = read('.dockerignore')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const stage = (name: string) => steps.filter((s) => s.stage === name);
  const copies = (name: string) => stage(name).filter((s) => s.op === 'COPY').map((s) => parseCopy(s.args));

  it('builds on node:20-bookworm-slim (glibc: uWebSockets.js ships glibc binaries)', () => {
    expect(read('deploy/Dockerfile')).toMatch(/^ARG NODE_IMAGE=node:20-bookworm-slim$/m);
    for (const from of steps.filter((s) => s.op === 'FROM')) expect(from.args).toMatch(/^(\$\{NODE_IMAGE\}|deps|base)(\s|$)/);
  });

  it('copies only sources that exist in the build context and are not dockerignored', () => {
    for (const s of steps.filter((s) => s.op === 'COPY')) {
      const { from, sources } = parseCopy(s.args);
      if (from !== undefined) continue;
      for (const src of sources) {
        const path = src.replace(/\/$/, '');
        expect(existsSync(rel(path)), `COPY ${src}`).toBe(true);
        expect(dockerIgnored(ignore, path), `COPY ${src} is excluded by .dockerignore`).toBe(false);
      }
    }
    // Built output and dependencies never come from the context.
    for (const p of ['node_modules', 'packages/cli/dist', 'packages/gateway/node_modules', '.env', 'k8s/overlays/production/secrets.env']) {
      expect(dockerIgnored(ignore, p), p).toBe(true);
    }
    expect(dockerIgnored(ignore, 'packages/gateway/src/index.ts')).toBe(false);
  });

  it('installs from the lockfile with every workspace manifest in place, then only production dependencies', () => {
    const manifests = copies('deps').flatMap((c) => c.sources);
    expect(manifests).toContain('package-lock.json');
    for (const ws of workspaces()) expect(manifests, `deps stage must COPY ${ws}/package.json`).toContain(`${ws}/package.json`);
    expect(stage('deps').find((s) => s.op === 'RUN')?.args).toMatch(/\bnpm ci$/);
    const prod = stage('prod-deps');
    expect(steps.find((s) => s.op === 'FROM' && s.stage === 'prod-deps')?.args).toMatch(/^deps\b/);
    expect(prod.find((s) => s.op === 'RUN')?.args).toMatch(/\bnpm ci --omit=dev$/);
  });

  it('puts every runtime package\'s published files into the runtime stage', () => {
    const runtime = copies('runtime');
    expect(runtime.some((c) => c.from === 'prod-deps' && c.sources[0] === '/app/')).toBe(true);
    const fromBuild = new Set(runtime.filter((c) => c.from === 'build').flatMap((c) => c.sources));
    const runtimeSet = runtimeWorkspaces();
    expect(runtimeSet).toEqual(expect.arrayContaining(['packages/cli', 'packages/gateway', 'packages/worker', 'packages/dashboard']));
    for (const ws of runtimeSet) {
      const files = (JSON.parse(read(ws, 'package.json')) as { files?: string[] }).files ?? [];
      expect(files.length, `${ws}: "files"`).toBeGreaterThan(0);
      for (const f of files) expect(fromBuild, `runtime stage must COPY --from=build /app/${ws}/${f}`).toContain(`/app/${ws}/${f}`);
    }
  });

  it('runs the CLI\'s built file under tini as a non-root user, role "all" by default', () => {
    const runtime = stage('runtime');
    const last = (op: string) => runtime.filter((s) => s.op === op).at(-1)?.args ?? '';
    const workdir = last('WORKDIR');
    const entrypoint = JSON.parse(last('ENTRYPOINT')) as string[];
    expect(entrypoint.slice(0, 3)).toEqual(['/usr/bin/tini', '--', 'node']);
    expect(runtime.some((s) => s.op === 'RUN' && /apt-get install .*\btini\b/.test(s.args))).toBe(true);
    // The entrypoint is what the `switchboard` bin loads: packages/cli/bin/switchboard.js → ../dist/main.js.
    const main = posix.relative(workdir, entrypoint[3]!);
    const bin = (JSON.parse(read('packages/cli/package.json')) as { bin: Record<string, string> }).bin['switchboard']!;
    const binTarget = /import '([^']+)'/.exec(read('packages/cli', bin))?.[1];
    expect(main).toBe(posix.join('packages/cli', posix.dirname(bin), binTarget ?? ''));
    expect(existsSync(rel('packages/cli/src/main.ts'))).toBe(true);
    expect(read('packages/cli/tsconfig.build.json')).toMatch(/"outDir":\s*"dist"/);
    // When the workspace is built (the unit tests import @switchboard/config from dist), check the file itself.
    if (existsSync(rel('packages/config/dist'))) expect(existsSync(rel(main)), main).toBe(true);
    const cmd = JSON.parse(last('CMD')) as string[];
    expect(cmd).toEqual(['all']);
    expect(ROLES).toContain(cmd[0]);
    // Non-root, numeric (Kubernetes runAsNonRoot can only verify a numeric user).
    expect(last('USER')).toMatch(/^[1-9]\d*(:\d+)?$/);
    // Port and health.
    expect(last('EXPOSE')).toBe(String(envSchema.parse({}).PORT));
    const health = last('HEALTHCHECK');
    const path = /127\.0\.0\.1:'\+\(process\.env\.PORT\|\|8080\)\+'(\/\w+)'/.exec(health)?.[1];
    expect(path).toBe('/livez');
    expect(GATEWAY_ROUTES).toContain(path);
    expect(read('packages/runtime/src/ops/routes.ts')).toContain(`case '${path}'`);
    for (const s of runtime.filter((s) => s.op === 'ENV')) {
      for (const m of s.args.matchAll(/(\w+)=/g)) expect(KNOWN_ENV, `ENV ${m[1]}`).toContain(m[1]);
    }
  });
});

describe('deploy/compose.yaml and the configs it mounts', () => {
  const compose = loadYaml('deploy/compose.yaml')[0]!;
  const services = compose['services'] as Record<string, ComposeService>;
  const app = Object.entries(services).filter(([, s]) => s.build?.dockerfile === 'deploy/Dockerfile');
  const onRedisCluster = ([, s]: [string, ComposeService]) => (s.profiles ?? []).includes('redis-cluster');
  /** The application on one Redis (the default stack, and the bridge's profile). */
  const single = app.filter((entry) => !onRedisCluster(entry));
  /** The same application on the Redis Cluster of the `redis-cluster` profile. */
  const clustered = app.filter(onRedisCluster);
  const redisNodes = Object.entries(services).filter(([name]) => /^redis-node-\d+$/.test(name));

  it('every YAML and JSON file under deploy/ parses', () => {
    const files = filesUnder('deploy', ['.yaml', '.yml']);
    expect(files.length).toBeGreaterThanOrEqual(4);
    for (const f of files) expect(loadYaml(f).length, f).toBeGreaterThan(0);
    for (const f of filesUnder('deploy', ['.json'])) expect((): unknown => JSON.parse(read(f)), f).not.toThrow();
  });

  it('builds the Dockerfile from the repository root, and runs roles the CLI has', () => {
    expect(app.length).toBeGreaterThanOrEqual(3);
    for (const [name, s] of app) {
      expect(existsSync(rel('deploy', s.build!.context, s.build!.dockerfile)), name).toBe(true);
      expect(ROLES, `${name}: role`).toContain(s.command?.[0]);
    }
    const roles = single.map(([, s]) => s.command?.[0]);
    expect(roles.filter((r) => r === 'gateway')).toHaveLength(2);
    expect(roles).toContain('worker');
    const clusterRoles = clustered.map(([, s]) => s.command?.[0]).sort();
    expect(clusterRoles).toEqual(['gateway', 'gateway', 'worker', 'worker']);
    expect(services['bridge']?.profiles).toEqual(['rabbitmq']);
    expect(services['rabbitmq']?.profiles).toEqual(['rabbitmq']);
  });

  it('gives the Switchboard services only variables the schema knows, values that load, and time to drain', () => {
    for (const [name, s] of app) {
      const env = s.environment!;
      for (const key of Object.keys(env)) expect(KNOWN_ENV, `${name}: ${key}`).toContain(key);
      const config = loadConfig(env);
      if (onRedisCluster([name, s])) {
        expect(config.redisUrl, name).toBeUndefined();
        expect(config.redisClusterNodes?.map((n) => n.host).sort(), name).toEqual(redisNodes.map(([n]) => n).sort());
        expect(env['REDIS_CLUSTER_NODES']?.split(',').sort(), `${name}: every node of the profile`).toEqual(redisNodes.map(([n]) => `${n}:6379`).sort());
      } else {
        expect(config.redisUrl, name).toMatch(/^redis:\/\/redis:/);
      }
      if (s.command?.[0] === 'bridge') expect(config.rabbitmq, name).toBeDefined();
      const bound = (config.drainDelayMs + config.shutdownTimeoutMs + 2_000) / 1000;
      expect(durationSeconds(s.stop_grace_period!), `${name}: stop_grace_period`).toBeGreaterThan(bound);
      // Services they name exist.
      for (const dep of Object.keys(s.depends_on ?? {})) expect(services, `${name} depends on ${dep}`).toHaveProperty(dep);
    }
  });

  it('mounts files and directories that exist', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const v of s.volumes ?? []) {
        const host = v.split(':')[0]!;
        if (!host.startsWith('.')) continue; // named volume
        expect(existsSync(rel('deploy', host)), `${name}: ${host}`).toBe(true);
      }
    }
  });

  it('redis-cluster profile: six cluster-mode nodes joined once as 3 masters + 3 replicas; the application waits for it', () => {
    expect(redisNodes).toHaveLength(6);
    for (const [name, s] of redisNodes) {
      expect(s.profiles, name).toEqual(['redis-cluster']);
      const command = (s.command ?? []).join(' ');
      expect(command, name).toMatch(/--cluster-enabled yes\b/);
      expect(command, name).toMatch(/--cluster-config-file \/data\//);
      expect(command, name).toMatch(/--appendonly yes\b/);
      expect(s.volumes, name).toEqual([`${name}:/data`]);
      expect(compose['volumes'], name).toHaveProperty(name);
      expect(s.healthcheck?.test, name).toEqual(['CMD', 'redis-cli', 'ping']);
    }
    const init = services['redis-cluster-init']!;
    expect(init.profiles).toEqual(['redis-cluster']);
    expect(init.restart).toBe('no');
    expect(Object.keys(init.depends_on ?? {}).sort()).toEqual(redisNodes.map(([n]) => n).sort());
    for (const dep of Object.values(init.depends_on ?? {})) expect(dep.condition).toBe('service_healthy');
    const script = (init.command ?? []).join('\n');
    expect(script).toMatch(/redis-cli --cluster create \$\$nodes --cluster-replicas 1 --cluster-yes/);
    expect(script).toMatch(/for n in 1 2 3 4 5 6;/);
    // Created only on a fresh node: a second `up` finds the cluster on the volumes.
    expect(script).toMatch(/cluster_known_nodes:1\\b/);
    for (const [name, s] of clustered) {
      expect(s.depends_on, name).toEqual({ 'redis-cluster-init': { condition: 'service_completed_successfully' } });
    }
    // Nothing of the profile starts without it.
    for (const name of ['redis-cluster-init', 'haproxy-rc', ...redisNodes.map(([n]) => n), ...clustered.map(([n]) => n)]) {
      expect(services[name]!.profiles, name).toEqual(['redis-cluster']);
    }
  });

  it('HAProxy: the variables its config reads are set, gateways are services, timeouts exceed 45 s', () => {
    // Comment lines dropped: the header documents the syntax with "${VAR}".
    const cfg = read('deploy/haproxy/haproxy.cfg')
      .split('\n')
      .filter((l) => !l.trim().startsWith('#'))
      .join('\n');
    const vars = new Set([...cfg.matchAll(/"\$\{(\w+)\}"/g)].map((m) => m[1]!));
    for (const [haproxy, gateways] of [
      ['haproxy', single],
      ['haproxy-rc', clustered],
    ] as const) {
      const env = services[haproxy]!.environment!;
      expect(new Set(Object.keys(env))).toEqual(vars);
      for (const [k, v] of Object.entries(env)) {
        if (k === 'SWITCHBOARD_LISTEN') continue;
        const [host, port] = v.split(':');
        expect(gateways.map(([n]) => n), `${haproxy}: ${k}`).toContain(host);
        expect(Number(port)).toBe(Number(services[host!]!.environment!['PORT']));
      }
    }
    for (const t of ['client', 'server', 'tunnel']) {
      const value = new RegExp(`^\\s*timeout ${t}\\s+(\\S+)`, 'm').exec(cfg)?.[1];
      expect(durationSeconds(value ?? '0s'), `timeout ${t}`).toBeGreaterThan(SOCKETIO_IDLE_S);
    }
    expect(cfg).toMatch(/^\s*http-check send meth GET uri \/readyz ver HTTP\/1\.1 hdr Host \S+/m);
    expect(GATEWAY_ROUTES).toContain('/readyz');
  });

  it('nginx: sticky upstream of the compose gateways, WebSocket upgrade, read timeout over 45 s', () => {
    const cfg = read('deploy/nginx/nginx.conf');
    expect(cfg).toMatch(/^\s*(hash \$\S+( consistent)?|ip_hash);/m);
    const servers = [...cfg.matchAll(/^\s*server ([\w.-]+):(\d+)/gm)].map((m) => m[1]!);
    expect(servers.length).toBeGreaterThanOrEqual(2);
    for (const s of servers) expect(app.map(([n]) => n)).toContain(s);
    expect(cfg).toMatch(/proxy_set_header Upgrade \$http_upgrade;/);
    expect(cfg).toMatch(/proxy_http_version 1\.1;/);
    for (const t of ['proxy_read_timeout', 'proxy_send_timeout']) {
      const value = new RegExp(`${t}\\s+(\\S+);`).exec(cfg)?.[1];
      expect(durationSeconds(value ?? '60s'), t).toBeGreaterThan(SOCKETIO_IDLE_S);
    }
  });

  it('Prometheus scrapes every Switchboard service on its PORT', () => {
    const prom = loadYaml('deploy/prometheus/prometheus.yml')[0]!;
    const scrapes = prom['scrape_configs'] as { metrics_path?: string; static_configs: { targets: string[] }[] }[];
    const targets = scrapes.flatMap((j) => j.static_configs.flatMap((c) => c.targets));
    for (const [name, s] of app) expect(targets, name).toContain(`${name}:${s.environment!['PORT']}`);
    for (const j of scrapes) expect(GATEWAY_ROUTES).toContain(j.metrics_path);
  });

  it('Grafana: provisioned datasource and dashboard folder, panels query metrics the code exports', () => {
    const datasource = loadYaml('deploy/grafana/provisioning/datasources/prometheus.yaml')[0]!;
    expect((datasource['datasources'] as { url: string }[])[0]?.url).toBe('http://prometheus:9090');
    const provider = loadYaml('deploy/grafana/provisioning/dashboards/switchboard.yaml')[0]!;
    const mounts = services['grafana']!.volumes!.map((v) => v.split(':'));
    const dashDir = mounts.find(([, target]) => target === (provider['providers'] as { options: { path: string } }[])[0]?.options.path)?.[0];
    expect(dashDir, 'the dashboard folder is mounted where the provider reads').toBeDefined();
    const dashboards = readdirSync(rel('deploy', dashDir!)).filter((f) => f.endsWith('.json'));
    expect(dashboards.length).toBeGreaterThan(0);

    const queried = new Set<string>();
    const exprs: string[] = [];
    for (const f of dashboards) {
      const dash = JSON.parse(read(join('deploy', dashDir!, f))) as { panels: { targets: { expr: string }[] }[] };
      for (const expr of dash.panels.flatMap((p) => p.targets.map((t) => t.expr))) {
        exprs.push(expr);
        for (const m of metricsIn(expr)) queried.add(m);
      }
    }
    for (const q of queried) expect(isExported(q), `dashboard queries ${q}, which the code does not define`).toBe(true);
    for (const required of ['maicivy_websocket_connections', 'switchboard_ingest_requests_total', 'switchboard_delivery_latency_seconds_bucket', 'switchboard_worker_ingest_lag', 'switchboard_worker_ingest_pending']) {
      expect(queried, required).toContain(required);
    }
    // The dashboard shows the alerts, and each alert's signal.
    expect(exprs.some((e) => e.startsWith('ALERTS{'))).toBe(true);
    for (const rule of alertRules()) {
      for (const m of metricsIn(String(rule['expr']))) expect(queried, `${rule['alert']}: ${m} on the dashboard`).toContain(m);
    }
  });
});

/** The alerting rules shipped in deploy/prometheus/alerts.yml. */
const alertRules = (): AlertRule[] => (loadYaml('deploy/prometheus/alerts.yml')[0]!['groups'] as { rules: AlertRule[] }[]).flatMap((g) => g.rules);

describe('deploy/prometheus: alerting rules and Redis persistence', () => {
  const compose = loadYaml('deploy/compose.yaml')[0]!;
  const services = compose['services'] as Record<string, ComposeService>;

  it('Prometheus loads the rule file, and compose mounts it beside prometheus.yml', () => {
    const prom = loadYaml('deploy/prometheus/prometheus.yml')[0]!;
    expect(prom['rule_files']).toEqual(['alerts.yml']);
    const volumes = services['prometheus']!.volumes!;
    expect(volumes).toContain('./prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro');
    expect(volumes.some((v) => v.startsWith('./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml'))).toBe(true);
  });

  it('ships the six alerts, each read from metrics the code defines, each with a promtool test case', () => {
    const rules = alertRules();
    expect(rules.map((r) => r['alert']).sort()).toEqual([
      'SwitchboardConnectionsNearLimit',
      'SwitchboardDeadLetters',
      'SwitchboardGatewaySubscriptionStalled',
      'SwitchboardHeartbeatMissing',
      'SwitchboardIngestLagGrowing',
      'SwitchboardRedisDown',
    ]);
    const tests = loadYaml('deploy/prometheus/alerts.test.yml')[0]!;
    expect(tests['rule_files']).toEqual(['alerts.yml']);
    const tested = new Set((tests['tests'] as Doc[]).flatMap((t) => (t['alert_rule_test'] as Doc[]).filter((a) => (a['exp_alerts'] as Doc[]).length > 0).map((a) => a['alertname'] as string)));
    for (const rule of rules) {
      expect(tested, `${rule['alert']}: a promtool case where it fires`).toContain(rule['alert']);
      expect(rule.labels?.['severity'], `${rule['alert']}: severity`).toMatch(/^(warning|critical)$/);
      expect(rule.annotations?.['summary'], `${rule['alert']}: summary`).toBeTruthy();
      const names = metricsIn(String(rule['expr']));
      expect(names.length, `${rule['alert']}: reads a Switchboard metric`).toBeGreaterThan(0);
      for (const m of names) expect(isExported(m), `${rule['alert']}: ${m} is defined by the code`).toBe(true);
    }
  });


  it('compose runs Redis with an append-only file fsynced every second', () => {
    const command = (services['redis']!['command'] as string[]).join(' ');
    expect(command).toMatch(/--appendonly yes\b/);
    expect(command).toMatch(/--appendfsync everysec\b/);
    expect(services['redis']!['volumes']).toEqual(['redis-data:/data']);
  });
});
