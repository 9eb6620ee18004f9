/**
 * The StatefulSet on a pod simulation (pod-sim.ts), from the dev overlay as kustomize renders
 * it: three pods start in parallel — their peers' DNS names published only later — and form
 * one cluster; a pod deleted and recreated on its volume resumes as the same member (and
 * while it is gone, a scale-down that would leave no live quorum is refused); a rolling
 * restart of every pod, one at a time as the StatefulSet controller does it (SIGTERM, the next
 * pod only once the previous one is ready and minReadySeconds passed), under a write load
 * through the gateway, fails no write and loses none. Scaling 3 → 5 → 3 (pod-scaling.long.ts)
 * and backup and restore (pod-restore.long.ts) run with `npm run test:deploy`.
 * Both need root and `ip netns`, and the built apps (`npm run build`, as `npm test` does).
 */
import { PodSimulation } from './pod-sim';
import type { SimPod } from './pod-sim';
import { clientEndpoints, memberList, explained, simulateOverlay, startGateway, startMembers } from './pod-scenarios';

jest.setTimeout(900_000); // beforeAll may wait for the simulation lock (another run of a pod suite)


describe('the keyval StatefulSet (dev overlay) on a pod simulation', () => {
  let sim: PodSimulation;
  let pods: SimPod[] = [];
  /** Where applications connect: the gateway Service's client port. */
  const gateway = (): string => sim.serviceTarget('keyval-gateway', 2379);

  beforeAll(async () => {
    sim = await simulateOverlay('dev');
  });

  afterAll(async () => {
    await sim?.close();
  });

  const explain = (body: () => Promise<void>): (() => Promise<void>) => explained(() => sim, body);

  it('starts three pods in parallel, before their DNS names resolve, and they form one cluster', explain(async () => {
    pods = await startMembers(sim, 3);
    const list = await memberList(sim);
    expect(list.members.map((m) => m.name).sort()).toEqual(['keyval-0', 'keyval-1', 'keyval-2']);
    expect(list.members.every((m) => !m.isLearner && m.clientUrls.length === 1)).toBe(true);
    expect(list.members.find((m) => m.name === 'keyval-1')?.peerUrls).toEqual(['http://keyval-1.keyval-peer.kv-sim.svc.cluster.local:2380']);
    for (const p of pods) expect(p.logTail(400)).toContain('"start":"bootstrap"');
    await startGateway(sim);
  }));

  it('recreates a deleted pod on its volume as the same member, refusing meanwhile a scale-down without quorum', explain(async () => {
    const before = await memberList(sim);
    const writer = sim.startWriter(gateway(), 'recreate', 4);
    await writer.waitAcked(200);
    const ended = await sim.deletePod('keyval-1');
    expect(ended).toMatchObject({ code: 0, killed: false });
    // keyval-1 is down: keeping keyval-0 and keyval-1 would leave 1 live voter of 2.
    const refused = await sim.run('kvctl', [`--endpoints=${clientEndpoints(sim)}`, 'member', 'scale-down', '2']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('refused: the 2 voters kept would have 1 running, fewer than the quorum of 2; nothing was removed');
    expect((await memberList(sim)).members).toHaveLength(3);
    const again = await sim.createPod(sim.workload('StatefulSet', 'keyval'), 'keyval-1', PodSimulation.memberIp(1));
    pods[1] = again;
    await sim.waitReady(again);
    await writer.waitAcked(writer.acked.length + 200);
    await writer.stop();
    expect(again.logTail(400)).toContain('"start":"resume"');
    expect((await memberList(sim)).members.map((m) => m.id).sort()).toEqual(before.members.map((m) => m.id).sort());
    expect(writer.failed).toEqual([]);
    const stored = new Set(await sim.readKeys(gateway(), 'recreate/'));
    expect(writer.acked.filter((k) => !stored.has(k))).toEqual([]);
  }));

  it('rolls every pod, one at a time and only when the previous is ready, under writes through the gateway: none fails, none lost', explain(async () => {
    const sts = sim.workload('StatefulSet', 'keyval');
    const minReadyMs = ((sts['spec'] as { minReadySeconds?: number }).minReadySeconds ?? 0) * 1000;
    const writer = sim.startWriter(gateway(), 'rolling', 8);
    await writer.waitAcked(200);
    for (const ordinal of [2, 1, 0]) {
      const name = `keyval-${ordinal}`;
      const before = writer.acked.length;
      const ended = await sim.deletePod(name);
      expect(ended).toMatchObject({ code: 0, killed: false });
      const pod = await sim.createPod(sts, name, PodSimulation.memberIp(ordinal));
      pods[ordinal] = pod;
      await sim.waitReady(pod);
      // The controller waits minReadySeconds after readiness; writes must go on meanwhile.
      const readyAt = Date.now();
      await writer.waitAcked(before + 100);
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, minReadyMs - (Date.now() - readyAt))));
      expect(await sim.isReady(pod)).toBe(true);
    }
    await writer.stop();
    expect(writer.failed).toEqual([]);
    const stored = new Set(await sim.readKeys(gateway(), 'rolling/'));
    expect(writer.acked.filter((k) => !stored.has(k))).toEqual([]);
    expect(writer.acked.length).toBeGreaterThan(600);
    expect((await memberList(sim)).members.filter((m) => !m.isLearner)).toHaveLength(3);
  }));
});
