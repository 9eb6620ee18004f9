/**
 * Steps the pod simulation's scenarios share: start the StatefulSet's pods the way the
 * controller does with `podManagementPolicy: Parallel` (all at once), start the gateway's
 * pod, and read the member list with kvctl from the client namespace.
 */
import * as path from 'node:path';
import { chaosUnsupportedReason } from '../chaos/netns-network';
import { KUBERNETES_DIR, renderKustomization, renderWith } from './manifests';
import { PodSimulation } from './pod-sim';
import type { SimPod } from './pod-sim';

/**
 * The simulation of an overlay (rendered now, with `components` under deployments/kubernetes
 * when given), in Kubernetes namespace kv-sim, with `secrets` for the pods to mount; throws
 * when it cannot run here.
 */
export async function simulateOverlay(overlay: string, options: { components?: readonly string[]; secrets?: Readonly<Record<string, string>> } = {}): Promise<PodSimulation> {
  const unsupported = await chaosUnsupportedReason();
  if (unsupported !== undefined) throw new Error(`the pod simulation cannot run here: ${unsupported}`);
  const objects = options.components === undefined ? renderKustomization(path.join(KUBERNETES_DIR, 'overlays', overlay)) : renderWith(`overlays/${overlay}`, options.components);
  return PodSimulation.start(objects, { namespace: SIM_NAMESPACE, secrets: options.secrets });
}

/** The Kubernetes namespace the simulated pods believe they run in. */
export const SIM_NAMESPACE = 'kv-sim';

/** A client's certificate files (etcdctl's and kvctl's --cacert, --cert, --key). */
export interface ClientCerts {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
}

/** etcdctl's and kvctl's TLS flags for `certs`. */
export function certFlags(certs: ClientCerts): string[] {
  return [`--cacert=${certs.caFile}`, `--cert=${certs.certFile}`, `--key=${certs.keyFile}`];
}

/** Wraps a test body so that a failure's message carries every pod's log tail. */
export function explained(sim: () => PodSimulation, body: () => Promise<void>): () => Promise<void> {
  return async () => {
    try {
      await body();
    } catch (error) {
      throw new Error(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n${sim().logTails()}`);
    }
  };
}

/** A member as `kvctl member list -o json` prints it. */
export interface ListedMember {
  readonly id: string;
  readonly name: string;
  readonly peerUrls: string[];
  readonly clientUrls: string[];
  readonly isLearner: boolean;
  readonly isLeader: boolean;
}

/** The running member pods' client addresses (their headless-Service names), with `https://` when `tls`. */
export function clientEndpoints(sim: PodSimulation, tls = false): string {
  const pods = [...sim.pods.values()].filter((p) => p.workload.kind === 'StatefulSet' && p.running && p.dnsPublished);
  return pods.map((p) => `${tls ? 'https://' : ''}${p.name}.${p.workload['spec'] && (p.workload['spec'] as { serviceName: string }).serviceName}.${sim.options.namespace}.svc.cluster.local:${p.launch.ports['client']}`).join(',');
}

/** `kvctl member list` (linearizable) from the client namespace; over TLS with `certs`. */
export async function memberList(sim: PodSimulation, certs?: ClientCerts): Promise<{ leader: string; members: ListedMember[] }> {
  const tls = certs === undefined ? [] : certFlags(certs);
  const r = await sim.run('kvctl', [`--endpoints=${clientEndpoints(sim, certs !== undefined)}`, ...tls, '--timeout=10s', '-o', 'json', 'member', 'list']);
  if (r.code !== 0) throw new Error(`kvctl member list failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { leader: string; members: ListedMember[] };
}

/**
 * Creates StatefulSet pods `from`..`to-1` at once (Parallel pod management), their DNS records
 * published one by one only after every process started — a slow cluster DNS — and waits
 * until every pod is ready.
 */
export async function startMembers(sim: PodSimulation, to: number, from = 0): Promise<SimPod[]> {
  const sts = sim.workload('StatefulSet', 'keyval');
  const pods: SimPod[] = [];
  for (let k = from; k < to; k++) {
    pods.push(await sim.createPod(sts, `keyval-${k}`, PodSimulation.memberIp(k), { dns: 'later' }));
  }
  for (const p of pods) {
    // Pacing, not synchronization: each record appears a little after the previous one.
    await new Promise((resolve) => setTimeout(resolve, 700));
    sim.publishDns(p);
  }
  await Promise.all(pods.map((p) => sim.waitReady(p, 120_000)));
  return pods;
}

/** The gateway Deployment's pod, ready. */
export async function startGateway(sim: PodSimulation): Promise<SimPod> {
  const pod = await sim.createPod(sim.workload('Deployment', 'keyval-gateway'), 'keyval-gateway-sim', PodSimulation.otherIp(0));
  await sim.waitReady(pod);
  return pod;
}
