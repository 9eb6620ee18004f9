/**
 * Traces of the write path inside a member (OpenTelemetry API only; the app gives the tracer).
 * A proposal made while a span is active (the client call's) gets its own span, and the
 * stages it goes through get theirs, each with the Raft index and term:
 *
 *     etcdserverpb.KV/Put (server span, active when propose() is called)
 *       └─ raft.propose  index, term ───────────────────────────────────── ends when applied (or fails)
 *            ├─ raft.replicate  from the proposal to its commit by a quorum (per entry)
 *            ├─ raft.persist  ◄── one span per Ready written: the WAL append ──┐ shared by every
 *            │    └─ wal.fsync     and its fdatasync                          │ proposal in it:
 *            └─ raft.apply    ◄── one span per apply batch ───────────────────┘ links, not parents
 *
 * A persist or apply batch serves many writes with one disk write, fsync or RocksDB batch.
 * Its span is created once, as a child of the first traced proposal in the batch, with a link
 * to each other traced proposal; each of those proposals' spans links back to it. No span
 * pretends to be the parent of writes it merely carried.
 *
 * Cost: without a tracer the driver holds no RaftTracing. With one, a proposal whose span is
 * not recording (not sampled) is forgotten at once; the batch stages look at `traced.size`
 * first and do nothing when no traced proposal is in flight. Times are performance.now() ms
 * (the driver's monotonic clock) turned into epoch time for the spans.
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Context, Link, Span, TimeInput, Tracer } from '@opentelemetry/api';
import type { Entry, LogIndex, ReadMode, Term } from '@keyval/raft';
import type { SyncTiming } from '@keyval/storage';

/** Most proposals traced at once (a limit on everything); beyond it new ones are not traced. */
export const TRACED_PROPOSALS_MAX = 10_000;

interface TracedProposal {
  readonly span: Span;
  readonly term: Term;
  readonly proposedAtMs: number;
}


export class RaftTracing {
  /** Recording proposal spans by log index, until applied or failed. */
  private readonly traced = new Map<number, TracedProposal>();

  constructor(
    private readonly tracer: Tracer,
    /** Turns the driver's monotonic ms into wall-clock ms since the epoch (Scheduler.epochMs). */
    private readonly epochMs: (monotonicMs: number) => number,
  ) {}

  private epoch(ms: number): TimeInput {
    return this.epochMs(ms);
  }

  /** A proposal was accepted at index/term: starts its span under `parent` (the request's), kept only if recording. */
  proposed(index: LogIndex, term: Term, nowMs: number, parent: Context): void {
    if (this.traced.size >= TRACED_PROPOSALS_MAX) {
      return;
    }
    const span = this.tracer.startSpan('raft.propose', { kind: SpanKind.INTERNAL, startTime: this.epoch(nowMs) }, parent);
    if (!span.isRecording()) {
      return;
    }
    span.setAttributes({ 'raft.index': index, 'raft.term': term });
    this.traced.set(index, { span, term, proposedAtMs: nowMs });
  }

  /** Ends the span of the proposal at `index` with the error `promise` rejects with, if it does (returns `promise`). */
  watch<R>(index: LogIndex, promise: Promise<R>): Promise<R> {
    if (this.traced.has(index)) {
      promise.then(undefined, (error: unknown) => this.failed(index, error instanceof Error ? error : new Error(String(error))));
    }
    return promise;
  }

  /** The proposal at `index` failed (refused, timed out, lost): its span ends with the error. */
  failed(index: LogIndex, error: Error): void {
    const proposal = this.traced.get(index);
    if (proposal !== undefined) {
      this.traced.delete(index);
      proposal.span.recordException(error);
      proposal.span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
      proposal.span.end();
    }
  }

  /** Every traced proposal failed (the member stopped, or the disk is full). */
  failedAll(error: Error): void {
    for (const index of [...this.traced.keys()]) {
      this.failed(index as LogIndex, error);
    }
  }

  /** A Ready's entries were written between beganMs and endMs (with the fdatasync that covered them, if any). */
  persisted(entries: readonly Entry[], beganMs: number, endMs: number, sync: SyncTiming | undefined): void {
    const batch = this.batchOf(entries);
    if (batch === undefined) {
      return;
    }
    let bytes = 0;
    for (const entry of entries) bytes += entry.data.byteLength;
    const first = entries[0] as Entry;
    const last = entries[entries.length - 1] as Entry;
    const span = this.batchSpan('raft.persist', batch, beganMs, {
      'raft.index.first': first.index,
      'raft.index.last': last.index,
      'raft.term': last.term,
      'wal.entries': entries.length,
      'wal.bytes': bytes,
      'wal.sync': sync !== undefined,
    });
    if (sync !== undefined && sync.endMs >= beganMs) {
      const parent = trace.setSpan(ROOT_CONTEXT, span);
      this.tracer.startSpan('wal.fsync', { kind: SpanKind.INTERNAL, startTime: this.epoch(sync.startMs) }, parent).end(this.epoch(sync.endMs));
    }
    span.end(this.epoch(endMs));
  }

