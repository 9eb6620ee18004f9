/**
 * A production member (production-member.ts: RaftDriver + WalLogStore on a SimFileSystem +
 * MemoryStateMachine, on a SimScheduler) as a member of SimWorld (`--member production`): the
 * same world, network, fault injector, clients and checkers as the simulation's own member.
 *
 *     SimWorld ──deliver / client request──▶ process gate (pause) ──▶ RaftDriver
 *        ▲  protocol checker: Readies (driver's onReady), messages with the WAL's durable promises
 *        └─ safety checker: elections (leader watch), every apply (index, term, chain digest)
 *
 * Client writes become production commands (put, deleteRange, and a txn for compare-and-swap)
 * carrying a client session (the client operation's id, sequence 1: the state machine's
 * exactly-once table), proposed through RaftDriver.propose; reads go through
 * RaftDriver.readBarrier (ReadIndex, or the lease) and then a range read of the production
 * state machine. A paused process runs nothing: every timer, deferred task, disk completion,
 * message and request it would have handled waits, in order, until the pause ends.
 */
import { EntryType, ReadMode } from '@keyval/raft';
import type { ConfChange, Entry, HardState, LogIndex, Message, NodeId, RaftStatus, Ready, Term } from '@keyval/raft';
import { CompareResult, CompareTarget, DEFAULT_LIMITS, MemoryStateMachine, decodeCommand, encodeCommand } from '@keyval/statemachine';
import type { ApplyResult, Command, WriteRequest } from '@keyval/statemachine';
import type { LogStore } from '@keyval/storage';
import { outcomeOf } from '@keyval/outcome';
import { NotLeaderError } from '@keyval/raft';
import * as path from 'node:path';
import type { ClientRequest, ReplyOutcome } from '../client-protocol';
import type { KvCommand } from '../kv-state-machine';
import type { WorldMember } from '../member-kind';
import type { DurableLogView, WrittenLogView } from '../protocol-checker';
import { SimRandom, Stream } from '../sim-random';
import { SimViolation, ViolationKind } from '../sim.errors';
import type { SimWorld } from '../sim-world';
import { ProductionMember, fatalCause } from './production-member';
import type { ProductionHost } from './production-member';
import { SimFileSystem } from './sim-file-system';
import type { SimDiskFaults } from './sim-file-system';

/** A client attempt's deadline inside the member (the client gives up on its own earlier). */
const REQUEST_TIMEOUT_MS = 2_000;

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

export class WorldProductionMember implements WorldMember {
  readonly num: number;
  removed = false;
  readonly member: ProductionMember;
  /** Client operations applied here (from the session header of each applied command). */
  private readonly appliedOps = new Set<string>();
  private pausedUntilMs = 0;
  private paused: (() => void)[] = [];
  private pendingProposals = 0;

  private constructor(
    readonly id: NodeId,
    private readonly world: SimWorld,
    fs: SimFileSystem,
    sm: MemoryStateMachine,
    clockRate: number,
    readonly disk: SimDiskFaults,
  ) {
    this.num = Number(id);
    this.member = new ProductionMember(id, fs, sm, this.host(), clockRate);
  }

  /** A member with an empty simulated disk; `snapshotRoot` holds its state machine's (unused) snapshot directory. */
  static async create(world: SimWorld, id: NodeId, snapshotRoot: string, clockRate: number): Promise<WorldProductionMember> {
    const num = Number(id);
    const disk: SimDiskFaults = {
      fsyncDelayMs: (r) => Math.max(1, Math.round(world.sampleFsyncMs(r))),
      fsyncFailProb: 0,
      noSpace: false,
      tornWriteProb: 0.5,
    };
    const sm = await MemoryStateMachine.create({ snapshotDir: path.join(snapshotRoot, `m${num}`) });
    // The disk's completions reach the process through its gate too (a paused process sees them on resuming).
    const holder: { member?: WorldProductionMember } = {};
    const gate = {
      get now(): number {
        return world.now;
      },
      schedule: (delayMs: number, run: () => void) => world.schedule(delayMs, () => (holder.member as WorldProductionMember).gate(run)),
    };
    const fs = new SimFileSystem(gate, SimRandom.stream(world.seed, Stream.Disk, num), disk);
    holder.member = new WorldProductionMember(id, world, fs, sm, clockRate, disk);
    return holder.member;
  }

