/**
 * Long proof (issue 5, `npm run test:long`): with the default snapshot settings
 * (--snapshot-count 10000, --snapshot-catchup-entries 5000), a member that was down for
 * 50,000 writes catches up through a snapshot plus the trailing log, and holds every key.
 * The default suite runs a scaled-down version (snapshot.spec.ts).
 */
import { clusterForSuite, explain } from './harness/cluster';
import type { TestMember } from './harness/member-process';
import { waitFor } from './harness/wait-for';
import { adminOf, logged, putMany, readAll } from './ops-helpers';

jest.setTimeout(900_000);

const MISSED_WRITES = 50_000;

describe('a member down for 50,000 writes (default snapshot settings)', () => {
  const c = clusterForSuite({ size: 3 });

  it(
    'catches up through a snapshot and holds every key',
    explain(c, async () => {
      const leader = await c().leader();
      const down = c().followersOf(leader)[0] as TestMember;
      await down.stop('SIGKILL');
      const started = performance.now();
      await putMany(leader, 'missed', MISSED_WRITES, 128);
      const writeSeconds = (performance.now() - started) / 1000;
      const st = await adminOf(leader).status({}, { timeoutMs: 5_000 });
      const restartedAt = performance.now();
      await c().restart(down, 120_000);
      await waitFor(async () => (await adminOf(down).status({}, { timeoutMs: 2_000 })).appliedIndex >= st.commitIndex, {
        timeoutMs: 300_000,
        what: `${down.name} to apply up to ${st.commitIndex}`,
        intervalMs: 200,
      });
      const caughtUpMs = Math.round(performance.now() - restartedAt);
      console.log(
        `[long] ${MISSED_WRITES} writes in ${writeSeconds.toFixed(1)} s (${Math.round(MISSED_WRITES / writeSeconds)}/s) while ${down.name} was down; ` +
          `leader snapshot index ${st.snapshotIndex}, WAL ${st.walBytes} bytes; ${down.name} caught up ${caughtUpMs} ms after its restart`,
      );
      expect(logged(down, /installed a snapshot from the leader/)).toBe(true);
      const mine = await readAll(down.endpoint, { serializable: true });
      const theirs = await readAll(leader.endpoint, { serializable: true });
      expect(mine.keys.size).toBe(MISSED_WRITES);
      expect(mine.keys).toEqual(theirs.keys);
    }),
  );
});
