/**
 * The Kubernetes manifests as the tests see them: rendered by kustomize (`kubectl kustomize`,
 * exactly what `kubectl apply -k` would send), parsed, and turned into what a pod of a
 * workload is started with — the command, the arguments and the environment Kubernetes would
 * give its container (downward API fields, ConfigMap references, `$(VAR)` expansion) — so the
 * pod simulation starts processes from the YAML itself, never from a copy.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import ts from 'typescript';
import YAML from 'yaml';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const KUBERNETES_DIR = path.join(REPO_ROOT, 'deployments', 'kubernetes');

/** A rendered object (only the parts the tests read are typed). */
export interface K8sObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labels?: Record<string, string> };
  readonly [field: string]: unknown;
}

export class ManifestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ManifestError';
  }
}

/** `kubectl kustomize <dir>` parsed into objects. Throws ManifestError with kubectl's message. */
export function renderKustomization(dir: string): K8sObject[] {
  let text: string;
  try {
    text = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new ManifestError(`kubectl kustomize ${dir} failed (is kubectl installed?): ${stderr.trim() || String(error)}`);
  }
  return YAML.parseAllDocuments(text).map((doc) => {
    if (doc.errors.length > 0) throw new ManifestError(`kustomize output of ${dir} is not YAML: ${doc.errors[0]?.message}`);
    return doc.toJSON() as K8sObject;
  });
}

/** Renders an overlay plus components (paths under deployments/kubernetes) through a temporary kustomization. */
export function renderWith(overlay: string, components: readonly string[]): K8sObject[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyval-kustomize-'));
  try {
    const rel = (p: string): string => path.relative(dir, path.join(KUBERNETES_DIR, p));
    fs.writeFileSync(path.join(dir, 'kustomization.yaml'), `resources:\n  - ${rel(overlay)}\ncomponents:\n${components.map((c) => `  - ${rel(c)}\n`).join('')}`);
    return renderKustomization(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The one object of `kind` named `name`. */
export function findObject(objects: readonly K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind && o.metadata.name === name);
  if (found.length !== 1) throw new ManifestError(`expected one ${kind} ${name}, found ${found.length}`);
  return found[0] as K8sObject;
}

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string }; configMapKeyRef?: { name: string; key: string } };
}
export interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string }; prefix?: string }[];
  ports?: { name?: string; containerPort: number }[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
}
export interface PodTemplate {
  metadata: { labels: Record<string, string> };
  spec: { containers: Container[]; terminationGracePeriodSeconds?: number; volumes?: { name: string; secret?: { secretName: string } }[] };
}

/** A workload's pod template (StatefulSet or Deployment). */
export function podTemplate(workload: K8sObject): PodTemplate {
  return (workload['spec'] as { template: PodTemplate }).template;
}

/** What Kubernetes starts a pod's container with. */
export interface ContainerLaunch {
  readonly command: string[];
  readonly args: string[];
  readonly env: Record<string, string>;
  /** Where each named volume is mounted. */
  readonly mounts: Record<string, string>;
  /** Named container ports. */
  readonly ports: Record<string, number>;
}

function configMapData(objects: readonly K8sObject[], name: string): Record<string, string> {
  return (findObject(objects, 'ConfigMap', name)['data'] as Record<string, string> | undefined) ?? {};
}

function fieldValue(fieldPath: string, pod: { name: string; namespace: string }): string {
  switch (fieldPath) {
    case 'metadata.name':
      return pod.name;
    case 'metadata.namespace':
      return pod.namespace;
    default:
      throw new ManifestError(`the pod simulation does not provide the downward API field ${fieldPath}`);
  }
}

/** Kubernetes' `$(VAR)` expansion in command and args (`$$` escapes; unknown names stay). */
export function expandVars(text: string, env: Record<string, string>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string | undefined) => (name === undefined ? '$' : (env[name] ?? whole)));
}

/**
 * The command, arguments and environment of container `containerName` of a pod of
 * `workload`, named `pod.name` in namespace `pod.namespace`, as the kubelet resolves them:
 * envFrom first, then env (later entries win), then `$(VAR)` in command and args. A command
 * the container does not set would come from the image: refused here, since the simulation
 * runs the repository's commands by name.
 */
