/**
 * The Kubernetes manifests: kustomize renders the base, both overlays and the optional
 * components; every rendered object validates against the Kubernetes schemas
 * (kubernetes-models, and @kubernetes-models/prometheus-operator for the ServiceMonitor); the
 * properties the deployment relies on hold in each overlay; and the members' and the
 * gateway's command lines, as the pods get them, are accepted by the apps' own flag parsers.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseKeyvalConfig } from '../../apps/keyval/src/config/keyval-config';
import { parseGatewayConfig } from '../../apps/gateway/src/config/gateway-config';
import YAML from 'yaml';
import { KUBERNETES_DIR, REPO_ROOT, containerLaunch, findObject, modelModule, podTemplate, renderKustomization, renderWith, typeProblems } from './manifests';
import type { ContainerLaunch, K8sObject } from './manifests';

interface Validatable {
  validate(): void;
}
type ModelClass = new (data: unknown) => Validatable;

/** The kubernetes-models class of an object's apiVersion and kind. */
function modelOf(o: K8sObject): ModelClass {
  const module = modelModule(o);
  const exported = require(module) as Record<string, ModelClass>;
  const model = exported[o.kind];
  if (model === undefined) throw new Error(`${module} exports no ${o.kind}`);
  return model;
}

/** Parses a launch with the environment it would have (and nothing else from ours). */
function withEnv<T>(launch: ContainerLaunch, parse: (argv: string[]) => T): T {
  const saved = { ...process.env };
  try {
    for (const key of Object.keys(process.env)) if (key.startsWith('KEYVAL_')) delete process.env[key];
    Object.assign(process.env, launch.env);
    return parse(launch.args);
  } finally {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  }
}

/** The pod-discovery jobs of deployments/prometheus/prometheus-kubernetes.yml: which pod names and port names each keeps. */
function prometheusPodJobs(): { job: string; podName: RegExp; portName: RegExp }[] {
  const config = YAML.parse(fs.readFileSync(path.join(REPO_ROOT, 'deployments', 'prometheus', 'prometheus-kubernetes.yml'), 'utf8')) as {
    scrape_configs: { job_name: string; relabel_configs: { source_labels?: string[]; regex?: string; action?: string }[] }[];
  };
  const keep = (rules: { source_labels?: string[]; regex?: string; action?: string }[], label: string): RegExp => {
    const rule = rules.find((r) => r.action === 'keep' && r.source_labels?.[0] === label);
    if (rule?.regex === undefined) throw new Error(`no keep rule on ${label}`);
    return new RegExp(`^(?:${rule.regex})$`);
  };
  return config.scrape_configs.map((c) => ({ job: c.job_name, podName: keep(c.relabel_configs, '__meta_kubernetes_pod_label_app_kubernetes_io_name'), portName: keep(c.relabel_configs, '__meta_kubernetes_pod_container_port_name') }));
}

const spec = (o: K8sObject): Record<string, unknown> => o['spec'] as Record<string, unknown>;
const storage = (sts: K8sObject): string => ((spec(sts)['volumeClaimTemplates'] as { spec: { resources: { requests: { storage: string } } } }[])[0] as { spec: { resources: { requests: { storage: string } } } }).spec.resources.requests.storage;
const gi = (quantity: string): number => Number(/^(\d+)Gi$/.exec(quantity)?.[1] ?? NaN);

