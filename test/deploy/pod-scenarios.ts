/**
 * Steps the pod simulation's scenarios share: start the StatefulSet's pods the way the
 * controller does with `podManagementPolicy: Parallel` (all at once), start the gateway's
 * pod, and read the member list with kvctl from the client namespace.
 */
import * as path from 'node:path';
import { chaosUnsupportedReason } from '../chaos/netns-network';
import { KUBERNETES_DIR, renderKustomization } from './manifests';
import { PodSimulation } from './pod-sim';
import type { SimPod } from './pod-sim';

/** The simulation of an overlay (rendered now), in Kubernetes namespace kv-sim; throws when it cannot run here. */
export async function simulateOverlay(overlay: string): Promise<PodSimulation> {
  const unsupported = await chaosUnsupportedReason();
  if (unsupported !== undefined) throw new Error(`the pod simulation cannot run here: ${unsupported}`);
  return PodSimulation.start(renderKustomization(path.join(KUBERNETES_DIR, 'overlays', overlay)), { namespace: 'kv-sim' });
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

/** The running member pods' client addresses (their headless-Service names). */
export function clientEndpoints(sim: PodSimulation): string {
  const pods = [...sim.pods.values()].filter((p) => p.workload.kind === 'StatefulSet' && p.running && p.dnsPublished);
  return pods.map((p) => `${p.name}.${p.workload['spec'] && (p.workload['spec'] as { serviceName: string }).serviceName}.${sim.options.namespace}.svc.cluster.local:${p.launch.ports['client']}`).join(',');
}

/** `kvctl member list` (linearizable) from the client namespace. */
export async function memberList(sim: PodSimulation): Promise<{ leader: string; members: ListedMember[] }> {
  const r = await sim.run('kvctl', [`--endpoints=${clientEndpoints(sim)}`, '--timeout=10s', '-o', 'json', 'member', 'list']);
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