  get retired(): boolean {
    return this.member.retired;
  }

  get up(): boolean {
    return this.member.up;
  }

  get incarnation(): number {
    return this.member.incarnation;
  }

  /** The process runs `run` now, or when its pause ends (after what was waiting before it). */
  private gate(run: () => void): void {
    if (this.world.now < this.pausedUntilMs) {
      this.paused.push(run);
      return;
    }
    run();
  }

  /** What the production member's host calls, routed to the world and its checkers. */
  private host(): ProductionHost {
    const world = this.world;
    const p = world.profile;
    const record = (fn: () => void): void => {
      try {
        fn();
      } catch (error) {
        world.violation(error);
      }
    };
    return {
      get now(): number {
        return world.now;
      },
      schedule: (delayMs, run) => world.schedule(delayMs, () => this.gate(run)),
      seed: world.seed,
      voters: world.initialVoters(),
      raft: {
        electionTimeoutTicks: p.electionTimeoutTicks,
        heartbeatTicks: p.heartbeatTicks,
        preVote: p.raft.preVote,
        checkQuorum: p.raft.checkQuorum,
        leaseReads: p.raft.leaseReads,
        ...(p.raft.maxInflightMessages === undefined ? {} : { maxInflightMessages: p.raft.maxInflightMessages }),
        ...(p.raft.maxMessageBytes === undefined ? {} : { maxMessageBytes: p.raft.maxMessageBytes }),
        ...(p.raft.maxUncommittedBytes === undefined ? {} : { maxUncommittedBytes: p.raft.maxUncommittedBytes }),
      },
      tickMs: p.tickMs,
      log: (line) => world.log(line),
      send: (_from, messages) => record(() => world.send(this, messages)),
      violation: (violation) => world.violation(violation),
      onLeader: (_member, term) =>
        record(() => {
          world.checker.onLeader(this.num, term);
          world.onLeader(this, term);
        }),
      onApplied: (member, entry) =>
        record(() => {
          world.checker.onApply(this.num, entry, member.appliedChain);
          this.noteApplied(entry);
          world.onApplied(this, entry);
        }),
      onFatal: (_member, error, context) => this.onFatal(error, context),
      readyTaken: (_member, ready, term, written) => record(() => this.readyTaken(ready, term, written)),
      started: (_member, durable) => record(() => world.protocol.started(this.num, durable)),
    };
  }

  private readyTaken(ready: Ready, term: number, written: LogStore): void {
    const world = this.world;
    world.protocol.readyTaken(this.num, ready, written, world.now);
    const hard = ready.hardState;
    if (ready.softState?.role === 'leader' || this.member.isLeader()) {
      if (hard !== undefined && hard.term === term) {
        world.checker.onLeaderCommit(term, hard.commit);
      }
    }
  }

  private noteApplied(entry: Entry): void {
    if (entry.type !== EntryType.Normal || entry.data.byteLength === 0) {
      return;
    }
    const session = decodeCommand(entry.data, DEFAULT_LIMITS).session;
    if (session !== undefined && typeof session.clientId === 'string') {
      this.appliedOps.add(session.clientId);
    }
  }

  /** A fatal error: an injected disk fault makes the process exit and restart; anything else is a violation. */
  private onFatal(error: Error, context = `m${this.num} stopped on a fatal error`): void {
    const world = this.world;
    const cause = fatalCause(this.member, error);
    if (cause === 'retired') {
      world.log(`m${this.num} refuses to start: ${error.message}`);
      return;
    }
    if (cause === 'violation') {
      world.violation(new SimViolation(ViolationKind.CoreCrash, `${context}: ${error.message}`));
      return;
    }
    world.log(`m${this.num} fatal (injected disk fault): ${error.message}`);
    this.crash(0);
    const incarnation = this.incarnation;
    world.schedule(10 + world.faultRandom.nextInt(200), () => {
      if (this.incarnation === incarnation && !this.removed && !this.member.retired) {
        this.start();
      }
    });
  }

