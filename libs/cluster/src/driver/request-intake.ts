/**
 * Where clients' requests enter the driver: proposals (commands and membership changes) and
 * read barriers, each refused at once when the member stopped or a bound is reached, else
 * handed to the core and given a waiter that the Ready loop and the apply stage resolve.
 *
 *     propose ──▶ stopped? log store writable? queue bound? ──▶ core.propose ──▶ ProposalWaiters
 *     readBarrier ──▶ stopped? queue bound? (lease: ticks caught up) ──▶ core.readIndex ──▶ ReadWaiters
 *
 * Traced requests give their parent span explicitly (the client call's, from
 * ServerCall.traceContext); only a caller that gives none is traced under OpenTelemetry's
 * active context.
 */
import { context as otelContext } from '@opentelemetry/api';
import type { Context } from '@opentelemetry/api';
import { ReadMode } from '@keyval/raft';
import type { LogIndex, NodeId, ProposalTicket, RaftNode } from '@keyval/raft';
import type { LogStore } from '@keyval/storage';
import type { DriverObserver } from '../member/member-observer';
import type { Clock } from './clock';
import type { DriverCounters } from './driver-options';
import { MemberStoppedError, ResourceExhaustedError } from './driver.errors';
import type { RaftTracing } from './raft-tracing';
import type { Ticker } from './ticker';
import type { ProposalWaiters, ReadWaiters } from './waiters';

export interface IntakeParts<R> {
  readonly id: NodeId;
  readonly clock: Clock;
  readonly logStore: LogStore;
  readonly observer: DriverObserver | undefined;
  readonly tracing: RaftTracing | undefined;
  readonly counters: DriverCounters;
  readonly proposals: ProposalWaiters<R>;
  readonly reads: ReadWaiters;
  readonly ticker: Ticker;
  /** Proposals waiting to apply, at most. */
  readonly maxPendingProposals: number;
  /** Reads waiting, at most. */
  readonly maxPendingReads: number;
  node(): RaftNode;
  stopped(): MemberStoppedError | undefined;
  /** Runs `fn` against the core; a broken invariant stops the member. */
  guard<T>(fn: () => T): T;
  schedule(): void;
}

export class RequestIntake<R> {
  private readSequence = 0;

  constructor(private readonly parts: IntakeParts<R>) {}

  /** Refuses (not-applied) once the member stopped. */
  checkRunning(): void {
    const stopped = this.parts.stopped();
    if (stopped !== undefined) {
      throw new MemberStoppedError(stopped.message, 'not-applied');
    }
  }

  /** Proposes through `propose`; resolves with the result once applied, or rejects with a named error. */
  submit(deadlineMs: number, propose: () => ProposalTicket, parent: Context | undefined): Promise<R> {
    try {
      return this.submitOrThrow(deadlineMs, propose, parent);
    } catch (error) {
      this.parts.observer?.proposalsFailed(1);
      return Promise.reject(error);
    }
  }

  private submitOrThrow(deadlineMs: number, propose: () => ProposalTicket, parent: Context | undefined): Promise<R> {
    const parts = this.parts;
    this.checkRunning();
    const health = parts.logStore.health();
    if (!health.writable) {
      throw new ResourceExhaustedError(`the log store (${health.detail ?? health.state})`);
    }
    if (parts.proposals.size >= parts.maxPendingProposals) {
      throw new ResourceExhaustedError('the proposal queue');
    }
    const ticket = parts.guard(propose);
    parts.counters.proposals++;
    parts.schedule();
    const tracing = parts.tracing;
    if (tracing === undefined) {
      return parts.proposals.add(ticket.index, ticket.term, deadlineMs);
    }
    tracing.proposed(ticket.index, ticket.term, parts.clock.nowMs(), parent ?? otelContext.active());
    return tracing.watch(ticket.index, parts.proposals.add(ticket.index, ticket.term, deadlineMs));
  }

  /** A read barrier (see RaftDriver.readBarrier). */
  readBarrier(mode: ReadMode, deadlineMs: number, parent: Context | undefined): Promise<LogIndex> {
    const parts = this.parts;
    const stopped = parts.stopped();
    if (stopped !== undefined) {
      return Promise.reject(new MemberStoppedError(stopped.message, 'not-applied'));
    }
    if (parts.reads.size >= parts.maxPendingReads) {
      return Promise.reject(new ResourceExhaustedError('the read queue'));
    }
    parts.observer?.readBarrier(mode);
    if (mode === ReadMode.Lease) {
      // The lease is measured in ticks: make them reflect the clock right now.
      parts.ticker.catchUp();
    }
    const context = `${parts.id.toString(16)}:${++this.readSequence}`;
    const added = parts.reads.add(context, deadlineMs);
    const promise = parts.tracing === undefined ? added : parts.tracing.readBarrier(mode, added, parent ?? otelContext.active());
    try {
      parts.guard(() => parts.node().readIndex(context, mode));
    } catch (error) {
      parts.reads.failed(context, error as Error);
      return promise;
    }
    parts.schedule();
    return promise;
  }
}
