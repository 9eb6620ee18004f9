/**
 * Scaling the StatefulSet on the pod simulation (pod-sim.ts), dev overlay, under a write load
 * through the gateway: 3 → 5 (the new pods join as learners through a running member and are
 * promoted once caught up) → 3 (`kvctl member scale-down 3`, the removed pods stop and, when
 * restarted by the kubelet, stay idle until `kubectl scale` deletes them and their volumes) →
 * 4 again on a fresh volume; then a pod whose volume was lost is replaced by a new member.
 * No acknowledged write is lost, none fails. About 1.5 minutes (`npm run test:deploy`; CI runs
 * it). Needs root and `ip netns`.
 */
import { waitFor } from '../integration/harness/wait-for';
import { PodSimulation } from './pod-sim';
import type { SimPod } from './pod-sim';
import { clientEndpoints, memberList, explained, simulateOverlay, startGateway, startMembers } from './pod-scenarios';

jest.setTimeout(900_000); // beforeAll may wait for the simulation lock (another run of a pod suite)

describe('scaling the keyval StatefulSet (dev overlay) on a pod simulation', () => {
  let sim: PodSimulation;
  const gateway = (): string => sim.serviceTarget('keyval-gateway', 2379);
  const explain = (body: () => Promise<void>): (() => Promise<void>) => explained(() => sim, body);

  /** Waits until the member list shows exactly `names` as voters, no learner. */
  async function waitVoters(names: readonly string[]): Promise<void> {
    await waitFor(
      async () => {
        const list = await memberList(sim);
        const voters = list.members.filter((m) => !m.isLearner).map((m) => m.name).sort();
        return JSON.stringify(voters) === JSON.stringify([...names].sort()) && list.members.length === names.length ? true : undefined;
      },
      { timeoutMs: 120_000, what: `voters ${names.join(', ')}`, intervalMs: 1_000 },
    );
  }

  beforeAll(async () => {
    sim = await simulateOverlay('dev');
    await startMembers(sim, 3);
    await startGateway(sim);
  });

  afterAll(async () => {
    await sim?.close();
  });

  it('scales 3 → 5 → 3 → 4 under writes through the gateway, losing and failing none', explain(async () => {
    const writer = sim.startWriter(gateway(), 'scale', 4);
    await writer.waitAcked(200);

    const added = await startMembers(sim, 5, 3);
    await waitVoters(['keyval-0', 'keyval-1', 'keyval-2', 'keyval-3', 'keyval-4']);
    for (const p of added) {
      expect(p.logTail(400)).toContain('adding this pod to the running cluster as a learner');
      expect(p.logTail(400)).toContain('"start":"join"');
    }
    await writer.waitAcked(writer.acked.length + 200);

    const down = await sim.run('kvctl', [`--endpoints=${clientEndpoints(sim)}`, '--timeout=30s', 'member', 'scale-down', '3']);
    expect(down).toMatchObject({ code: 0 });
    expect(down.stdout).toContain('Removed keyval-4, keyval-3.\nNow scale the StatefulSet: kubectl scale statefulset keyval --replicas=3');
    await waitVoters(['keyval-0', 'keyval-1', 'keyval-2']);
    const removed = added.map((p) => sim.pods.get(p.name) as SimPod);
    for (const p of removed) {
      // A removed member stops by itself; the kubelet restarts the container, which stays idle.
      expect(await p.waitExit(30_000)).toBe(true);
      expect(p.exit).toEqual({ code: 0, signal: null });
      p.start(sim.commands);
    }
    for (const p of removed) {
      await waitFor(async () => ((await sim.httpStatus(p.ip, p.launch.ports['health'] as number, '/healthz')) === 200 ? true : undefined), { timeoutMs: 30_000, what: `${p.name} idle` });
      expect(await sim.isReady(p)).toBe(false);
      expect(p.logTail(5)).toContain('staying idle until the StatefulSet is scaled down');
    }
    await writer.waitAcked(writer.acked.length + 200);
    // `kubectl scale statefulset keyval --replicas=3`: highest ordinal first; whenScaled: Delete.
    for (const p of [...removed].reverse()) {
      expect(await sim.deletePod(p.name)).toMatchObject({ code: 0, killed: false });
      sim.deleteVolume(p.volumeDir);
    }
    await writer.waitAcked(writer.acked.length + 200);

    const again = await startMembers(sim, 4, 3);
    await waitVoters(['keyval-0', 'keyval-1', 'keyval-2', 'keyval-3']);
    expect(again[0]?.logTail(400)).toContain('"start":"join"');
    await writer.waitAcked(writer.acked.length + 200);
    await writer.stop();
    expect(writer.failed).toEqual([]);
    const stored = new Set(await sim.readKeys(gateway(), 'scale/'));
    expect(writer.acked.filter((k) => !stored.has(k))).toEqual([]);
  }));

  it('replaces the member of a pod whose volume was lost with a new one', explain(async () => {
    const before = (await memberList(sim)).members.find((m) => m.name === 'keyval-2');
    const pod = sim.pods.get('keyval-2') as SimPod;
    await sim.deletePod('keyval-2');
    sim.deleteVolume(pod.volumeDir);
    const fresh = await sim.createPod(sim.workload('StatefulSet', 'keyval'), 'keyval-2', PodSimulation.memberIp(2));
    await sim.waitReady(fresh, 120_000);
    await waitVoters(['keyval-0', 'keyval-1', 'keyval-2', 'keyval-3']);
    const after = (await memberList(sim)).members.find((m) => m.name === 'keyval-2');
    expect(fresh.logTail(400)).toContain('its data is lost; removing that member to add this pod as a new one');
    expect(after?.id).not.toBe(before?.id);
  }));
});