  start(): void {
    if (this.member.retired) {
      return;
    }
    this.pausedUntilMs = 0;
    this.paused = [];
    // start() reports its failures through the host; anything it throws is a bug in the simulation.
    this.member.start().catch((error: unknown) => this.world.violation(new SimViolation(ViolationKind.CheckerError, `m${this.num} start threw: ${String(error)}`)));
  }

  crash(_writtenBack: number): void {
    this.pendingProposals = 0;
    this.paused = [];
    this.pausedUntilMs = 0;
    this.member.crash('crash');
  }

  pause(untilMs: number): void {
    if (!this.up || untilMs <= this.pausedUntilMs) {
      return;
    }
    this.pausedUntilMs = untilMs;
    const incarnation = this.incarnation;
    this.world.schedule(untilMs - this.world.now, () => {
      if (this.incarnation === incarnation && this.world.now >= this.pausedUntilMs) {
        const queued = this.paused;
        this.paused = [];
        this.world.log(`m${this.num} resumes after a pause (${queued.length} queued events)`);
        for (const run of queued) {
          run();
        }
      }
    });
  }

  input(fn: () => void): void {
    this.gate(fn);
  }

  proposeConfChange(change: ConfChange, failed: (reason: string) => void): void {
    const driver = this.member.driver;
    if (!this.up || driver === undefined) {
      failed('the member is down');
      return;
    }
    driver.proposeConfChange(change, this.member.nowMs() + REQUEST_TIMEOUT_MS).catch((error: unknown) => failed(error instanceof Error ? `${error.name}: ${error.message}` : String(error)));
  }

  transferLeadership(target: NodeId): void {
    if (this.up) {
      this.member.driver?.transferLeadership(target);
    }
  }

  deliver(message: Message): void {
    this.gate(() => this.member.deliver(message));
  }

  unreachable(to: NodeId): void {
    this.gate(() => this.member.unreachable(to));
  }

  onClientRequest(request: ClientRequest): void {
    if (!this.up) {
      return;
    }
    const arrivedMs = this.world.now;
    this.gate(() => {
      if (request.kind === 'get') {
        this.read(request, arrivedMs);
      } else {
        this.write(request, request.command);
      }
    });
  }

  private write(request: ClientRequest, command: KvCommand): void {
    const incarnation = this.incarnation;
    const data = encodeCommand({ timestampMs: 0, session: { clientId: command.opId, seq: 1 }, op: writeOf(command) } satisfies Command);
    this.pendingProposals++;
    this.member.propose(data, REQUEST_TIMEOUT_MS).then(
      (result) => {
        this.settled(incarnation);
        this.answer(request, incarnation, resultOutcome(result));
      },
      (error: unknown) => {
        this.settled(incarnation);
        this.answer(request, incarnation, errorOutcome(error, true));
      },
    );
  }

  private settled(incarnation: number): void {
    if (this.incarnation === incarnation) {
      this.pendingProposals--;
    }
  }

  private read(request: ClientRequest & { kind: 'get' }, arrivedMs: number): void {
    const incarnation = this.incarnation;
    const term = this.member.driver?.currentTerm() ?? 0;
    const key = textEncoder.encode(request.key);
    this.member
      .readBarrier(request.lease ? ReadMode.Lease : ReadMode.Safe, REQUEST_TIMEOUT_MS)
      .then(async () => {
        if (this.incarnation !== incarnation) {
          return;
        }
        this.world.protocol.readServed(this.num, term, arrivedMs);
        const kv = (await this.member.sm.range({ key })).kvs[0];
        this.answer(request, incarnation, { type: 'ok', value: kv === undefined ? null : textDecoder.decode(kv.value) });
      })
      .catch((error: unknown) => {
        if (error instanceof SimViolation) {
          this.world.violation(error);
          return;
        }
        this.answer(request, incarnation, errorOutcome(error, false));
      });
  }

