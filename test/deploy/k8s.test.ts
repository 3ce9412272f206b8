import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { IScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import type { ITriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication';
import type { IHTTPRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute';
import type { IPodMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor';
import type { IPrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import type { IIoK8sApimachineryPkgApisMetaV1ObjectMeta as IObjectMeta } from '@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IStatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { IIngress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { ISecret } from 'kubernetes-models/v1/Secret';
import type { IService } from 'kubernetes-models/v1/Service';
import { describe, expect, it } from 'vitest';
import { envSchema, loadConfig } from '@switchboard/config';
import { DEFAULT_INGEST_PARTITIONS, clusterTopology } from '@switchboard/engine';
import { INGEST_GROUP, INGEST_STREAM } from '@switchboard/protocol';
import { schemaErrors } from './schemas.js';
import {
  type Doc,
  durationSeconds,
  filesUnder,
  kubectlUnusable,
  kustomize,
  literalsToEnv,
  loadYaml,
  parseEnvFile,
  read,
  rel,
  GATEWAY_ROUTES,
  metricNamesIn,
  routesIn,
} from './support.js';

/** Everything the config schema knows: the only names a Switchboard container may be given. */
const KNOWN_ENV = new Set(Object.keys(envSchema.shape));
/** The worker's ops routes; the bridge serves the same ones (both through packages/runtime). */
const WORKER_ROUTES = routesIn('packages/runtime/src/ops/routes.ts', /case '([^']+)'/g);
/** Socket.IO's pingInterval + pingTimeout: proxies must not cut an idle request sooner (docs/deploy.md). */
const SOCKETIO_IDLE_S = 45;
const SAMPLE_POD_NAME = 'switchboard-gateway-5d9c7b8f6d-x2x7k';
/** What an operator puts in the Secrets that containers read key by key (secretKeyRef). */
const SAMPLE_SECRET_KEYS: Record<string, string> = { RABBITMQ_URL: 'amqps://bridge:secret@rabbitmq.example.internal:5671' };
/** Roles that run as their own workload; gateway and worker always, the bridge with its component. */
const ROLES = ['bridge', 'gateway', 'worker'];

/** The fields of a kustomization.yaml the checks read. */
interface Kustomization {
  kind?: string;
  resources?: string[];
  components?: string[];
  patches?: { path?: string }[];
  configMapGenerator?: { name?: string; behavior?: string; literals?: string[]; files?: string[] }[];
  secretGenerator?: { name?: string; envs?: string[] }[];
  replicas?: { name: string; count: number }[];
}

/**
 * The Kubernetes objects the checks read, typed as kubernetes-models declares them (the schema
 * test below validates every rendered object against the same models).
 */
interface Kinds {
  ConfigMap: IConfigMap;
  Deployment: IDeployment;
  HorizontalPodAutoscaler: IHorizontalPodAutoscaler;
  HTTPRoute: IHTTPRoute;
  Ingress: IIngress;
  PodDisruptionBudget: IPodDisruptionBudget;
  PodMonitor: IPodMonitor;
  PrometheusRule: IPrometheusRule;
  ScaledObject: IScaledObject;
  Secret: ISecret;
  Service: IService;
  StatefulSet: IStatefulSet;
  TriggerAuthentication: ITriggerAuthentication;
}
type Workload = IDeployment | IStatefulSet;

/** The objects of one kind, in document order. */
const ofKind = <K extends keyof Kinds>(docs: Doc[], kind: K): Kinds[K][] => docs.filter((d) => d['kind'] === kind) as unknown as Kinds[K][];
/** The metadata every Kubernetes object carries. */
const metaOf = (d: Doc): IObjectMeta => d['metadata'] as IObjectMeta;
/** Whether `docs` hold an object of this kind and name. */
const hasObject = (docs: Doc[], kind: string, name: string | undefined): boolean => docs.some((d) => d['kind'] === kind && metaOf(d).name === name);

const kustomizationOf = (dir: string): Kustomization => loadYaml(join(dir, 'kustomization.yaml'))[0] ?? {};
const isSwitchboard = (c: IContainer): boolean => /(^|\/)switchboard(:|$)/.test(String(c.image));
const workloads = (docs: Doc[]): Workload[] => docs.filter((d) => ['Deployment', 'StatefulSet'].includes(d['kind'] as string)) as unknown as Workload[];
const podOf = (w: Workload): IPodSpec => w.spec!.template.spec!;
const podLabels = (w: Workload): Record<string, string> => w.spec?.template.metadata?.labels ?? {};
const selects = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);
const component = (w: Workload): string => podLabels(w)['app.kubernetes.io/component'] ?? '';

/**
 * The environment of a Switchboard container: its envFrom ConfigMaps and Secrets found in
 * `docs` (or given as `generated` when checking the unrendered files), then its `env`.
 */
function containerEnv(docs: Doc[], c: IContainer, generated: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = { ...generated };
  for (const from of c.envFrom ?? []) {
    const name = from.configMapRef?.name ?? from.secretRef?.name;
    const kind = from.configMapRef ? 'ConfigMap' : 'Secret';
    const source = ofKind(docs, kind).find((d) => d.metadata?.name === name);
    if (source === undefined) {
      if (Object.keys(generated).length > 0 || from.secretRef?.optional === true) continue;
      throw new Error(`${c.name}: envFrom ${kind} ${name} is not in the output`);
    }
    const data: Record<string, string> = { ...(source.data ?? {}), ...(source.kind === 'Secret' ? source.stringData : {}) };
    for (const [k, v] of Object.entries(data)) env[k] = source.kind === 'Secret' && source.data?.[k] === v ? Buffer.from(v, 'base64').toString('utf8') : v;
  }
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[e.name] = SAMPLE_POD_NAME;
    else if (e.valueFrom?.secretKeyRef !== undefined) env[e.name] = SAMPLE_SECRET_KEYS[e.valueFrom.secretKeyRef.key] ?? '<from a Secret>';
    else env[e.name] = '<from reference>';
  }
  return env;
}

/** The checks every set of manifests must pass: the raw files, and each rendered overlay. */
function checkManifests(docs: Doc[], generated?: Record<string, string>) {
  const apps = workloads(docs).filter((w) => podOf(w).containers.some(isSwitchboard));
  expect(apps.map(component)).toEqual(expect.arrayContaining(['gateway', 'worker']));
  for (const w of apps) expect(ROLES, `${w.metadata?.name}: role`).toContain(component(w));
  expect(new Set(apps.map(component)).size, 'one workload per role').toBe(apps.length);

  for (const w of apps) {
    const pod = podOf(w);
    const name = w.metadata!.name!;
    const routes = component(w) === 'gateway' ? GATEWAY_ROUTES : WORKER_ROUTES;
    const c = pod.containers.find(isSwitchboard)!;
    const env = containerEnv(docs, c, generated);

    // Every variable set is one the config schema knows; the values start a process.
    for (const key of Object.keys(env)) expect(KNOWN_ENV, `${name}: unknown variable ${key}`).toContain(key);
    if (component(w) === 'bridge') {
      // The broker URL carries credentials: a required key of a Secret, never the ConfigMap.
      const url = c.env!.find((e) => e.name === 'RABBITMQ_URL');
      expect(url?.valueFrom?.secretKeyRef?.name, `${name}: RABBITMQ_URL from a Secret`).toBeTruthy();
      expect(url?.valueFrom?.secretKeyRef?.optional, `${name}: RABBITMQ_URL required`).not.toBe(true);
      expect(envSchema.parse(env).RABBITMQ_URL, `${name}: RABBITMQ_URL`).toMatch(/^amqps?:\/\//);
    }
    expect(c.args, name).toEqual([component(w)]);
    // NODE_ID from the pod name (downward API).
    expect(c.env!.find((e) => e.name === 'NODE_ID')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name');

    // The container port is the one PORT makes the process listen on.
    const port = c.ports!.find((p) => p.name === 'http');
    expect(port?.containerPort, `${name}: containerPort vs PORT`).toBe(Number(env['PORT'] ?? 8080));

    // Probes hit routes the process serves, on its port.
    for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe'] as const) {
      const get = c[probe]?.httpGet;
      expect(get, `${name}: ${probe}`).toBeDefined();
      expect(routes, `${name}: ${probe} path`).toContain(get!.path);
      expect(get!.port === 'http' || get!.port === port?.containerPort, `${name}: ${probe} port`).toBe(true);
    }
    expect(c.readinessProbe!.httpGet!.path).toBe('/readyz');
    expect(c.livenessProbe!.httpGet!.path).toBe('/livez');

    // The grace period outlasts the process's own bound on shutdown (see packages/cli/src/main.ts:
    // DRAIN_DELAY_MS + SHUTDOWN_TIMEOUT_MS + 2 s), or the kubelet kills it mid-drain.
    const raw = envSchema.parse(env);
    const shutdownBoundS = (raw.DRAIN_DELAY_MS + raw.SHUTDOWN_TIMEOUT_MS + 2_000) / 1000;
    expect(pod.terminationGracePeriodSeconds, `${name}: terminationGracePeriodSeconds`).toBeGreaterThan(shutdownBoundS);

    // Hardening.
    const podSec = pod.securityContext ?? {};
    const sec = c.securityContext ?? {};
    expect(sec.runAsNonRoot ?? podSec.runAsNonRoot, `${name}: runAsNonRoot`).toBe(true);
    expect(sec.runAsUser ?? podSec.runAsUser, `${name}: numeric non-root user`).toBeGreaterThan(0);
    expect(sec.readOnlyRootFilesystem, `${name}: readOnlyRootFilesystem`).toBe(true);
    expect(sec.allowPrivilegeEscalation, `${name}: allowPrivilegeEscalation`).toBe(false);
    expect(sec.capabilities?.drop, `${name}: drop ALL`).toEqual(['ALL']);
    expect(c.resources?.requests?.['cpu'], `${name}: a CPU request (the HPA measures against it)`).toBeDefined();
  }
  const gateway = apps.find((w) => component(w) === 'gateway')!;
  expect(podOf(gateway).topologySpreadConstraints?.length).toBeGreaterThan(0);

  // Services select pods, and their named target ports exist on those pods.
  for (const svc of ofKind(docs, 'Service')) {
    const targets = workloads(docs).filter((w) => selects(svc.spec!.selector ?? {}, podLabels(w)));
    expect(targets.length, `Service ${svc.metadata?.name} selects no workload`).toBeGreaterThan(0);
    for (const p of svc.spec!.ports!) {
      for (const w of targets) {
        const ports = podOf(w).containers.flatMap((c) => c.ports ?? []);
        const found = ports.some((cp) => cp.name === p.targetPort || cp.containerPort === p.targetPort);
        expect(found, `Service ${svc.metadata?.name} targetPort ${p.targetPort}`).toBe(true);
      }
    }
  }
  // PDBs and HPAs point at workloads that exist.
  for (const pdb of ofKind(docs, 'PodDisruptionBudget')) {
    const targets = workloads(docs).filter((w) => selects(pdb.spec!.selector!.matchLabels!, podLabels(w)));
    expect(targets.length, `PDB ${pdb.metadata?.name} selects no workload`).toBe(1);
  }
  for (const hpa of ofKind(docs, 'HorizontalPodAutoscaler')) {
    const ref = hpa.spec.scaleTargetRef;
    expect(hasObject(docs, ref.kind, ref.name), `HPA target ${ref.kind}/${ref.name}`).toBe(true);
    // Connections are long-lived: scale in slowly.
    expect(hpa.spec.behavior!.scaleDown!.stabilizationWindowSeconds).toBeGreaterThanOrEqual(300);
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
  }
  // Routes: sticky, and never cutting an idle long-polling request.
  for (const route of ofKind(docs, 'HTTPRoute')) {
    for (const rule of route.spec.rules!) {
      expect(rule.sessionPersistence?.type, 'HTTPRoute sessionPersistence').toBe('Cookie');
      for (const t of Object.values(rule.timeouts ?? {}) as string[]) {
        const s = durationSeconds(t);
        expect(s === 0 || s > SOCKETIO_IDLE_S, `HTTPRoute timeout ${t}`).toBe(true);
      }
      for (const b of rule.backendRefs!) {
        expect(hasObject(docs, 'Service', b.name), `HTTPRoute backend ${b.name}`).toBe(true);
      }
    }
  }
  for (const ing of ofKind(docs, 'Ingress')) {
    const a = ing.metadata!.annotations!;
    expect(a['nginx.ingress.kubernetes.io/affinity']).toBe('cookie');
    for (const k of ['proxy-read-timeout', 'proxy-send-timeout']) {
      expect(durationSeconds(a[`nginx.ingress.kubernetes.io/${k}`] ?? '60'), `Ingress ${k}`).toBeGreaterThan(SOCKETIO_IDLE_S);
    }
    for (const r of ing.spec!.rules!) {
      for (const p of r.http!.paths) {
        expect(hasObject(docs, 'Service', p.backend.service!.name)).toBe(true);
      }
    }
  }
}

/** Effective switchboard-config of an overlay, from the generators of base, components and overlay (merge order). */
function overlayConfig(overlay: string): Record<string, string> {
  const k = kustomizationOf(overlay);
  const gen = (kust: Kustomization) => literalsToEnv((kust.configMapGenerator ?? []).find((g) => g.name === 'switchboard-config')?.literals);
  let env = gen(kustomizationOf('k8s/base'));
  for (const c of k.components ?? []) env = { ...env, ...gen(kustomizationOf(join(overlay, c))) };
  return { ...env, ...gen(k) };
}

/** The production overlay's Secret as the example leaves it, and as an operator fills it in. */
function productionSecrets(filled: boolean): Record<string, string> {
  const example = parseEnvFile(read('k8s/overlays/production/secrets.env.example'));
  if (!filled) return example;
  return {
    ...example,
    JWT_SECRET: 'x'.repeat(48),
    INGEST_API_KEYS: 'producer-key-0123456789',
  };
}

describe('k8s manifests (files)', () => {
  const files = filesUnder('k8s', ['.yaml', '.yml']);
  // Kubernetes objects only: not kustomizations, nor the patches and generator inputs they name.
  const inputs = new Set(
    files
      .filter((f) => f.endsWith('kustomization.yaml'))
      .flatMap((f) => {
        const k = kustomizationOf(dirname(f));
        const patches = (k.patches ?? []).flatMap((p) => (p.path ? [p.path] : []));
        const generated = (k.configMapGenerator ?? []).flatMap((g) => (g.files ?? []).map((s) => s.split('=').at(-1)!));
        return [...patches, ...generated].map((p) => join(dirname(f), p));
      }),
  );
  const docs = files.filter((f) => !f.endsWith('kustomization.yaml') && !inputs.has(f)).flatMap(loadYaml);

  it('parse, and every kustomization lists files that exist', () => {
    expect(files.length).toBeGreaterThan(10);
    for (const f of files.filter((f) => f.endsWith('kustomization.yaml'))) {
      const k = kustomizationOf(dirname(f));
      for (const r of [...(k.resources ?? []), ...(k.components ?? [])]) {
        expect(existsSync(rel(dirname(f), r)), `${f}: ${r}`).toBe(true);
      }
    }
  });

  it('gateway, worker, services, PDBs, HPA and routes agree with each other and with the code', () => {
    checkManifests(docs, overlayConfig('k8s/overlays/production'));
  });

  it('configuration names are all known to the config schema', () => {
    for (const f of files.filter((f) => f.endsWith('kustomization.yaml'))) {
      for (const g of kustomizationOf(dirname(f)).configMapGenerator ?? []) {
        for (const key of Object.keys(literalsToEnv(g.literals))) expect(KNOWN_ENV, `${f}: ${key}`).toContain(key);
      }
    }
    for (const f of filesUnder('k8s', ['.env.example'])) {
      for (const key of Object.keys(parseEnvFile(read(f)))) expect(KNOWN_ENV, `${f}: ${key}`).toContain(key);
    }
  });

  it('production: NODE_ENV=production, an origin list, external Redis from the Secret, two or more replicas', () => {
    const overlay = 'k8s/overlays/production';
    const env = overlayConfig(overlay);
    expect(env['NODE_ENV']).toBe('production');
    expect(env['ALLOWED_ORIGINS']).toMatch(/^https:\/\//);
    expect(env['REDIS_URL'], 'Redis URL belongs in the Secret').toBeUndefined();
    const k = kustomizationOf(overlay);
    expect((k.components ?? []).some((c) => c.endsWith('/redis')), 'no in-cluster Redis in production').toBe(false);
    const secret = (k.secretGenerator ?? []).find((s) => s.name === 'switchboard-secrets');
    expect(secret?.envs).toEqual(['secrets.env']);
    for (const r of k.replicas ?? []) expect(r.count, r.name).toBeGreaterThanOrEqual(2);
    // Left as in the example, production refuses to start; filled in, it starts.
    expect(() => loadConfig({ ...env, ...productionSecrets(false) })).toThrow(/JWT_SECRET|AUTH_REQUIRED|INGEST_API_KEYS/);
    const config = loadConfig({ ...env, ...productionSecrets(true), NODE_ID: SAMPLE_POD_NAME });
    expect(config.production).toBe(true);
    expect(config.redisUrl).toMatch(/^rediss?:\/\//);
  });

  it('the real secrets.env is gitignored, and no example carries a usable secret', () => {
    const ignore = read('.gitignore');
    expect(ignore).toMatch(/^k8s\/\*\*\/secrets\.env$/m);
    const example = parseEnvFile(read('k8s/overlays/production/secrets.env.example'));
    expect(example['JWT_SECRET']).toBe('');
    expect(example['INGEST_API_KEYS']).toBe('');
  });

  it('dev: NODE_ENV=development, in-cluster Redis, one replica each, and the configuration loads', () => {
    const overlay = 'k8s/overlays/dev';
    const env = overlayConfig(overlay);
    expect(env['NODE_ENV']).toBe('development');
    const host = /^redis:\/\/([^:/]+)/.exec(env['REDIS_URL'] ?? '')?.[1];
    expect(hasObject(docs, 'Service', host), `REDIS_URL host ${host} is a Service`).toBe(true);
    for (const r of kustomizationOf(overlay).replicas ?? []) expect(r.count, r.name).toBe(1);
    expect(loadConfig({ ...env, NODE_ID: SAMPLE_POD_NAME }).redisUrl).toBe(env['REDIS_URL']);
  });
});

const GATEWAY_METRICS = new Set(metricNamesIn('packages/gateway/src/metrics.ts'));

/** A prometheus-adapter discovery rule: the fields the check reads. */
interface AdapterRule {
  seriesQuery: string;
  resources: { overrides: { pod?: { resource?: string } } };
  name: { matches: string; as: string };
  metricsQuery: string;
}

/** The seed nodes the redis-cluster component sets, and the environment of production with it. */
function productionOnRedisCluster(): { nodes: string[]; env: Record<string, string> } {
  const component = kustomizationOf('k8s/components/redis-cluster');
  const literals = literalsToEnv((component.configMapGenerator ?? []).find((g) => g.name === 'switchboard-config')?.literals);
  // One Redis setting at a time: the operator removes REDIS_URL from the Secret.
  const { REDIS_URL: _url, ...secrets } = productionSecrets(true);
  return { nodes: (literals['REDIS_CLUSTER_NODES'] ?? '').split(','), env: { ...overlayConfig('k8s/overlays/production'), ...literals, ...secrets } };
}

/**
 * The cluster's ScaledObject: the worker Deployment, two workers at least, and a
 * redis-cluster-streams trigger on the group's lag for every stream the workers read (each
 * partition of the default layout, and the intake), authenticated by its TriggerAuthentication.
 */
function checkClusterScaledObject(docs: Doc[]): void {
  const scaled = ofKind(docs, 'ScaledObject');
  expect(scaled).toHaveLength(1);
  const { spec } = scaled[0]!;
  expect(spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: 'switchboard-worker' });
  expect(spec.minReplicaCount).toBeGreaterThanOrEqual(2);
  const topology = clusterTopology(DEFAULT_INGEST_PARTITIONS);
  const streams = [...Array.from({ length: DEFAULT_INGEST_PARTITIONS }, (_, p) => topology.ingestStream(p)), INGEST_STREAM];
  expect(spec.triggers.map((t) => t.metadata['stream']).sort()).toEqual([...streams].sort());
  for (const trigger of spec.triggers) {
    expect(trigger.type).toBe('redis-cluster-streams');
    expect(trigger.metadata['consumerGroup']).toBe(INGEST_GROUP);
    expect(Number(trigger.metadata['lagCount'])).toBeGreaterThan(0);
    const auth = ofKind(docs, 'TriggerAuthentication').find((d) => d.metadata?.name === trigger.authenticationRef?.name);
    expect(auth, 'authenticationRef names the TriggerAuthentication').toBeDefined();
    expect(auth!.spec.secretTargetRef!.map((r) => r.parameter).sort()).toEqual(['addresses', 'password']);
  }
}

describe('k8s: Redis Cluster from configuration (files)', () => {
  it('the redis-cluster component sets REDIS_CLUSTER_NODES (host:port seeds) and deploys no Redis of its own', () => {
    const component = kustomizationOf('k8s/components/redis-cluster');
    expect(component.kind).toBe('Component');
    expect(component.resources ?? [], 'a managed or operator-run cluster: nothing deployed here').toEqual([]);
    const generators = component.configMapGenerator ?? [];
    expect(generators.map((g) => [g.name, g.behavior])).toEqual([['switchboard-config', 'merge']]);
    const { nodes } = productionOnRedisCluster();
    expect(nodes.length).toBeGreaterThan(0);
    for (const node of nodes) expect(node, 'host:port').toMatch(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?:\d{1,5}$/);
  });

  it('production with the component and REDIS_URL out of the Secret loads on the cluster; with both set it is refused', () => {
    const { env, nodes } = productionOnRedisCluster();
    const config = loadConfig({ ...env, NODE_ID: SAMPLE_POD_NAME });
    expect(config.production).toBe(true);
    expect(config.redisUrl).toBeUndefined();
    expect(config.redisClusterNodes?.map((n) => `${n.host}:${n.port}`)).toEqual(nodes);
    expect(() => loadConfig({ ...env, REDIS_URL: productionSecrets(true)['REDIS_URL']!, NODE_ID: SAMPLE_POD_NAME })).toThrow(/REDIS_URL|REDIS_CLUSTER_NODES/);
  });
});

describe('k8s components for operations (files)', () => {
  it('prometheus-adapter: the rule exposes a gateway metric under the name the HPA scales on, CPU kept, target under MAX_CONNECTIONS', () => {
    const rules = loadYaml('k8s/components/prometheus-adapter/adapter-rules.yaml')[0]!['rules'] as AdapterRule[];
    expect(rules).toHaveLength(1);
    const rule = rules[0]!;
    const series = /^([a-z_:][a-z0-9_:]*)\{/.exec(rule.seriesQuery)?.[1];
    expect(GATEWAY_METRICS, `seriesQuery ${series}`).toContain(series);
    expect(rule.seriesQuery).toMatch(/pod!=""/);
    expect(rule.resources.overrides.pod?.resource).toBe('pod');
    expect(new RegExp(rule.name.matches).test(series!)).toBe(true);
    // Per pod: the adapter sums a pod's endpoints (analytics, logs, socket.io, ...).
    expect(rule.metricsQuery).toMatch(/^sum by \(<<\.GroupBy>>\)/);

    const patch = ofKind(loadYaml('k8s/components/prometheus-adapter/hpa-connections.yaml'), 'HorizontalPodAutoscaler')[0]!;
    const metrics = patch.spec.metrics!;
    const pods = metrics.find((m) => m.type === 'Pods');
    expect(pods?.pods?.metric.name).toBe(rule.name.as);
    const target = Number(pods?.pods?.target.averageValue);
    const maxConnections = envSchema.parse(overlayConfig('k8s/overlays/production')).MAX_CONNECTIONS;
    expect(target).toBeGreaterThan(0);
    expect(target, 'scale out before the connections alert (90 % of MAX_CONNECTIONS)').toBeLessThan(0.9 * maxConnections);
    expect(metrics.find((m) => m.type === 'Resource')?.resource?.name, 'CPU stays a second metric').toBe('cpu');
  });

  it('KEDA: the worker Deployment scaled on the lag of the ingest stream\'s consumer group, with two workers at least', () => {
    const docs = loadYaml('k8s/components/keda/scaledobject.yaml');
    const scaled = ofKind(docs, 'ScaledObject')[0]!;
    expect(scaled.spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: 'switchboard-worker' });
    expect(scaled.spec.minReplicaCount).toBeGreaterThanOrEqual(2);
    const [trigger] = scaled.spec.triggers;
    expect(trigger!.type).toBe('redis-streams');
    expect(trigger!.metadata).toMatchObject({ stream: INGEST_STREAM, consumerGroup: INGEST_GROUP });
    expect(Number(trigger!.metadata['lagCount'])).toBeGreaterThan(0);
    const auth = ofKind(docs, 'TriggerAuthentication').find((d) => d.metadata?.name === trigger!.authenticationRef!.name);
    expect(auth, 'authenticationRef names the TriggerAuthentication').toBeDefined();
    expect(auth!.spec.secretTargetRef!.map((r) => r.parameter).sort()).toEqual(['address', 'password']);
  });

  it('KEDA on a Redis Cluster: one trigger per ingest partition and one for the intake stream, each on the group\'s lag', () => {
    checkClusterScaledObject(loadYaml('k8s/components/keda-redis-cluster/scaledobject.yaml'));
  });

  it('prometheus-operator: the PrometheusRule carries exactly the rules of deploy/prometheus/alerts.yml', () => {
    const [rule] = loadYaml('k8s/components/prometheus-operator/prometheusrule.yaml');
    expect(rule!['kind']).toBe('PrometheusRule');
    expect((rule as unknown as IPrometheusRule).spec.groups).toEqual(loadYaml('deploy/prometheus/alerts.yml')[0]!['groups']);
    const monitor = loadYaml('k8s/components/prometheus-operator/podmonitor.yaml')[0] as unknown as IPodMonitor;
    // The metrics' own `endpoint` label must survive the operator's target label of that name.
    for (const e of monitor.spec.podMetricsEndpoints!) expect(e.honorLabels).toBe(true);
  });

  it('the in-cluster Redis keeps an append-only file fsynced every second', () => {
    const redis = ofKind(loadYaml('k8s/components/redis/redis.yaml'), 'StatefulSet')[0]!;
    const args = podOf(redis).containers[0]!.args!.join(' ');
    expect(args).toMatch(/--appendonly yes\b/);
    expect(args).toMatch(/--appendfsync everysec\b/);
  });
});

if (kubectlUnusable !== undefined) console.warn(`test/deploy/k8s.test.ts: rendering skipped: ${kubectlUnusable}`);

describe.skipIf(kubectlUnusable !== undefined)(`k8s overlays rendered with kubectl kustomize${kubectlUnusable === undefined ? '' : ` (skipped: ${kubectlUnusable})`}`, () => {
  it('dev renders and passes the checks, without an HPA and with Redis', () => {
    const docs = kustomize('k8s/overlays/dev');
    checkManifests(docs);
    expect(docs.some((d) => d['kind'] === 'HorizontalPodAutoscaler')).toBe(false);
    expect(hasObject(docs, 'StatefulSet', 'redis')).toBe(true);
    for (const w of workloads(docs)) expect(w.spec!.replicas).toBe(1);
    for (const d of docs) if (d['kind'] !== 'Namespace') expect(metaOf(d).namespace).toBe('switchboard-dev');
  });

  it('production renders and passes the checks; its configuration, with the Secret filled in, loads', () => {
    const docs = kustomize('k8s/overlays/production');
    checkManifests(docs);
    expect(docs.some((d) => d['kind'] === 'HTTPRoute')).toBe(true);
    expect(workloads(docs).some((w) => w.metadata!.name === 'redis')).toBe(false);
    for (const w of workloads(docs)) expect(w.spec!.replicas, w.metadata!.name).toBeGreaterThanOrEqual(2);
    const gateway = workloads(docs).find((w) => w.metadata!.name === 'switchboard-gateway')!;
    expect(podOf(gateway).containers[0]!.image).toMatch(/^[^:]+\/switchboard:[\w.-]+$/);
    const env = containerEnv(docs, podOf(gateway).containers[0]!);
    expect(env['NODE_ENV']).toBe('production');
    expect(env['ALLOWED_ORIGINS']).toBeTruthy();
    expect(() => loadConfig(env)).toThrow();
    expect(loadConfig({ ...env, ...productionSecrets(true) }).production).toBe(true);
  });

  it('production with the redis-cluster component renders: every Switchboard container gets REDIS_CLUSTER_NODES from the ConfigMap', () => {
    const extra = [
      'apiVersion: kustomize.config.k8s.io/v1beta1',
      'kind: Kustomization',
      'resources: [../overlays/production]',
      'components: [../components/redis-cluster]',
      '',
    ].join('\n');
    const docs = kustomize('k8s/production-redis-cluster', extra);
    checkManifests(docs);
    expect(workloads(docs).some((w) => component(w) === 'redis'), 'no Redis deployed').toBe(false);
    const { nodes } = productionOnRedisCluster();
    for (const w of workloads(docs)) {
      const c = podOf(w).containers.find(isSwitchboard)!;
      const { REDIS_URL: _url, ...env } = containerEnv(docs, c);
      expect(env['REDIS_CLUSTER_NODES'], w.metadata?.name).toBe(nodes.join(','));
      expect(loadConfig({ ...env, ...productionSecrets(true), REDIS_URL: '' }).redisUrl).toBeUndefined();
    }
  });

  it('production with redis-cluster and keda-redis-cluster renders: the workers scale on every partition\'s lag and the intake\'s', () => {
    const extra = [
      'apiVersion: kustomize.config.k8s.io/v1beta1',
      'kind: Kustomization',
      'resources: [../overlays/production]',
      'components: [../components/redis-cluster, ../components/keda-redis-cluster]',
      '',
    ].join('\n');
    const docs = kustomize('k8s/production-keda-redis-cluster', extra);
    checkManifests(docs);
    checkClusterScaledObject(docs);
  });

  it('every component renders on top of the base', () => {
    const components = filesUnder('k8s/components', ['kustomization.yaml']).map((f) => `../${dirname(f).slice('k8s/'.length)}`);
    const all = [
      'apiVersion: kustomize.config.k8s.io/v1beta1',
      'kind: Kustomization',
      'resources: [../base]',
      `components: [${components.join(', ')}]`,
      '',
    ].join('\n');
    const docs = kustomize('k8s/all-components', all);
    checkManifests(docs);
    for (const kind of ['HTTPRoute', 'Ingress', 'PodMonitor', 'PrometheusRule', 'StatefulSet', 'ScaledObject', 'TriggerAuthentication']) {
      expect(docs.some((d) => d['kind'] === kind), kind).toBe(true);
    }
    expect(workloads(docs).map(component).sort()).toEqual(['bridge', 'gateway', 'redis', 'worker']);
    // The adapter's rule rendered into its ConfigMap, and the HPA patched: connections and CPU.
    const adapter = ofKind(docs, 'ConfigMap').find((d) => d.metadata?.name === 'switchboard-prometheus-adapter-rules');
    expect(adapter?.data?.['config.yaml']).toBe(read('k8s/components/prometheus-adapter/adapter-rules.yaml'));
    const hpa = ofKind(docs, 'HorizontalPodAutoscaler')[0]!;
    expect(hpa.spec.metrics!.map((m) => m.type).sort()).toEqual(['Pods', 'Resource']);
    expect(hpa.spec.behavior!.scaleDown!.stabilizationWindowSeconds).toBeGreaterThanOrEqual(300);
  });

  it('every rendered object validates against its schema (offline: Kubernetes, KEDA, Prometheus Operator, Gateway API)', async () => {
    const components = filesUnder('k8s/components', ['kustomization.yaml']).map((f) => `../${dirname(f).slice('k8s/'.length)}`);
    const all = ['apiVersion: kustomize.config.k8s.io/v1beta1', 'kind: Kustomization', 'resources: [../base]', `components: [${components.join(', ')}]`, ''].join('\n');
    const rendered = [...kustomize('k8s/overlays/dev'), ...kustomize('k8s/overlays/production'), ...kustomize('k8s/all-components', all)];
    expect(rendered.length).toBeGreaterThan(20);
    expect(await schemaErrors(rendered)).toEqual([]);
  });

  it('the schema check catches a wrong type and a missing required field', async () => {
    const [deployment] = workloads(kustomize('k8s/overlays/dev')).filter((w) => w.metadata!.name === 'switchboard-gateway');
    const broken = structuredClone(deployment!);
    // Invalid on purpose: a string where the schema wants an integer, a container without its name.
    Object.assign(broken.spec!, { replicas: 'two' });
    delete (podOf(broken).containers[0] as Partial<IContainer>).name;
    const errors = await schemaErrors([broken as unknown as Doc, { apiVersion: 'example.com/v1', kind: 'Gadget', metadata: { name: 'x' } }]);
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatch(/replicas must be integer/);
    expect(errors[0]).toMatch(/required property .?name/);
    expect(errors[1]).toMatch(/no schema known/);
  });
});