export function containerLaunch(objects: readonly K8sObject[], workload: K8sObject, containerName: string, pod: { name: string; namespace: string }): ContainerLaunch {
  const container = podTemplate(workload).spec.containers.find((c) => c.name === containerName);
  if (container === undefined) throw new ManifestError(`${workload.kind} ${workload.metadata.name} has no container ${containerName}`);
  if (container.command === undefined || container.command.length === 0) throw new ManifestError(`container ${containerName} of ${workload.metadata.name} sets no command`);
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    if (source.configMapRef === undefined) throw new ManifestError('the pod simulation only resolves envFrom configMapRef');
    for (const [k, v] of Object.entries(configMapData(objects, source.configMapRef.name))) env[`${source.prefix ?? ''}${k}`] = v;
  }
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = expandVars(e.value, env);
    else if (e.valueFrom?.fieldRef !== undefined) env[e.name] = fieldValue(e.valueFrom.fieldRef.fieldPath, pod);
    else if (e.valueFrom?.configMapKeyRef !== undefined) {
      const value = configMapData(objects, e.valueFrom.configMapKeyRef.name)[e.valueFrom.configMapKeyRef.key];
      if (value === undefined) throw new ManifestError(`ConfigMap ${e.valueFrom.configMapKeyRef.name} has no key ${e.valueFrom.configMapKeyRef.key}`);
      env[e.name] = value;
    } else env[e.name] = '';
  }
  return {
    command: container.command.map((c) => expandVars(c, env)),
    args: (container.args ?? []).map((a) => expandVars(a, env)),
    env,
    mounts: Object.fromEntries((container.volumeMounts ?? []).map((m) => [m.name, m.mountPath])),
    ports: Object.fromEntries((container.ports ?? []).flatMap((p) => (p.name === undefined ? [] : [[p.name, p.containerPort]]))),
  };
}

/** The module declaring an object's Kubernetes type: kubernetes-models, or its Prometheus Operator models. */
export function modelModule(o: Pick<K8sObject, 'apiVersion' | 'kind'>): string {
  const [group, version] = o.apiVersion.includes('/') ? (o.apiVersion.split('/') as [string, string]) : ['', o.apiVersion];
  return group === 'monitoring.coreos.com' ? `@kubernetes-models/prometheus-operator/${group}/${version}/${o.kind}` : `kubernetes-models/${group === '' ? '' : `${group}/`}${version}/${o.kind}`;
}

/**
 * Fields the Kubernetes types do not have, and values of the wrong type: each object is written
 * as an object literal of its kubernetes-models interface (`I<Kind>`) and type-checked, so
 * TypeScript's excess-property check names every unknown field at any depth (the API server's
 * strict field validation), which the models' JSON-schema validation lets through.
 */
export function typeProblems(objects: readonly K8sObject[]): string[] {
  const file = path.join(REPO_ROOT, 'test', 'deploy', '__rendered-manifests__.ts');
  const source = objects.map((o, k) => `import type { I${o.kind} as T${k} } from ${JSON.stringify(modelModule(o))};\nexport const o${k}: T${k} = ${JSON.stringify(o, null, 1)};\n`).join('\n');
  const options: ts.CompilerOptions = { strict: true, noEmit: true, skipLibCheck: true, module: ts.ModuleKind.CommonJS, moduleResolution: ts.ModuleResolutionKind.Node10, target: ts.ScriptTarget.ES2022, types: [] };
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  const getSourceFile = host.getSourceFile.bind(host);
  host.readFile = (name) => (name === file ? source : readFile(name));
  host.fileExists = ((exists) => (name: string) => name === file || exists(name))(host.fileExists.bind(host));
  host.getSourceFile = (name, version, onError, create) => (name === file ? ts.createSourceFile(name, source, version, true) : getSourceFile(name, version, onError, create));
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file !== undefined && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : undefined;
    const line = where === undefined ? '' : (source.split('\n')[where.line] ?? '').trim();
    return `${ts.flattenDiagnosticMessageText(d.messageText, ' ')} (at ${line})`;
  });
}