  private answer(request: ClientRequest, incarnation: number, outcome: ReplyOutcome): void {
    // A dead process answers nothing.
    if (this.incarnation === incarnation && this.up) {
      this.world.reply(this, { client: request.client, opId: request.opId, attempt: request.attempt, outcome });
    }
  }

  leaderTerm(): number | undefined {
    const driver = this.member.driver;
    return this.up && driver !== undefined && driver.isLeader() ? driver.currentTerm() : undefined;
  }

  status(): RaftStatus | undefined {
    return this.up ? this.member.driver?.raft.status() : undefined;
  }

  get unsyncedWrites(): number {
    return this.member.fs.unsyncedCount;
  }

  get appliedIndex(): number {
    return this.member.sm.appliedIndex();
  }

  get chainDigest(): number {
    return this.member.appliedChain;
  }

  hasApplied(opId: string): boolean {
    return this.appliedOps.has(opId);
  }

  writtenLog(): WrittenLogView {
    return this.member.store ?? this.durableLog();
  }

  durableLog(): DurableLogView & WrittenLogView {
    const d = this.member.durableLog;
    return {
      hardState: (): HardState => d.hard,
      lastIndex: () => d.lastIndex as LogIndex,
      firstIndex: () => 1 as LogIndex,
      term: (index) => (d.terms[index] ?? 0) as Term,
    };
  }

  pendingProposalCount(): number {
    return this.up ? this.pendingProposals : 0;
  }

  pendingProposalIds(): string[] {
    return [];
  }

  describe(): string {
    const st = this.status();
    const wal = this.member.store === undefined ? 'WAL closed' : `WAL ..${this.member.store.lastIndex()}`;
    const head = `m${this.num} (production): ${st === undefined ? 'down' : `${st.role} t${st.term} vote=${st.vote} leader=${st.leader} commit=${st.commit}`}`;
    return `${head} applied=${this.appliedIndex}; ${wal}, durable ..${this.member.durableLog.lastIndex}${this.member.retired ? ' (refused a damaged WAL)' : ''}`;
  }
}

/** The production write for a simulated client's command. */
function writeOf(command: KvCommand): WriteRequest {
  const key = textEncoder.encode(command.key);
  switch (command.kind) {
    case 'put':
      return { type: 'put', request: { key, value: textEncoder.encode(command.value) } };
    case 'delete':
      return { type: 'deleteRange', request: { key } };
    case 'cas': {
      const compare =
        command.expected === null
          ? { key, target: CompareTarget.Version as const, result: CompareResult.Equal, operand: 0 }
          : { key, target: CompareTarget.Value as const, result: CompareResult.Equal, value: textEncoder.encode(command.expected) };
      const success = command.newValue === null ? { type: 'deleteRange' as const, request: { key } } : { type: 'put' as const, request: { key, value: textEncoder.encode(command.newValue) } };
      return { type: 'txn', request: { compare: [compare], success: [success], failure: [] } };
    }
  }
}

function resultOutcome(result: ApplyResult): ReplyOutcome {
  if (result.kind === 'response') {
    const response = result.response;
    return { type: 'ok', succeeded: response.type === 'txn' ? response.response.succeeded : true };
  }
  if (result.kind === 'rejected') {
    return { type: 'failed', reason: result.error.message };
  }
  return { type: 'failed', reason: `unexpected result ${result.kind}` };
}

/** A refused or failed request, by the outcome its error carries (a typed field, never its text). */
function errorOutcome(error: unknown, write: boolean): ReplyOutcome {
  const { outcome, reason } = outcomeOf(error);
  const why = reason ?? (error instanceof Error ? error.name : 'error');
  if (error instanceof NotLeaderError) {
    return { type: 'redirect', leader: error.leaderHint === undefined || error.leaderHint === 0n ? undefined : Number(error.leaderHint) };
  }
  if (outcome === 'not-applied' || outcome === 'never-sent') {
    return { type: 'rejected', reason: why };
  }
  // A read that failed changed nothing; a write may have been applied.
  return write ? { type: 'unknown', reason: why } : { type: 'failed', reason: why };
}

