/**
 * The watch workload's checker: a pure function over what the writers did, what each watcher
 * saw, and the history read back from every member at the end. It asserts, for every watcher:
 *
 *   - its events have strictly increasing mod revisions (a revision seen twice is a
 *     `duplicate`, one below the previous an `out-of-order`);
 *   - each event is the history's event at that revision (`mismatch` otherwise: a value nobody
 *     wrote there, a wrong key or type);
 *   - it saw every event of its keys in the history up to the revision it confirmed reaching
 *     (`gap` otherwise);
 *   - it was never cancelled with `compact_revision` (the run never compacts: `compacted`).
 *
 * and for the history itself: every acknowledged write is in it at the revision its answer
 * carried (`lost`), every event in it was written by some writer, acknowledged or not
 * (`unexpected`), and every member read back the same history (`divergent`).
 */

/** One change as a watcher (or the final history read) saw it. */
export interface SeenEvent {
  readonly key: string;
  readonly type: 'put' | 'delete';
  /** The value written (null for a delete). */
  readonly value: string | null;
  readonly modRevision: number;
}

/** A write a writer attempted, with how it ended. */
export interface AttemptedWrite {
  readonly key: string;
  /** The value put, null for a delete. */
  readonly value: string | null;
  readonly status: 'ok' | 'info' | 'fail';
  /** Acknowledged: the revision of its answer. */
  readonly revision?: number;
  /** Acknowledged delete: how many keys it deleted (0: it made no revision). */
  readonly deleted?: number;
}

/** What one watcher did. */
export interface WatcherRecord {
  readonly name: string;
  /** The watched key, or the start of the prefix. */
  readonly key: string;
  readonly prefix: boolean;
  /** Every event delivered, in the order received, over all its streams. */
  readonly events: readonly SeenEvent[];
  /** The highest revision it knows it has every event up to (progress or events). */
  readonly reachedRevision: number;
  /** Streams opened (1 + reconnects). */
  readonly streams: number;
  /** Set when a stream was cancelled with compact_revision. */
  readonly compactRevision?: number;
}

export type WatchViolationKind = 'gap' | 'duplicate' | 'out-of-order' | 'mismatch' | 'compacted' | 'lost' | 'unexpected' | 'divergent';

export interface WatchViolation {
  readonly kind: WatchViolationKind;
  readonly text: string;
}

export interface WatchCheckInput {
  readonly writes: readonly AttemptedWrite[];
  readonly watchers: readonly WatcherRecord[];
  /** The history read back from each member (name → events in order); undefined: the read failed. */
  readonly histories: ReadonlyMap<string, readonly SeenEvent[] | undefined>;
  /** Whether the run compacted (then a compact_revision cancel is allowed). This harness never does. */
  readonly compacts: boolean;
}

export interface WatchCheckResult {
  readonly violations: readonly WatchViolation[];
  readonly counts: Record<WatchViolationKind, number>;
  /** Events in the reference history. */
  readonly historyEvents: number;
  /** Events delivered to watchers, in all. */
  readonly delivered: number;
  /** Members whose history could not be read (nothing was checked against them). */
  readonly unread: readonly string[];
  /** Whether any member's history was read (else nothing could be checked: unknown). */
  readonly read: boolean;
}

const describeEvent = (e: SeenEvent): string => `${e.type} ${e.key}=${e.value === null ? '∅' : JSON.stringify(e.value)}@${e.modRevision}`;

function sameEvent(a: SeenEvent, b: SeenEvent): boolean {
  return a.key === b.key && a.type === b.type && a.value === b.value && a.modRevision === b.modRevision;
}

/** Whether `watcher` watches `key`. */
function watches(watcher: Pick<WatcherRecord, 'key' | 'prefix'>, key: string): boolean {
  return watcher.prefix ? key.startsWith(watcher.key) : key === watcher.key;
}

/** The reference history (the first member that answered); members that read another one are divergent. */
function referenceHistory(histories: WatchCheckInput['histories'], add: (v: WatchViolation) => void): readonly SeenEvent[] | undefined {
  let reference: { name: string; events: readonly SeenEvent[] } | undefined;
  for (const [name, events] of histories) {
    if (events === undefined) continue;
    if (reference === undefined) {
      reference = { name, events };
      continue;
    }
    const differs = events.length !== reference.events.length || events.some((e, k) => !sameEvent(e, reference?.events[k] as SeenEvent));
    if (differs) {
      const k = events.findIndex((e, i) => reference?.events[i] === undefined || !sameEvent(e, reference.events[i] as SeenEvent));
      add({ kind: 'divergent', text: `${name}'s history differs from ${reference.name}'s (${events.length} vs ${reference.events.length} events, first difference at #${k < 0 ? reference.events.length : k})` });
    }
  }
  return reference?.events;
}