describe.each([
  ['dev', 3],
  ['prod', 5],
])('overlay %s', (overlay, replicas) => {
  const objects = renderKustomization(path.join(KUBERNETES_DIR, 'overlays', overlay));
  const sts = findObject(objects, 'StatefulSet', 'keyval');
  const pod = { name: 'keyval-0', namespace: 'keyval' };
  const member = containerLaunch(objects, sts, 'keyval', pod);

  it('renders the members, their Services, PDB and ConfigMap, and the gateway', () => {
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(
      ['ConfigMap/keyval-config', 'Deployment/keyval-gateway', 'PodDisruptionBudget/keyval', 'PodDisruptionBudget/keyval-gateway', 'Service/keyval-client', 'Service/keyval-gateway', 'Service/keyval-peer', 'StatefulSet/keyval'].sort(),
    );
  });

  it('validates every object against the Kubernetes schemas', () => {
    for (const o of objects) {
      expect(() => new (modelOf(o))(o).validate()).not.toThrow();
    }
  });

  it('has no field the Kubernetes types do not know, and no value of the wrong type', () => {
    expect(typeProblems(objects)).toEqual([]);
  });

  it('creates the cluster with as many members as replicas, all pods at once, each with its own volume', () => {
    expect(spec(sts)['replicas']).toBe(replicas);
    expect(member.env['KEYVAL_INITIAL_CLUSTER_SIZE']).toBe(String(replicas));
    expect(spec(sts)['podManagementPolicy']).toBe('Parallel');
    const claim = (spec(sts)['volumeClaimTemplates'] as { metadata: { name: string } }[])[0]?.metadata.name as string;
    expect(member.mounts[claim]).toBe('/var/lib/keyval');
    expect(member.args).toContain('--data-dir=/var/lib/keyval/data');
  });

  it('governs the pods by a headless Service that publishes them before they are ready', () => {
    const peer = findObject(objects, 'Service', spec(sts)['serviceName'] as string);
    expect(spec(peer)).toMatchObject({ clusterIP: 'None', publishNotReadyAddresses: true });
    expect(member.env['KEYVAL_PEER_SERVICE']).toBe(peer.metadata.name);
    const labels = podTemplate(sts).metadata.labels;
    for (const name of ['keyval-peer', 'keyval-client']) {
      const selector = spec(findObject(objects, 'Service', name))['selector'] as Record<string, string>;
      expect(labels).toMatchObject(selector);
    }
    const pdb = findObject(objects, 'PodDisruptionBudget', 'keyval');
    expect(spec(pdb)['maxUnavailable']).toBe(1);
    expect(labels).toMatchObject((spec(pdb)['selector'] as { matchLabels: Record<string, string> }).matchLabels);
  });

  it('gives the member a command line its parser accepts, deriving its identity from the pod', () => {
    expect(member.command).toEqual(['keyval']);
    const config = withEnv(member, parseKeyvalConfig);
    expect(config?.name).toBe('keyval-0');
    expect(config?.initialAdvertisePeerUrls).toEqual(['http://keyval-0.keyval-peer.keyval.svc.cluster.local:2380']);
    expect(config?.initialCluster).toHaveLength(replicas);
    expect(config?.listenMetricsUrls.map((u) => u.port)).toEqual([member.ports['health']]);
    expect(config?.listenClientUrls.map((u) => u.port)).toEqual([member.ports['client']]);
    expect(config?.listenPeerUrl.port).toBe(member.ports['peer']);
  });

  it('probes the member health endpoints on the port the member serves them on', () => {
    const c = podTemplate(sts).spec.containers[0] as unknown as Record<string, { httpGet: { path: string; port: string } }>;
    expect([c['startupProbe']?.httpGet, c['readinessProbe']?.httpGet, c['livenessProbe']?.httpGet]).toEqual([
      { path: '/healthz', port: 'health' },
      { path: '/readyz', port: 'health' },
      { path: '/healthz', port: 'health' },
    ]);
  });

  it('stops members gracefully, runs them unprivileged on a read-only root, bounded, spread over nodes', () => {
    const podSpec = podTemplate(sts).spec as unknown as Record<string, unknown>;
    expect(podSpec['terminationGracePeriodSeconds']).toBeGreaterThanOrEqual(30);
    expect(podSpec['securityContext']).toMatchObject({ runAsNonRoot: true, runAsUser: 10001 });
    const c = podTemplate(sts).spec.containers[0] as unknown as Record<string, unknown>;
    expect(c['securityContext']).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(c['resources']).toMatchObject({ requests: { cpu: expect.any(String), memory: expect.any(String) }, limits: { memory: expect.any(String) } });
    expect((podSpec['affinity'] as Record<string, unknown>)['podAntiAffinity']).toBeDefined();
  });

  it('runs the gateway from the members client Service, with a command line its parser accepts', () => {
    const deployment = findObject(objects, 'Deployment', 'keyval-gateway');
    const gateway = containerLaunch(objects, deployment, 'gateway', { name: 'keyval-gateway-x', namespace: 'keyval' });
    expect(gateway.command).toEqual(['keyval-gateway']);
    const config = withEnv(gateway, parseGatewayConfig);
    expect(config?.endpoints).toEqual([`keyval-client:${member.ports['client']}`]);
    const labels = podTemplate(deployment).metadata.labels;
    expect(labels).toMatchObject(spec(findObject(objects, 'Service', 'keyval-gateway'))['selector'] as Record<string, string>);
    expect(spec(findObject(objects, 'PodDisruptionBudget', 'keyval-gateway'))['maxUnavailable']).toBe(1);
    expect(config?.listenMetricsUrls.map((u) => u.port)).toEqual([gateway.ports['health']]);
    const probe = (podTemplate(deployment).spec.containers[0] as unknown as Record<string, { httpGet: { path: string; port: string } }>)['readinessProbe'];
    expect(probe?.httpGet).toEqual({ path: '/readyz', port: 'health' });
  });

  it('is found once per pod, under the job names the alert rules expect, by deployments/prometheus/prometheus-kubernetes.yml', () => {
    const jobs = prometheusPodJobs();
    for (const [workload, job] of [[sts, 'keyval'], [findObject(objects, 'Deployment', 'keyval-gateway'), 'keyval-gateway']] as const) {
      const labels = podTemplate(workload).metadata.labels;
      const ports = podTemplate(workload).spec.containers.flatMap((c) => c.ports ?? []).map((p) => p.name ?? '');
      const scraped = jobs.flatMap((j) => (j.podName.test(labels['app.kubernetes.io/name'] ?? '') ? ports.filter((p) => j.portName.test(p)).map((p) => `${j.job}:${p}`) : []));
      expect(scraped).toEqual([`${job}:client`]);
    }
  });
});

