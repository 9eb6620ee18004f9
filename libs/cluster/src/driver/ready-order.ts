/**
 * The order a driver must handle a Ready in (libs/raft ready.ts), asserted where it is kept:
 * the Ready loop reports each stage here as it starts it, and a stage out of order is a
 * RaftInvariantError, which stops the member (a crashed member is safe, one that acknowledged
 * a write it had not made durable is not). Each check is a pair: what must already have
 * happened, and what must not have happened yet.
 *
 *     begin(ready) ─▶ persisted() ─▶ sending() ─▶ applying(entries) ─▶ advancing()
 *        (earlyMessages may go at any point after begin; every later stage needs the writes
 *         of this Ready — snapshot, entries, hard state — to be durable first)
 */
import { invariant } from '@keyval/raft';
import type { Entry, Ready } from '@keyval/raft';

export class ReadyOrder {
  private ready: Ready | undefined;
  /** The Ready writes something (a snapshot, entries, a hard state) that must be durable before the later stages. */
  private writes = false;
  private persistedDone = false;
  private sent = false;
  private applied = false;

  /** A Ready was taken from the core. */
  begin(ready: Ready): void {
    invariant(this.ready === undefined, 'a Ready was taken before the previous one was advanced');
    invariant(ready.entries.length === 0 || ready.entries.every((e, k) => k === 0 || e.index === (ready.entries[k - 1] as Entry).index + 1), 'a Ready whose entries are not consecutive');
    this.ready = ready;
    this.writes = ready.entries.length > 0 || ready.hardState !== undefined || ready.snapshot !== undefined;
    this.persistedDone = false;
    this.sent = false;
    this.applied = false;
  }

  /** The Ready's snapshot, entries and hard state are durable; the log store now ends at `storeLastIndex`. */
  persisted(storeLastIndex: number): void {
    const ready = this.current('persisted');
    invariant(!this.persistedDone, 'a Ready was persisted twice');
    invariant(!this.sent && !this.applied, 'a Ready was persisted after its messages were sent or its entries applied');
    const last = ready.entries[ready.entries.length - 1];
    invariant(last === undefined || storeLastIndex >= last.index, () => `the log store ends at ${storeLastIndex} after persisting entries up to ${String(last?.index)}`);
    this.persistedDone = true;
  }

  /** The messages that depend on this Ready's writes are about to be sent. */
  sending(): void {
    this.current('sending');
    invariant(!this.writes || this.persistedDone, 'messages sent before the writes they depend on were durable');
    invariant(!this.sent, 'a Ready’s messages were sent twice');
    this.sent = true;
  }

  /** Committed entries are about to be applied; the log store ends at `storeLastIndex`. */
  applying(entries: readonly Entry[], storeLastIndex: number): void {
    this.current('applying');
    invariant(!this.writes || this.persistedDone, 'committed entries applied before this Ready’s writes were durable');
    const last = entries[entries.length - 1];
    invariant(last === undefined || last.index <= storeLastIndex, () => `applying entry ${String(last?.index)}, which the log store (ending at ${storeLastIndex}) does not hold`);
    invariant(!this.applied, 'a Ready’s committed entries were applied twice');
    this.applied = true;
  }

  /** The Ready is about to be acknowledged to the core. */
  advancing(): void {
    const ready = this.current('advancing');
    invariant(!this.writes || this.persistedDone, 'a Ready was advanced before it was persisted');
    invariant(ready.messages.length === 0 || this.sent, 'a Ready was advanced without sending its messages');
    invariant(ready.committedEntries.length === 0 || this.applied, 'a Ready was advanced without applying its committed entries');
    this.ready = undefined;
  }

  private current(stage: string): Ready {
    const ready = this.ready;
    invariant(ready !== undefined, () => `Ready stage "${stage}" with no Ready in flight`);
    return ready;
  }
}
