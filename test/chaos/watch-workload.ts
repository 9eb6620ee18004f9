/**
 * The watch workload. Writers (the run's workers) put unique values to, and now and then
 * delete, a few keys under `watch/`; watchers (ResumingWatcher) watch the prefix and single
 * keys from revision 1, each starting at another member and moving on when its stream fails or
 * stalls, resuming after the last revision it received. At the end, once the writers stopped:
 *
 *   1. every watcher is given time to reach the highest acknowledged revision;
 *   2. the whole history of `watch/` is read back from EVERY member (a watch from revision 1
 *      pinned to that member, until its progress passes that revision);
 *   3. watch-check.ts compares the writes, the watchers and the histories.
 *
 * The run never compacts (no `--auto-compaction-*` flag, no Compact call), so a watch cancelled
 * with compact_revision is a violation.
 */
import type { Invocation } from '@keyval/lincheck';
import type { AttemptedWrite, SeenEvent } from './watch-check';
import { checkWatchRun } from './watch-check';
import { ResumingWatcher } from './resuming-watcher';
import type { FinalReport, OpRecorder, Worker, Workload, WorkloadClient, WorkloadContext } from './workloads';
import { perform } from './workload-steps';

/** The keys the writers change. */
export const WATCH_KEYS = ['watch/0', 'watch/1', 'watch/2', 'watch/3'] as const;
const PREFIX = 'watch/';
/** Share of writes that are deletes. */
const DELETE_SHARE = 0.15;
/** Watchers: three on the prefix, three on single keys; each starts at member (index mod members). */
const WATCHER_SPECS: ReadonlyArray<{ key: string; prefix: boolean }> = [
  { key: PREFIX, prefix: true },
  { key: PREFIX, prefix: true },
  { key: PREFIX, prefix: true },
  { key: 'watch/0', prefix: false },
  { key: 'watch/1', prefix: false },
  { key: 'watch/2', prefix: false },
];
/** A watcher that has not advanced for this long while writes go on moves to another member, ms. */
const STALL_MS = 4_000;
const PROGRESS_EVERY_MS = 1_000;
/** Longest wait, per member, for the final history read, ms. */
const HISTORY_READ_MS = 30_000;
/** Violations listed in the report at most. */
const VIOLATIONS_LISTED = 200;

export class WatchWorkload implements Workload {
  readonly kind = 'watch';
  private readonly writes: AttemptedWrite[] = [];
  private readonly watchers: ResumingWatcher[];
  private writing = true;

  constructor(private readonly context: WorkloadContext) {
    this.watchers = WATCHER_SPECS.map(
      (spec, k) =>
        new ResumingWatcher(context.endpoints, {
          name: `w${k}:${spec.key}${spec.prefix ? '*' : ''}`,
          ...spec,
          startRevision: 1,
          home: k,
          progressEveryMs: PROGRESS_EVERY_MS,
          stallMs: STALL_MS,
          wantProgress: () => this.writing || this.maxAcknowledged() > 0,
        }),
    );
  }

  start(): void {
    for (const w of this.watchers) w.start();
  }

  stop(): void {
    this.writing = false;
  }

  async step(worker: Worker, recorder: OpRecorder): Promise<void> {
    const key = WATCH_KEYS[worker.random.int(WATCH_KEYS.length)] as string;
    if (worker.random.next() < DELETE_SHARE) {
      const invocation: Invocation = { process: worker.process, key, f: 'delete' };
      let deleted: number | undefined;
      let revision: number | undefined;
      const outcome = await perform(worker, recorder, invocation, async () => {
        const result = await worker.client.delete(key);
        ({ deleted, revision } = result);
        return result;
      });
      this.writes.push({ key, value: null, status: outcome.status, ...(revision === undefined ? {} : { revision }), ...(deleted === undefined ? {} : { deleted }) });
      return;
    }
    const value = `${worker.index}.${worker.count++}`;
    let revision: number | undefined;
    const outcome = await perform(worker, recorder, { process: worker.process, key, f: 'put', value }, async () => {
      const result = await worker.client.put(key, value);
      revision = result.revision;
      return result;
    });
    this.writes.push({ key, value, status: outcome.status, ...(revision === undefined ? {} : { revision }) });
  }

  private maxAcknowledged(): number {
    return this.writes.reduce((max, w) => (w.status === 'ok' && w.revision !== undefined ? Math.max(max, w.revision) : max), 0);
  }

  async finish(_reader: WorkloadClient, _recorder: OpRecorder, _processBase: number, timeoutMs: number): Promise<FinalReport> {
    this.writing = false;
    const target = this.maxAcknowledged();
    const deadline = performance.now() + timeoutMs;
    await Promise.all(this.watchers.map((w) => w.waitReached(target, Math.max(0, deadline - performance.now()))));
    await Promise.all(this.watchers.map((w) => w.stop()));
    const seenMax = Math.max(target, ...this.watchers.flatMap((w) => w.events.map((e) => e.modRevision)));
    const histories = new Map<string, readonly SeenEvent[] | undefined>();
    for (const [k, endpoint] of this.context.endpoints.entries()) histories.set(endpoint.name, await this.readHistory(k, seenMax));
    const result = checkWatchRun({ writes: this.writes, watchers: this.watchers.map((w) => w.record()), histories, compacts: false });
    const stalled = this.watchers.filter((w) => w.reached < target).map((w) => `${w.record().name} reached only revision ${w.reached} of ${target} (the highest acknowledged) by the end`);
    const violations = [...stalled, ...result.violations.map((v) => `${v.kind}: ${v.text}`)];
    const count = (status: string): number => this.writes.filter((w) => w.status === status).length;
    const endings = new Map<string, number>();
    for (const w of this.watchers) {
      for (const [why, n] of w.endings) {
        const kind = why.replace(/ (on|by) \S+/, '');
        endings.set(kind, (endings.get(kind) ?? 0) + n);
      }
    }
    return {
      read: result.read,
      lost: result.counts.lost,
      violations: violations.slice(0, VIOLATIONS_LISTED),
      details: {
        writes: this.writes.length,
        acknowledged: count('ok'),
        indeterminate: count('info'),
        failed: count('fail'),
        highestAcknowledgedRevision: target,
        historyEvents: result.historyEvents,
        watchers: this.watchers.length,
        eventsDelivered: result.delivered,
        streams: this.watchers.reduce((n, w) => n + w.streams, 0),
        streamEndings: [...endings].map(([why, n]) => `${n}× ${why}`).join('; '),
        stalled: stalled.length,
        ...Object.fromEntries(Object.entries(result.counts)),
        unread: result.unread.join(' '),
        violations: violations.length,
      },
    };
  }

  /** The whole history of the prefix as member `k` has it, up to at least `revision`; undefined if it could not be read in time. */
  private async readHistory(k: number, revision: number): Promise<readonly SeenEvent[] | undefined> {
    let reading = true;
    const reader = new ResumingWatcher(this.context.endpoints, {
      name: `history@${this.context.endpoints[k]?.name ?? k}`,
      key: PREFIX,
      prefix: true,
      startRevision: 1,
      home: k,
      progressEveryMs: 500,
      stallMs: 5_000,
      wantProgress: () => reading,
      pinned: true,
    });
    reader.start();
    const ok = await reader.waitReached(revision, HISTORY_READ_MS);
    reading = false;
    await reader.stop();
    return ok ? reader.events.filter((e) => e.modRevision <= revision) : undefined;
  }
}
