/**
 * One production member in the simulation: libs/cluster's RaftDriver (the Ready loop, log
 * persistence, the apply queue, waiters, the ticker) over libs/storage's WalLogStore on a
 * SimFileSystem, applying to libs/statemachine's MemoryStateMachine, all on a SimScheduler.
 * Only the transport (the simulated network) and the process (crash, restart) are the
 * simulation's.
 *
 *     world ──deliver──▶ RaftDriver ──save──▶ DurabilityWatch ──▶ WalLogStore ──▶ SimFileSystem
 *                          │   └──send──▶ promise checks ──▶ world network
 *                          └──apply──▶ ApplyWatch (order, commit, state-machine safety) ──▶ MemoryStateMachine
 *
 * The state machine stands for RocksStateMachine, which is durable at every apply batch: it
 * survives a crash with everything applied, and a restart resumes applying after it. The WAL
 * and the driver are rebuilt from the simulated disk on every restart.
 */
import { RaftDriver } from '@keyval/cluster';
import type { PeerTransport, SnapshotSource } from '@keyval/cluster';
import { SeededRandom, bootstrapEntries } from '@keyval/raft';
import type { ReadMode } from '@keyval/raft';
import type { Entry, HardState, LogIndex, Message, NodeId, RaftConfig, Ready, Term } from '@keyval/raft';
import type { ApplyResult, MemoryStateMachine } from '@keyval/statemachine';
import { CorruptLogError, WalLogStore } from '@keyval/storage';
import type { LogStore, LogUpdate, SaveOptions } from '@keyval/storage';
import { hashData, hashInts } from '../hash';
import { mixSeed } from '../sim-random';
import { SimViolation, ViolationKind } from '../sim.errors';
import type { SimFileSystem } from './sim-file-system';
import { SimScheduler } from './sim-scheduler';
import type { SimAgenda } from './sim-scheduler';

/** What a production member needs from the world. */
export interface ProductionHost extends SimAgenda {
  readonly seed: number;
  readonly voters: readonly NodeId[];
  readonly raft: Pick<RaftConfig, 'electionTimeoutTicks' | 'heartbeatTicks' | 'preVote' | 'checkQuorum'> &
    Partial<Pick<RaftConfig, 'leaseReads' | 'maxInflightMessages' | 'maxMessageBytes' | 'maxUncommittedBytes'>>;
  readonly tickMs: number;
  log(line: string): void;
  send(from: ProductionMember, messages: readonly Message[]): void;
  /** A check failed (recorded; the run stops after the current event). */
  violation(violation: SimViolation): void;
  onLeader(member: ProductionMember, term: number): void;
  onApplied(member: ProductionMember, entry: Entry): void;
  /** The driver (or the WAL while opening) stopped on a fatal error: the process must exit. */
  onFatal(member: ProductionMember, error: Error, context?: string): void;
  /** The driver took a Ready in `term` (before handling it); `written` is its log store. Optional. */
  readyTaken?(member: ProductionMember, ready: Ready, term: number, written: LogStore): void;
  /** The member (re)started with this hard state durable. Optional. */
  started?(member: ProductionMember, durable: HardState): void;
}

/**
 * What a member's fatal error means: `retired` — its WAL refused a disk whose cold data the
 * simulation damaged (as it must; the member stays down, an operator would replace it);
 * `injected` — an injected disk fault (the process exits and restarts); `violation` — anything
 * else. Marks the member retired in the first case.
 */
export function fatalCause(member: ProductionMember, error: Error): 'retired' | 'injected' | 'violation' {
  if (member.diskDamaged && error instanceof CorruptLogError) {
    member.retired = true;
    return 'retired';
  }
  return causedByInjectedFault(error) ? 'injected' : 'violation';
}

/**
 * Whether a fatal error was caused by a fault the simulation injected: an fsync's EIO, or
 * ENOSPC where the WAL cannot back off (its bootstrap entries).
 */
export function causedByInjectedFault(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e !== undefined && depth < 8; depth++) {
    const code = typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
    if (code === 'EIO' || code === 'ENOSPC') {
      return true;
    }
    e = typeof e === 'object' && e !== null ? (e as { cause?: unknown }).cause : undefined;
  }
  return false;
}

