/**
 * Proof (issue 5, snapshots end to end) on real processes: a member that was down for many
 * writes catches up through a streamed snapshot (the log it needs is compacted); and a backup
 * saved over the network with `kvctl snapshot save`, restored with `kvctl snapshot restore`
 * into a fresh 3-member cluster, holds every key of the source with the same revisions, under a
 * new cluster id and membership. (The 50,000-write version runs in `npm run test:long`.)
 */
import * as path from 'node:path';
import { clusterForSuite, explain } from './harness/cluster';
import type { TestMember } from './harness/member-process';
import { waitFor } from './harness/wait-for';
import { adminOf, extraMember, extraMemberSpec, kvctlJson, kvctlOk, logged, putMany, readAll } from './ops-helpers';

jest.setTimeout(180_000);

/** Writes the member misses while it is down (the long script does 50,000). */
const MISSED_WRITES = Number(process.env['KEYVAL_IT_MISSED_WRITES'] ?? 5_000);
const FLAGS = ['--snapshot-count=1000', '--snapshot-catchup-entries=200'];

describe('snapshots (real processes)', () => {
  const c = clusterForSuite({ size: 3, memberFlags: () => FLAGS });

  it(
    `a member that was down for ${MISSED_WRITES} writes catches up through a snapshot`,
    explain(c, async () => {
      const leader = await c().leader();
      const down = c().followersOf(leader)[0] as TestMember;
      await down.stop('SIGKILL');
      const started = performance.now();
      await putMany(leader, 'missed', MISSED_WRITES);
      const writeSeconds = (performance.now() - started) / 1000;
      const st = await adminOf(leader).status({}, { timeoutMs: 5_000 });
      expect(st.snapshotIndex).toBeGreaterThan(0n);

      const restartedAt = performance.now();
      await c().restart(down, 60_000);
      await waitFor(async () => (await adminOf(down).status({}, { timeoutMs: 2_000 })).appliedIndex >= st.commitIndex, { timeoutMs: 120_000, what: `${down.name} to apply up to ${st.commitIndex}`, intervalMs: 100 });
      const caughtUpMs = Math.round(performance.now() - restartedAt);
      const status = await kvctlJson<{ name: string; lag?: number; walBytes?: number }[]>(c().endpoints(), ['status']);
      console.log(
        `[snapshot] ${MISSED_WRITES} writes in ${writeSeconds.toFixed(1)} s while ${down.name} was down; it caught up ${caughtUpMs} ms after its restart; ` +
          `leader snapshot index ${st.snapshotIndex}, WAL bytes per member: ${status.map((r) => `${r.name}=${String(r.walBytes)}`).join(' ')}`,
      );
      expect(logged(down, /installed a snapshot from the leader/)).toBe(true);
      const mine = await readAll(down.endpoint, { serializable: true });
      const theirs = await readAll(leader.endpoint, { serializable: true });
      expect(mine.keys.size).toBe(theirs.keys.size);
      expect(mine.keys).toEqual(theirs.keys);
    }),
  );

  it(
    'snapshot save, then snapshot restore into a fresh 3-member cluster: every key compares equal, at the same revision',
    explain(c, async () => {
      const leader = await c().leader();
      // Overwrites and deletes, so revisions and versions differ from a plain load.
      for (let k = 0; k < 3; k++) await kvctlOk(c().endpoints(), ['put', 'backup/counter', String(k)]);
      await kvctlOk(c().endpoints(), ['del', 'missed/0000', '--prefix']);
      await kvctlOk(c().endpoints(), ['put', 'backup/text', 'with spaces and ünïcode']);

      const file = path.join(c().dir, 'backup.snap');
      const saved = await kvctlJson<{ index: number; sizeBytes: number; from: string; members: { name: string }[] }>(c().endpoints(), ['snapshot', 'save', file]);
      expect(saved.members.map((m) => m.name).sort()).toEqual(['n1', 'n2', 'n3']);
      expect(c().endpoints()).toContain(saved.from); // the leader's, unless leadership moved meanwhile
      const source = await readAll(leader.endpoint);

      const specs = await Promise.all(['r1', 'r2', 'r3'].map((name) => extraMemberSpec(path.join(c().dir, 'restored'), name)));
      const initialCluster = specs.map((s) => `${s.name}=http://127.0.0.1:${s.peerPort}`).join(',');
      const restored: TestMember[] = [];
      try {
        for (const spec of specs) {
          const r = await kvctlJson<{ flags: string[]; revision: number; clusterId: string }>(c().endpoints(), [
            'snapshot',
            'restore',
            file,
            `--data-dir=${spec.dataDir}`,
            `--name=${spec.name}`,
            `--initial-cluster=${initialCluster}`,
            '--initial-cluster-token=restored',
          ]);
          expect(BigInt(r.revision)).toBe(source.revision);
          const member = extraMember(
            spec,
            r.flags.filter((f) => !f.startsWith('--data-dir=')),
          );
          restored.push(member);
        }
        for (const m of restored) m.start();
        await Promise.all(restored.map((m) => m.waitReady(60_000)));
        const copy = await readAll((restored[0] as TestMember).endpoint);
        expect(copy.revision).toBe(source.revision);
        expect(copy.keys.size).toBe(source.keys.size);
        expect(copy.keys).toEqual(source.keys);

        // A new cluster: its own members and id; the source cluster is unchanged.
        const endpoints = restored.map((m) => m.endpoint);
        const list = await kvctlJson<{ members: { name: string }[] }>(endpoints, ['member', 'list']);
        expect(list.members.map((m) => m.name).sort()).toEqual(['r1', 'r2', 'r3']);
        const restoredStatus = await adminOf(restored[0] as TestMember).status({}, { timeoutMs: 5_000 });
        const sourceStatus = await adminOf(leader).status({}, { timeoutMs: 5_000 });
        expect(restoredStatus.header?.clusterId).not.toBe(sourceStatus.header?.clusterId);
        await kvctlOk(endpoints, ['put', 'restored/only', 'here']);
        expect(await kvctlOk(endpoints, ['get', 'restored/only', '--print-value-only'])).toBe('here\n');
        expect(await kvctlOk(c().endpoints(), ['get', 'restored/only', '--count-only', '-o', 'json'])).toContain('"count": 0');
        console.log(`[snapshot] backup of ${source.keys.size} keys at revision ${source.revision} (${saved.sizeBytes} bytes, index ${saved.index}) restored into r1..r3: every key equal`);
      } finally {
        await Promise.all(restored.map((m) => m.stop('SIGKILL').catch(() => undefined)));
        for (const m of restored) m.closeChannel();
      }
    }),
  );
});
