/**
 * Long proof (issue 5, `npm run test:long`): during 1,000,000 writes the WAL on disk stays
 * bounded by the snapshot interval and the segment size — snapshots every --snapshot-count
 * entries let the log be compacted (keeping --snapshot-catchup-entries behind), and whole
 * segments before the compaction point are deleted. Every member's WAL bytes are sampled
 * (Admin.Status) once a second and the largest is printed next to the bound and to what the
 * log would hold without compaction.
 */
import { runLoad } from '@keyval/loadgen';
import { clusterForSuite, explain } from './harness/cluster';
import { adminOf } from './ops-helpers';

jest.setTimeout(3_600_000);

const WRITES = Number(process.env['KEYVAL_LONG_WRITES'] ?? 1_000_000);
const VALUE_BYTES = 256;
/** The member defaults (apps/keyval config and libs/storage wal-options). */
const SNAPSHOT_COUNT = 10_000;
const CATCHUP_ENTRIES = 5_000;
const SEGMENT_BYTES = 64 * 1024 * 1024;
/** A generous per-entry size on disk: the value, the key, the command and record framing. */
const ENTRY_BYTES_MAX = VALUE_BYTES + 256;
/**
 * The bound: the active segment, one older segment that still holds entries after the
 * compaction point, and the entries a snapshot interval plus the trailing window hold (twice,
 * for a snapshot being taken while more arrive).
 */
const WAL_BOUND_BYTES = 2 * SEGMENT_BYTES + 2 * (SNAPSHOT_COUNT + CATCHUP_ENTRIES) * ENTRY_BYTES_MAX;

describe(`the WAL stays bounded during ${WRITES} writes`, () => {
  const c = clusterForSuite({ size: 3 });

  it(
    'WAL bytes on every member stay under the bound',
    explain(c, async () => {
      const leader = await c().leader();
      const maxWal = new Map<string, number>();
      let samples = 0;
      const sample = async (): Promise<void> => {
        for (const m of c().running()) {
          const st = await adminOf(m).status({}, { timeoutMs: 2_000 }).catch(() => undefined);
          if (st !== undefined) maxWal.set(m.name, Math.max(maxWal.get(m.name) ?? 0, Number(st.walBytes)));
        }
        samples++;
      };
      const timer = setInterval(() => void sample(), 1_000);
      let lastReport = 0;
      const result = await runLoad({
        endpoints: [leader.endpoint],
        workload: 'put',
        clients: 128,
        operations: WRITES,
        durationMs: 3_000_000,
        valueBytes: VALUE_BYTES,
        keySpace: 100_000,
        readRatio: 0,
        serializable: false,
        timeoutMs: 30_000,
        connections: 2,
        onProgress: (done) => {
          if (done - lastReport >= 100_000) {
            lastReport = done;
            console.log(`[long] ${done} writes; largest WAL so far ${Math.max(...maxWal.values(), 0)} bytes`);
          }
        },
      }).finally(() => clearInterval(timer));
      await sample();
      const largest = Math.max(...maxWal.values());
      const uncompacted = WRITES * (VALUE_BYTES + 64);
      console.log(
        `[long] ${result.operations} writes in ${result.seconds.toFixed(0)} s (${Math.round(result.opsPerSecond)}/s, p50 ${result.p50Ms.toFixed(1)} ms, p99 ${result.p99Ms.toFixed(1)} ms, ${result.errors} errors); ` +
          `${samples} samples; largest WAL per member: ${[...maxWal].map(([n, b]) => `${n}=${(b / 2 ** 20).toFixed(1)} MiB`).join(' ')}; ` +
          `bound ${(WAL_BOUND_BYTES / 2 ** 20).toFixed(1)} MiB; without compaction the log would hold at least ${(uncompacted / 2 ** 20).toFixed(0)} MiB` +
          (result.firstError === undefined ? '' : `; first error: ${result.firstError}`),
      );
      // This run is about the WAL, not availability: the load generator does not retry, and a
      // loaded machine moves leadership now and then (a write caught in an election may time
      // out). Nearly every write must still succeed.
      expect(result.errors).toBeLessThanOrEqual(WRITES / 1_000);
      expect(largest).toBeGreaterThan(0);
      expect(largest).toBeLessThanOrEqual(WAL_BOUND_BYTES);
    }),
  );
});