/** Why a recovered WAL does not hold `terms` and `hard` as acknowledged durable, or undefined when it does. */
function recoveryProblem(store: LogStore, terms: readonly number[], hard: HardState): string | undefined {
  const last = terms.length - 1;
  if (store.lastIndex() < last) {
    return `the recovered WAL ends at ${store.lastIndex()}, but entries up to ${last} were acknowledged durable`;
  }
  for (let i = 1; i <= last; i++) {
    if (store.term(i as LogIndex) !== terms[i]) {
      return `the recovered WAL has ${i}/t${store.term(i as LogIndex)}, but ${i}/t${String(terms[i])} was acknowledged durable`;
    }
  }
  const got = store.hardState();
  if (got.term < hard.term || (got.term === hard.term && hard.vote !== 0n && got.vote !== hard.vote)) {
    return `the recovered WAL has term ${got.term} vote ${got.vote}, but term ${hard.term} vote ${hard.vote} was acknowledged durable`;
  }
  return undefined;
}

/** The log a member has been promised durable: what every resolved save made it. */
/** Applies a save's entries to a list of terms (index 0 unused): a suffix from the first entry's index is replaced. */
function applyUpdate(terms: number[], update: LogUpdate): void {
  const entries = update.entries ?? [];
  const first = entries[0];
  if (first !== undefined) {
    terms.length = Math.min(terms.length, first.index);
    for (const e of entries) {
      terms.push(e.term);
    }
  }
}

export class DurabilityWatch {
  /** terms[i]: term of entry i (index 0 unused). */
  terms: number[] = [0];
  hard: HardState = { term: 0 as Term, vote: 0n as NodeId, commit: 0 as LogIndex };

  /**
   * Saves issued and not yet resolved, oldest first (saves resolve in order). A crash may keep
   * any prefix of them (the OS wrote some back): one may truncate entries promised before, a
   * conflicting suffix the member itself replaced (§5.3).
   */
  pending: LogUpdate[] = [];

  reset(store: LogStore): void {
    this.pending = [];
    this.terms = [0];
    for (let i = 1; i <= store.lastIndex(); i++) {
      this.terms.push(store.term(i as LogIndex));
    }
    this.hard = store.hardState();
  }

  issued(update: LogUpdate): void {
    this.pending.push(update);
  }

  resolved(update: LogUpdate): void {
    const index = this.pending.indexOf(update);
    if (index >= 0) {
      this.pending.splice(index, 1);
    }
    applyUpdate(this.terms, update);
    if (update.hardState !== undefined) {
      this.hard = update.hardState;
    }
  }

  /** What a recovered log may hold: the resolved state, then that state after each prefix of the pending saves. */
  candidates(): { terms: number[]; hard: HardState }[] {
    const all = [{ terms: this.terms, hard: this.hard }];
    let terms = [...this.terms];
    let hard = this.hard;
    for (const update of this.pending) {
      terms = [...terms];
      applyUpdate(terms, update);
      hard = update.hardState ?? hard;
      all.push({ terms, hard });
    }
    return all;
  }

  get lastIndex(): number {
    return this.terms.length - 1;
  }

}

export class ProductionMember {
  readonly num: number;
  driver: RaftDriver<ApplyResult> | undefined;
  private scheduler: SimScheduler | undefined;
  /** The WAL of the running incarnation (its written log). */
  store: WalLogStore | undefined;
  private unreachableListener: ((peer: NodeId) => void) | undefined;
  /** Running: started and not crashed (messages and requests reach the driver). */
  up = false;
  incarnation = 0;
  /** Cold data on its disk was damaged (an injected bit flip) while it was down. */
  diskDamaged = false;
  /** Its WAL refused to open (damaged disk): it stays down for the rest of the run. */
  retired = false;
  private readonly durable = new DurabilityWatch();
  /** Digest of every entry applied, in order (durable with the state machine). */
  private chain = 0;
  private ledTerm = -1;
  readonly stats = { restarts: 0, crashes: 0, fatal: 0, applied: 0 };
  /**
   * A member added by a membership change: it starts with empty storage and learns its
   * configuration from the leader, instead of writing the bootstrap entries.
   */
  joining = false;

  constructor(
    readonly id: NodeId,
    readonly fs: SimFileSystem,
    readonly sm: MemoryStateMachine,
    private readonly host: ProductionHost,
    /** This member's clock rate (drift). */
    private readonly clockRate: number,
  ) {
    this.num = Number(id);
  }

  private get dataDir(): string {
    return `/data/m${this.num}`;
  }

