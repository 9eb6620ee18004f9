/**
 * Backup and restore of the StatefulSet, as docs/deploy.md describes it, on the pod simulation
 * (pod-sim.ts, dev overlay): `kvctl snapshot save` from a running cluster; a new cluster's
 * volumes each restored with `kvctl snapshot restore` (the pod's name, the pods' peer URLs,
 * the ConfigMap's token) by a one-off pod mounting the claim; the pods then start in parallel,
 * each resumes the member restore wrote, and the cluster serves exactly what was acknowledged
 * before the backup (nothing written after it). `npm run test:deploy` (CI runs it); needs root
 * and `ip netns`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { POD_LAYOUT, PodSimulation } from './pod-sim';
import { clientEndpoints, memberList, explained, simulateOverlay, startMembers } from './pod-scenarios';

jest.setTimeout(900_000); // beforeAll may wait for the simulation lock (another run of a pod suite)

describe('backing up and restoring the keyval StatefulSet (dev overlay) on a pod simulation', () => {
  let sim: PodSimulation;
  const explain = (body: () => Promise<void>): (() => Promise<void>) => explained(() => sim, body);

  beforeAll(async () => {
    sim = await simulateOverlay('dev');
  });

  afterAll(async () => {
    await sim?.close();
  });

  it('restores a backup into a new cluster whose pods resume the restored members', explain(async () => {
    const pods = await startMembers(sim, 3);
    const members = (): string => sim.serviceTarget('keyval-client', 2379);
    const before = sim.startWriter(members(), 'backup', 4);
    await before.waitAcked(300);
    await before.stop();
    const backup = path.join(POD_LAYOUT.workRoot, 'keyval.snap');
    const saved = await sim.run('kvctl', [`--endpoints=${clientEndpoints(sim)}`, '--timeout=60s', 'snapshot', 'save', backup]);
    expect(saved).toMatchObject({ code: 0 });
    const after = sim.startWriter(members(), 'after', 2);
    await after.waitAcked(50);
    await after.stop();

    // A new cluster: the pods gone, fresh volumes, each restored before the pods start.
    const sts = sim.workload('StatefulSet', 'keyval');
    for (const p of pods) {
      await sim.deletePod(p.name);
      sim.deleteVolume(p.volumeDir);
    }
    const launch = pods[0]?.launch;
    const mountPath = Object.values(launch?.mounts ?? {})[0] as string;
    const token = launch?.env['KEYVAL_INITIAL_CLUSTER_TOKEN'] as string;
    const peer = (k: number): string => `keyval-${k}=http://keyval-${k}.keyval-peer.kv-sim.svc.cluster.local:${launch?.ports['peer']}`;
    for (const k of [0, 1, 2]) {
      const restored = await sim.runWithVolume(sim.volumeDirOf(sts, `keyval-${k}`) as string, mountPath, 'kvctl', [
        'snapshot', 'restore', backup, `--data-dir=${mountPath}/data`, `--name=keyval-${k}`, `--initial-cluster=${[0, 1, 2].map(peer).join(',')}`, `--initial-cluster-token=${token}`,
      ]);
      expect(restored).toMatchObject({ code: 0 });
    }
    const fresh = await startMembers(sim, 3);
    for (const p of fresh) expect(p.logTail(400)).toContain('"start":"resume"');
    expect((await memberList(sim)).members.map((m) => m.name).sort()).toEqual(['keyval-0', 'keyval-1', 'keyval-2']);
    const restoredKeys = new Set(await sim.readKeys(members(), 'backup/'));
    expect(before.acked.filter((k) => !restoredKeys.has(k))).toEqual([]);
    expect(await sim.readKeys(members(), 'after/')).toEqual([]);
    fs.rmSync(backup, { force: true });
  }));
});