/** The history against the writes: nothing acknowledged missing, nothing nobody wrote. */
function checkWrites(writes: readonly AttemptedWrite[], byRevision: ReadonlyMap<number, SeenEvent>, history: readonly SeenEvent[], add: (v: WatchViolation) => void): void {
  const attempted = new Set(writes.filter((w) => w.status !== 'fail').map((w) => `${w.key}\u0000${w.value ?? '\u0001'}`));
  for (const w of writes) {
    if (w.status !== 'ok' || w.revision === undefined || (w.value === null && w.deleted === 0)) continue;
    const e = byRevision.get(w.revision);
    const wanted: SeenEvent = { key: w.key, type: w.value === null ? 'delete' : 'put', value: w.value, modRevision: w.revision };
    if (e === undefined || !sameEvent(e, wanted)) {
      add({ kind: 'lost', text: `acknowledged ${describeEvent(wanted)} is not in the history (there: ${e === undefined ? 'nothing' : describeEvent(e)})` });
    }
  }
  for (const e of history) {
    // Every put's value is unique; a delete must be a delete someone attempted of that key.
    if (!attempted.has(`${e.key}\u0000${e.value ?? '\u0001'}`)) add({ kind: 'unexpected', text: `${describeEvent(e)} in the history was never written` });
  }
}

/** One watcher against the reference history. */
function checkWatcher(w: WatcherRecord, byRevision: ReadonlyMap<number, SeenEvent>, history: readonly SeenEvent[], compacts: boolean, add: (v: WatchViolation) => void): void {
  if (w.compactRevision !== undefined && !compacts) {
    add({ kind: 'compacted', text: `${w.name} was cancelled with compact_revision ${w.compactRevision}, but the run never compacts` });
  }
  let last = 0;
  const seen = new Set<number>();
  for (const e of w.events) {
    if (seen.has(e.modRevision)) {
      add({ kind: 'duplicate', text: `${w.name} saw revision ${e.modRevision} again (${describeEvent(e)})` });
    } else if (e.modRevision < last) {
      add({ kind: 'out-of-order', text: `${w.name} saw ${describeEvent(e)} after revision ${last}` });
    }
    seen.add(e.modRevision);
    last = Math.max(last, e.modRevision);
    const there = byRevision.get(e.modRevision);
    if (!watches(w, e.key) || there === undefined || !sameEvent(there, e)) {
      add({ kind: 'mismatch', text: `${w.name} saw ${describeEvent(e)}; the history has ${there === undefined ? 'nothing' : describeEvent(there)} at that revision` });
    }
  }
  const until = Math.max(w.reachedRevision, last);
  for (const e of history) {
    if (e.modRevision > until) break;
    if (watches(w, e.key) && !seen.has(e.modRevision)) add({ kind: 'gap', text: `${w.name} never saw ${describeEvent(e)} (it reached revision ${until})` });
  }
}

/** Checks a watch run; see the file comment for what each violation means. */
export function checkWatchRun(input: WatchCheckInput): WatchCheckResult {
  const violations: WatchViolation[] = [];
  const add = (v: WatchViolation): void => {
    violations.push(v);
  };
  const reference = referenceHistory(input.histories, add);
  const history = reference ?? [];
  const byRevision = new Map<number, SeenEvent>();
  for (const e of history) {
    // One write per revision in this workload; a second event at a revision is itself wrong.
    if (byRevision.has(e.modRevision)) add({ kind: 'duplicate', text: `the history has two events at revision ${e.modRevision}` });
    byRevision.set(e.modRevision, e);
  }
  if (reference !== undefined) {
    checkWrites(input.writes, byRevision, history, add);
    for (const w of input.watchers) checkWatcher(w, byRevision, history, input.compacts, add);
  }
  const counts = Object.fromEntries((['gap', 'duplicate', 'out-of-order', 'mismatch', 'compacted', 'lost', 'unexpected', 'divergent'] as const).map((k) => [k, violations.filter((v) => v.kind === k).length])) as Record<
    WatchViolationKind,
    number
  >;
  const unread = [...input.histories].filter(([, events]) => events === undefined).map(([name]) => name);
  return { violations, counts, historyEvents: history.length, delivered: input.watchers.reduce((n, w) => n + w.events.length, 0), unread, read: reference !== undefined };
}