  /** Starts (or restarts) the process: recovers the WAL, checks it kept its promises, runs the driver. */
  async start(): Promise<void> {
    const incarnation = ++this.incarnation;
    const scheduler = new SimScheduler(this.host, this.clockRate, 1_000_000 * this.num);
    this.scheduler = scheduler;
    let store: WalLogStore;
    try {
      store = await WalLogStore.open(this.dataDir, { fileSystem: this.fs, scheduler, segmentBytes: 64 * 1024, probeIntervalMs: 50 });
    } catch (error) {
      if (this.incarnation === incarnation) {
        // An injected fault (an fsync failing while the WAL opens) makes the process exit;
        // anything else is a WAL that cannot recover what the simulated disk kept.
        this.host.onFatal(this, error instanceof Error ? error : new Error(String(error)), `m${this.num}: the WAL did not recover`);
      }
      return;
    }
    if (this.incarnation !== incarnation) {
      return;
    }
    this.checkRecovered(store);
    if (store.lastIndex() === 0 && !this.joining) {
      const boot = bootstrapEntries(this.host.voters);
      try {
        await store.save({ entries: boot.entries, hardState: boot.hardState });
      } catch (error) {
        // A full or failing disk while bootstrapping: the process exits (an injected fault) or it is a violation.
        if (this.incarnation === incarnation) {
          this.host.onFatal(this, error instanceof Error ? error : new Error(String(error)), `m${this.num}: the bootstrap entries were not saved`);
        }
        return;
      }
      if (this.incarnation !== incarnation) {
        return;
      }
    }
    this.durable.reset(store);
    this.store = store;
    this.host.started?.(this, store.hardState());
    if (store.lastIndex() < this.sm.appliedIndex()) {
      this.host.violation(new SimViolation(ViolationKind.LostWrite, `m${this.num}: the recovered WAL ends at ${store.lastIndex()} but the state machine applied ${this.sm.appliedIndex()}`));
      return;
    }
    const driver = new RaftDriver<ApplyResult>({
      raft: { id: this.id, ...this.host.raft, random: new SeededRandom(mixSeed(this.host.seed, this.num, incarnation)) },
      tickMs: this.host.tickMs,
      logStore: this.watchedStore(store),
      stateMachine: { appliedIndex: () => this.sm.appliedIndex(), apply: (entries) => this.apply(incarnation, entries) },
      transport: this.transport(incarnation),
      scheduler,
      snapshotEveryEntries: 0,
      onReady: (ready, term) => this.host.readyTaken?.(this, ready, term, store),
      onFatal: (error) => {
        if (this.incarnation === incarnation) {
          this.stats.fatal++;
          this.host.onFatal(this, error, `m${this.num} stopped on a fatal error`);
        }
      },
    });
    this.driver = driver;
    driver.onLeaderChange((leader, term) => {
      if (this.incarnation === incarnation && leader === this.id && term !== this.ledTerm) {
        this.ledTerm = term;
        this.host.onLeader(this, term);
      }
    });
    await driver.start();
    if (this.incarnation !== incarnation) {
      return;
    }
    this.up = true;
    this.stats.restarts++;
    this.host.log(`m${this.num} start (incarnation ${incarnation}, applied ${this.sm.appliedIndex()}, log ..${store.lastIndex()} t${store.hardState().term})`);
  }

  /**
   * A recovered WAL holds everything it promised: every entry a resolved save covered (unless
   * a later resolved save replaced it) and the term and vote last made durable.
   */
  private checkRecovered(store: WalLogStore): void {
    const candidates = this.durable.candidates();
    const problems = candidates.map((promised) => recoveryProblem(store, promised.terms, promised.hard));
    // The resolved state, or it with a prefix of the saves in flight at the crash written back.
    if (problems.every((p) => p !== undefined)) {
      this.host.violation(new SimViolation(ViolationKind.LostWrite, `m${this.num}: ${String(problems[0])}${candidates.length > 1 ? ` (nor does it match any of the ${candidates.length - 1} saves in flight at the crash)` : ''}`));
    }
  }

  /** The process dies: its scheduler, open files and driver are gone; the disk keeps what it kept. */
  crash(reason: string): void {
    if (this.incarnation === 0) {
      return;
    }
    this.incarnation++;
    this.up = false;
    this.scheduler?.kill();
    this.driver?.stop(reason);
    this.driver = undefined;
    this.store = undefined;
    this.ledTerm = -1;
    const disk = this.fs.crash();
    this.stats.crashes++;
    this.host.log(`m${this.num} CRASH (${reason}); disk: ${disk}`);
  }

  /** The transport noticed `peer` cannot be reached. */
  unreachable(peer: NodeId): void {
    if (this.up) {
      this.unreachableListener?.(peer);
    }
  }

  /** What it promised durable: the entries' terms and the hard state its resolved saves made durable. */
  get durableLog(): DurabilityWatch {
    return this.durable;
  }

  /** A linearizable (ReadIndex or lease) read barrier through the driver: resolves with the read index once applied to it. */
  readBarrier(mode: ReadMode, timeoutMs: number): Promise<LogIndex> {
    const driver = this.driver;
    const scheduler = this.scheduler;
    if (!this.up || driver === undefined || scheduler === undefined) {
      return Promise.reject(new Error(`m${this.num} is down`));
    }
    return driver.readBarrier(mode, scheduler.nowMs() + timeoutMs);
  }