  /** Entries the leader saw committed: each traced proposal's replication span, from proposal to commit. */
  committed(entries: readonly Entry[], commitIndex: number, nowMs: number): void {
    if (this.traced.size === 0) {
      return;
    }
    for (const entry of entries) {
      const proposal = this.traced.get(entry.index);
      if (proposal === undefined || proposal.term !== entry.term) {
        continue;
      }
      const parent = trace.setSpan(ROOT_CONTEXT, proposal.span);
      const span = this.tracer.startSpan('raft.replicate', { kind: SpanKind.INTERNAL, startTime: this.epoch(proposal.proposedAtMs) }, parent);
      span.setAttributes({ 'raft.index': entry.index, 'raft.term': entry.term, 'raft.commit_index': commitIndex });
      span.end(this.epoch(nowMs));
      proposal.span.addEvent('committed', { 'raft.commit_index': commitIndex }, this.epoch(nowMs));
    }
  }

  /** An apply batch ran between beganMs and endMs: its span, then the traced proposals in it end. */
  applied(entries: readonly Entry[], beganMs: number, endMs: number): void {
    const batch = this.batchOf(entries);
    if (batch === undefined) {
      return;
    }
    const first = entries[0] as Entry;
    const last = entries[entries.length - 1] as Entry;
    this.batchSpan('raft.apply', batch, beganMs, { 'raft.index.first': first.index, 'raft.index.last': last.index, 'raft.apply.entries': entries.length }).end(this.epoch(endMs));
    for (const { index, proposal } of batch) {
      this.traced.delete(index);
      if (proposal.term !== (entries.find((e) => e.index === index) as Entry).term) {
        proposal.span.setStatus({ code: SpanStatusCode.ERROR, message: `the entry at index ${index} was replaced by another leader's` });
      }
      proposal.span.end(this.epoch(endMs));
    }
  }

  /** A linearizable read's barrier: a span under `parent` (the request's), ended when the promise settles. */
  readBarrier(mode: ReadMode, barrier: Promise<LogIndex>, parent: Context): Promise<LogIndex> {
    const span = this.tracer.startSpan('raft.read_index', { kind: SpanKind.INTERNAL }, parent);
    if (!span.isRecording()) {
      return barrier;
    }
    span.setAttribute('raft.read_mode', mode);
    return barrier.then(
      (index) => {
        span.setAttribute('raft.read_index', index);
        span.end();
        return index;
      },
      (error: unknown) => {
        span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
        span.end();
        throw error;
      },
    );
  }

  /** The traced proposals among `entries`, in log order, or undefined when none is. */
  private batchOf(entries: readonly Entry[]): { index: number; proposal: TracedProposal }[] | undefined {
    if (this.traced.size === 0 || entries.length === 0) {
      return undefined;
    }
    let batch: { index: number; proposal: TracedProposal }[] | undefined;
    for (const entry of entries) {
      const proposal = this.traced.get(entry.index);
      if (proposal !== undefined) {
        (batch ??= []).push({ index: entry.index, proposal });
      }
    }
    return batch;
  }

  /**
   * One span for a stage shared by `batch`: a child of the first traced proposal, linked to the
   * others, each of which links back to it.
   */
  private batchSpan(name: string, batch: readonly { proposal: TracedProposal }[], beganMs: number, attributes: Record<string, number | boolean>): Span {
    const [head, ...rest] = batch as [{ proposal: TracedProposal }, ...{ proposal: TracedProposal }[]];
    const links: Link[] = rest.map(({ proposal }) => ({ context: proposal.span.spanContext(), attributes: { 'raft.batch.member': true } }));
    const parent = trace.setSpan(ROOT_CONTEXT, head.proposal.span);
    const span = this.tracer.startSpan(name, { kind: SpanKind.INTERNAL, startTime: this.epoch(beganMs), links, attributes }, parent);
    span.setAttribute('raft.batch.traced_proposals', batch.length);
    for (const { proposal } of rest) {
      proposal.span.addLink({ context: span.spanContext(), attributes: { 'raft.batch.stage': name } });
    }
    return span;
  }
}
