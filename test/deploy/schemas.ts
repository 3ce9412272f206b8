import type { Doc } from './support.js';

/**
 * Offline schema validation of rendered Kubernetes objects. `kubectl create --dry-run=client`
 * needs an API server (it downloads the OpenAPI document), so the schemas come from npm:
 * kubernetes-models (the Kubernetes OpenAPI schemas) and its CRD packages for KEDA, the
 * Prometheus Operator and the Gateway API. They check types, enums and required fields; like the
 * OpenAPI schemas they come from, they do not reject unknown fields.
 */
const PACKAGES: [RegExp, string][] = [
  [/^keda\.sh\//, '@kubernetes-models/keda'],
  [/^monitoring\.coreos\.com\//, '@kubernetes-models/prometheus-operator'],
  [/^gateway\.networking\.k8s\.io\//, '@kubernetes-models/gateway-api'],
  [/^(v1$|[a-z0-9.-]+\/v\w+$)/, 'kubernetes-models'],
];

interface Model {
  validate(): void;
}
type ModelClass = new (data: Doc) => Model;

/** The model class for an object's apiVersion and kind, or undefined when no package knows it. */
async function modelOf(apiVersion: string, kind: string): Promise<ModelClass | undefined> {
  const pkg = PACKAGES.find(([re]) => re.test(apiVersion))?.[1];
  if (pkg === undefined) return undefined;
  try {
    const mod = (await import(`${pkg}/${apiVersion}/${kind}`)) as Record<string, unknown>;
    return mod[kind] as ModelClass | undefined;
  } catch {
    return undefined;
  }
}

/**
 * kustomize folds long base64 Secret values over several lines (a YAML block scalar); the API
 * server's decoder skips line breaks, the schema's `byte` format does not.
 */
function withoutBase64LineBreaks(d: Doc): Doc {
  if (d['kind'] !== 'Secret' || d['data'] === undefined) return d;
  const data = Object.fromEntries(Object.entries(d['data'] as Record<string, string>).map(([k, v]) => [k, v.replace(/[\r\n]/g, '')]));
  return { ...d, data };
}

/** Validates each object; returns one line per failure (an unknown kind is a failure too). */
export async function schemaErrors(docs: Doc[]): Promise<string[]> {
  const errors: string[] = [];
  for (const d of docs) {
    const { apiVersion, kind, metadata } = d as { apiVersion?: string; kind?: string; metadata?: { name?: string } };
    const what = `${apiVersion}/${kind} ${metadata?.name}`;
    const Model = await modelOf(String(apiVersion), String(kind));
    if (Model === undefined) {
      errors.push(`${what}: no schema known for this apiVersion and kind`);
      continue;
    }
    try {
      new Model(withoutBase64LineBreaks(d)).validate();
    } catch (err) {
      errors.push(`${what}: ${(err as Error).message}`);
    }
  }
  return errors;
}