  deliver(message: Message): void {
    if (this.up && this.driver !== undefined) {
      this.driver.deliver([message]);
    }
  }

  /** A write through the production driver: resolves once applied (with its result). */
  propose(data: Uint8Array, timeoutMs: number): Promise<ApplyResult> {
    const driver = this.driver;
    const scheduler = this.scheduler;
    if (!this.up || driver === undefined || scheduler === undefined) {
      return Promise.reject(new Error(`m${this.num} is down`));
    }
    return driver.propose(data, scheduler.nowMs() + timeoutMs);
  }

  /** This incarnation's monotonic clock (ms), for deadlines. */
  nowMs(): number {
    return this.scheduler?.nowMs() ?? 0;
  }

  isLeader(): boolean {
    return this.up && this.driver?.isLeader() === true;
  }

  /** The leader this member knows (0 for none or when down). */
  knownLeader(): number {
    return this.up && this.driver !== undefined ? Number(this.driver.currentLeader()) : 0;
  }

  commitIndex(): number {
    return this.up && this.driver !== undefined ? this.driver.raft.status().commit : 0;
  }

  private watchedStore(store: WalLogStore): LogStore {
    const durable = this.durable;
    const incarnation = this.incarnation;
    return new Proxy(store, {
      get: (target, prop, receiver) => {
        if (prop === 'save') {
          return (update: LogUpdate, options?: SaveOptions) => {
            if (this.incarnation === incarnation) {
              durable.issued(update);
            }
            return target.save(update, options).then(() => {
              if (this.incarnation === incarnation) {
                durable.resolved(update);
              }
            });
          };
        }
        const value = Reflect.get(target, prop, receiver) as unknown;
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  }

  /** Checks every message as it leaves: a grant or an acknowledgement only of what is durable (§5.2, §5.3). */
  private checkOutgoing(m: Message): void {
    if (m.type === 'AppendResponse' && !m.reject && m.index > this.durable.lastIndex) {
      this.host.violation(new SimViolation(ViolationKind.UndurablePromise, `m${this.num} acknowledged ${m.index}/t${m.term} to ${m.to} with only ..${this.durable.lastIndex} durable`));
    }
    // A later term durable is fine: saves resolve in order, so this grant's vote was durable before it.
    const hard = this.durable.hard;
    if (m.type === 'VoteResponse' && !m.reject && (hard.term < m.term || (hard.term === m.term && hard.vote !== m.to))) {
      this.host.violation(new SimViolation(ViolationKind.UndurablePromise, `m${this.num} granted its vote in term ${m.term} to ${m.to} with term ${this.durable.hard.term} vote ${this.durable.hard.vote} durable`));
    }
  }

  private transport(incarnation: number): PeerTransport {
    return {
      send: (messages) => {
        if (this.incarnation !== incarnation) {
          return;
        }
        for (const m of messages) {
          this.checkOutgoing(m);
        }
        this.host.send(this, messages);
      },
      setPeer: () => undefined,
      removePeer: () => undefined,
      sendSnapshot: (_to: NodeId, _term: Term, _meta, _source: SnapshotSource) => Promise.reject(new Error('snapshots are not simulated for production members')),
      onUnreachable: (listener) => (this.unreachableListener = listener),
      close: () => Promise.resolve(),
    };
  }

  /** The apply path: in order, committed, the same entries as every other member (§5.4.3). */
  private async apply(incarnation: number, entries: readonly Entry[]): Promise<readonly ApplyResult[]> {
    if (this.incarnation !== incarnation) {
      return new Promise(() => undefined); // a dead process applies nothing more
    }
    const commit = this.driver?.raft.status().commit ?? 0;
    let expected = this.sm.appliedIndex() + 1;
    for (const entry of entries) {
      if (entry.index !== expected) {
        this.host.violation(new SimViolation(ViolationKind.DuplicateApply, `m${this.num} applied ${entry.index} after ${expected - 1}`));
      }
      if (entry.index > commit) {
        this.host.violation(new SimViolation(ViolationKind.StateMachineSafety, `m${this.num} applied ${entry.index} beyond its commit index ${commit}`));
      }
      expected = entry.index + 1;
    }
    const results = await this.sm.apply(entries);
    for (const entry of entries) {
      this.chain = hashInts(this.chain, entry.index, entry.term, hashData(entry.data));
      this.stats.applied++;
      this.host.onApplied(this, entry);
    }
    return results;
  }

  /** Digest of everything applied, in order (for the state-machine safety checker). */
  get appliedChain(): number {
    return this.chain;
  }
}