describe('overlays compared, and the optional components', () => {
  it('gives prod larger volumes than dev', () => {
    const dev = findObject(renderKustomization(path.join(KUBERNETES_DIR, 'overlays', 'dev')), 'StatefulSet', 'keyval');
    const prod = findObject(renderKustomization(path.join(KUBERNETES_DIR, 'overlays', 'prod')), 'StatefulSet', 'keyval');
    expect(gi(storage(prod))).toBeGreaterThan(gi(storage(dev)));
  });

  it('adds a ServiceMonitor and a backup CronJob that validate, the CronJob running kvctl snapshot save', () => {
    const objects = renderWith('overlays/prod', ['components/servicemonitor', 'components/backup']);
    for (const o of objects) {
      expect(() => new (modelOf(o))(o).validate()).not.toThrow();
    }
    expect(typeProblems(objects)).toEqual([]);
    // Each ServiceMonitor selects one Service (each pod scraped once), named for the rules' job.
    for (const monitor of objects.filter((o) => o.kind === 'ServiceMonitor')) {
      const selector = (spec(monitor)['selector'] as { matchLabels: Record<string, string> }).matchLabels;
      const services = objects.filter((o) => o.kind === 'Service' && Object.entries(selector).every(([k, v]) => o.metadata.labels?.[k] === v));
      expect(services).toHaveLength(1);
      expect(spec(monitor)['jobLabel']).toBe('app.kubernetes.io/name');
      expect(['keyval', 'keyval-gateway']).toContain(services[0]?.metadata.labels?.['app.kubernetes.io/name']);
      expect(spec(monitor)['endpoints']).toEqual([expect.objectContaining({ port: 'client', path: '/metrics' })]);
    }
    expect(objects.filter((o) => o.kind === 'ServiceMonitor')).toHaveLength(2);
    const cron = findObject(objects, 'CronJob', 'keyval-backup');
    expect(JSON.stringify(cron)).toMatch(/kvctl --endpoints=keyval-client:2379 [^"]*snapshot save/);
    findObject(objects, 'PersistentVolumeClaim', 'keyval-backups');
  });

  it('switches members and gateway to mutual TLS with the tls component: https:// URLs for every pod, certificates from mounted Secrets', () => {
    const objects = renderWith('overlays/dev', ['components/tls']);
    for (const o of objects) {
      expect(() => new (modelOf(o))(o).validate()).not.toThrow();
    }
    expect(typeProblems(objects)).toEqual([]);
    /** The Secret a file path of a container lies in (through its volume mounts), or undefined. */
    const secretOf = (workload: K8sObject, launch: ContainerLaunch, file: string): string | undefined => {
      const volumes = podTemplate(workload).spec.volumes ?? [];
      const mount = Object.entries(launch.mounts).find(([, at]) => file.startsWith(`${at}/`));
      return volumes.find((v) => v.name === mount?.[0])?.secret?.secretName;
    };
    const sts = findObject(objects, 'StatefulSet', 'keyval');
    const member = containerLaunch(objects, sts, 'keyval', { name: 'keyval-1', namespace: 'db' });
    const config = withEnv(member, parseKeyvalConfig);
    expect(config?.initialAdvertisePeerUrls).toEqual(['https://keyval-1.keyval-peer.db.svc.cluster.local:2380']);
    expect(config?.advertiseClientUrls).toEqual(['https://keyval-1.keyval-peer.db.svc.cluster.local:2379']);
    expect(config?.initialCluster.flatMap((m) => m.peerUrls).every((u) => u.startsWith('https://'))).toBe(true);
    expect(config?.peerTls).toMatchObject({ clientCertAuth: true });
    expect(config?.clientTls).toMatchObject({ clientCertAuth: true });
    for (const side of [config?.peerTls, config?.clientTls]) {
      for (const file of [side?.certFile, side?.keyFile, side?.caFile]) expect(secretOf(sts, member, file as string)).toBe('keyval-tls');
    }
    // The probes stay on the plaintext health port the member still serves.
    expect(config?.listenMetricsUrls.map((u) => `${u.secure}:${u.port}`)).toEqual([`false:${member.ports['health']}`]);
    const deployment = findObject(objects, 'Deployment', 'keyval-gateway');
    const gateway = containerLaunch(objects, deployment, 'gateway', { name: 'keyval-gateway-x', namespace: 'db' });
    const gatewayConfig = withEnv(gateway, parseGatewayConfig);
    expect(gatewayConfig?.endpoints).toEqual([`keyval-client:${member.ports['client']}`]);
    expect(gateway.args).toContain(`--endpoints=https://keyval-client:${member.ports['client']}`);
    const upstream = gatewayConfig?.upstreamTls;
    expect(upstream?.verifyServer).toBe(true);
    for (const file of [upstream?.caFile, upstream?.certFile, upstream?.keyFile]) expect(secretOf(deployment, gateway, file as string)).toBe('keyval-gateway-tls');
    // Both run as 10001: the Secret's files must be readable by their fsGroup.
    for (const workload of [sts, deployment]) {
      expect((podTemplate(workload).spec as unknown as { securityContext: { fsGroup: number } }).securityContext.fsGroup).toBe(10001);
    }
  });

  it('catches an invalid object (the validation is not a no-op)', () => {
    const sts = findObject(renderKustomization(path.join(KUBERNETES_DIR, 'overlays', 'dev')), 'StatefulSet', 'keyval');
    const broken = JSON.parse(JSON.stringify(sts)) as { spec: { replicas: unknown } };
    broken.spec.replicas = 'three';
    expect(() => new (modelOf(sts))(broken).validate()).toThrow(/replicas/);
  });

  it('catches an unknown field deep inside an object (the type check is not a no-op)', () => {
    const sts = findObject(renderKustomization(path.join(KUBERNETES_DIR, 'overlays', 'dev')), 'StatefulSet', 'keyval');
    const typo = JSON.parse(JSON.stringify(sts)) as { spec: { template: { spec: { containers: { readinessProbe: { httpGet: Record<string, unknown> } }[] } } } };
    (typo.spec.template.spec.containers[0] as { readinessProbe: { httpGet: Record<string, unknown> } }).readinessProbe.httpGet['prot'] = 2381;
    const problems = typeProblems([typo as unknown as K8sObject]);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(`'"prot"' does not exist in type 'IHTTPGetAction'`);
  });
});
