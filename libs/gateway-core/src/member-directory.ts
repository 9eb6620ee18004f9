/**
 * Who the members are and which one leads, kept current without a request having to fail:
 *
 *     every statusIntervalMs ─► Maintenance.Status of every member (in parallel, one in flight each)
 *                                  └─► observation per address ─► chooseLeader ─► leader changed? ─► listeners
 *     every memberListIntervalMs, and at once when a Status names a member we do not know
 *                               ─► Cluster.MemberList (from the leader if known) ─► members added / dropped
 *     forwarder's hints ─► a member said "not leader" or could not be reached ─► probe everyone now
 *
 * It starts from the seed addresses (`--endpoints`); once a member list arrives, the members'
 * published client URLs are what it probes (a member that has not published one yet is listed
 * but not probed). If no member has answered for `seedFallbackMs`, the seeds are probed again too.
 */
import { parseTarget } from '@keyval/grpc';
import { etcd } from '@keyval/proto';
import { describeMember, diffMembers, membersFromList } from './member-list';
import type { MemberInfo } from './member-list';
import { NoLeaderError } from './gateway.errors';
import { chooseLeader } from './leader-choice';
import type { LeaderChoice, Observation } from './leader-choice';
import type { UpstreamPool } from './upstream-pool';

/** The small logger interface the gateway takes (pino's fields-first shape is adapted by the app). */
export interface GatewayLogger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

/** Where the directory starts, how it reaches members, and how often it asks them. */
export interface MemberDirectoryOptions {
  /** Addresses to start from (host:port or http:// URLs). */
  readonly seeds: readonly string[];
  readonly pool: UpstreamPool;
  /** Period of the Status probes, ms. */
  readonly statusIntervalMs: number;
  /** Period of the member-list refresh, ms. */
  readonly memberListIntervalMs: number;
  /** Deadline of one probe, ms. */
  readonly probeTimeoutMs: number;
  /** Probe the seeds again when no member answered for this long, ms (default 3 s). */
  readonly seedFallbackMs?: number;
  readonly logger?: GatewayLogger;
  /** Clock, ms (default Date.now). */
  readonly now?: () => number;
}

/** Where to send: a member id and its client address. */
export interface Upstream {
  readonly id: bigint;
  readonly authority: string;
}

/** Told when the leader changes (`next` undefined: no leader known now). */
export type LeaderListener = (previous: Upstream | undefined, next: Upstream | undefined) => void;

interface MutableObservation extends Observation {
  memberId: bigint;
  ok: boolean;
  answeredAtMs: number;
  leader: bigint;
  term: bigint;
  unhealthy: boolean;
  failures: number;
}

const STATUS_PATH = `/${etcd.MaintenanceDefinition.fullName}/Status`;
const MEMBER_LIST_PATH = `/${etcd.ClusterDefinition.fullName}/MemberList`;
const EMPTY = Buffer.alloc(0);
/** Most members a member list may name (a limit on everything). */
export const MEMBERS_MAX = 64;
/** Least time between two probe rounds started by hints, ms. */
const HINTED_ROUND_GAP_MS = 10;
/** Least time between two member-list requests (a member naming an unknown leader asks for one), ms. */
const MEMBER_LIST_GAP_MS = 100;

/**
 * The gateway's view of the cluster (see the file comment). Its leader and member list change
 * only on probe answers and hints; listeners hear of leader changes synchronously.
 */
export class MemberDirectory {
  private readonly seeds: readonly string[];
  private readonly now: () => number;
  private readonly freshMs: number;
  private readonly seedFallbackMs: number;
  private members = new Map<bigint, MemberInfo>();
  private readonly observations = new Map<string, MutableObservation>();
  private readonly probing = new Set<string>();
  private listedAtMs = -Infinity;
  private listing = false;
  private listAskedAtMs = -Infinity;
  private lastHintedRoundMs = -Infinity;
  private lastAnswerMs: number;
  private current: Upstream | undefined;
  private choice: LeaderChoice | undefined;
  private readTargetCache: readonly string[] = [];
  private epochValue = 0;
  private readonly listeners: LeaderListener[] = [];
  private readonly waiters = new Set<() => void>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Leader changes seen (for metrics). */
  leaderChanges = 0;

  constructor(private readonly options: MemberDirectoryOptions) {
    const seeds = options.seeds.map((s) => parseTarget(s).authority);
    if (seeds.length === 0) {
      throw new RangeError('MemberDirectory: give at least one seed endpoint');
    }
    this.seeds = [...new Set(seeds)];
    this.now = options.now ?? Date.now;
    this.freshMs = Math.max(3 * options.statusIntervalMs, options.probeTimeoutMs + options.statusIntervalMs);
    this.seedFallbackMs = options.seedFallbackMs ?? 3_000;
    this.lastAnswerMs = this.now();
  }

  /** Starts probing (the first round at once). */
  start(): void {
    this.round();
    this.timer = setInterval(() => this.round(), this.options.statusIntervalMs);
    this.timer.unref();
  }

  /** Stops probing; waiters are released (they see no leader). */
  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.wake();
  }

  /** The leader now, or undefined. */
  leader(): Upstream | undefined {
    return this.current;
  }

  /** Increases with every leader change: a retry compares it to decide whether to wait. */
  get epoch(): number {
    return this.epochValue;
  }

  /** Members answering Status recently, healthy, not learners: where serializable reads may go. */
  readTargets(): readonly string[] {
    return this.readTargetCache;
  }

  /** Whether the member at `authority` answered its last probe, recently. */
  isAnswering(authority: string): boolean {
    return this.isFresh(this.observations.get(authority));
  }

  /** The members of the last member list. */
  memberList(): readonly MemberInfo[] {
    return [...this.members.values()];
  }

  /** What the directory knows, for /readyz, metrics and logs. */
  describe(): { leader: string | undefined; term: string; epoch: number; members: { id: string; name: string; address: string | undefined; learner: boolean; answering: boolean }[] } {
    return {
      leader: this.current === undefined ? undefined : `${this.current.id.toString(16)}@${this.current.authority}`,
      term: String(this.choice?.term ?? 0n),
      epoch: this.epochValue,
      members: this.memberList().map((m) => ({
        id: m.id.toString(16),
        name: m.name,
        address: m.authority,
        learner: m.isLearner,
        answering: m.authority !== undefined && this.isFresh(this.observations.get(m.authority)),
      })),
    };
  }

  onLeaderChange(listener: LeaderListener): void {
    this.listeners.push(listener);
  }

  /** Resolves with the leader once one is known; rejects NoLeaderError at `deadlineMs`. */
  async waitForLeader(deadlineMs: number): Promise<Upstream> {
    for (;;) {
      const leader = this.current;
      if (leader !== undefined) {
        return leader;
      }
      if (this.stopped || this.now() >= deadlineMs) {
        throw new NoLeaderError(`the gateway knew no leader among ${this.describeTargets()} before the deadline`);
      }
      await this.waitForChange(this.epochValue, deadlineMs);
    }
  }

  /** Resolves when the leader changes after `epoch`, or at `untilMs`, whichever is first. */
  waitForChange(epoch: number, untilMs: number): Promise<void> {
    if (epoch !== this.epochValue || this.stopped) {
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, untilMs - this.now()));
      this.waiters.add(done);
    });
  }

  /**
   * A member answered "not leader": its claim no longer counts, and everyone is probed now
   * (the answers name the leader; its hint trailer is not needed).
   */
  reportNotLeader(authority: string): void {
    const o = this.observations.get(authority);
    if (o !== undefined && o.leader === o.memberId) {
      o.leader = 0n;
      this.recompute();
    }
    this.hintedRound();
  }

  /** A call to `authority` failed without an answer: it counts as down until it answers a probe. */
  reportUnreachable(authority: string): void {
    const o = this.observations.get(authority);
    if (o !== undefined && o.ok) {
      o.ok = false;
      this.recompute();
    }
    this.hintedRound();
  }

  private hintedRound(): void {
    if (this.now() - this.lastHintedRoundMs >= HINTED_ROUND_GAP_MS) {
      this.lastHintedRoundMs = this.now();
      this.round();
    }
  }

  private round(): void {
    if (this.stopped) {
      return;
    }
    for (const authority of this.targets()) {
      this.probe(authority);
    }
    if (this.now() - this.listedAtMs >= this.options.memberListIntervalMs) {
      this.refreshMembers();
    }
    this.recompute();
  }

  /** Addresses to probe: the listed members' (or the seeds before any list, or when none answers). */
  private targets(): string[] {
    const listed: string[] = [];
    for (const m of this.members.values()) {
      if (m.authority !== undefined) listed.push(m.authority);
    }
    if (listed.length === 0 || this.now() - this.lastAnswerMs > this.seedFallbackMs) {
      return [...new Set([...listed, ...this.seeds])];
    }
    return listed;
  }

  private describeTargets(): string {
    return this.targets().join(', ');
  }

  private probe(authority: string): void {
    if (this.probing.has(authority)) {
      return;
    }
    this.probing.add(authority);
    this.options.pool
      .unary(authority, STATUS_PATH, EMPTY, { timeoutMs: this.options.probeTimeoutMs }, false)
      .then(
        (bytes) => this.recordStatus(authority, etcd.StatusResponse.decode(bytes)),
        () => this.recordFailure(authority),
      )
      .catch((error: unknown) => this.options.logger?.warn('status probe handling failed', { authority, error: String(error) }))
      .finally(() => {
        this.probing.delete(authority);
        this.recompute();
      });
  }

  private observation(authority: string): MutableObservation {
    let o = this.observations.get(authority);
    if (o === undefined) {
      o = { memberId: 0n, ok: false, answeredAtMs: -Infinity, leader: 0n, term: 0n, unhealthy: false, failures: 0 };
      this.observations.set(authority, o);
    }
    return o;
  }

  private recordStatus(authority: string, status: etcd.StatusResponse): void {
    const o = this.observation(authority);
    o.memberId = status.header?.memberId ?? 0n;
    o.ok = true;
    o.answeredAtMs = this.now();
    o.leader = status.leader;
    o.term = status.raftTerm;
    o.unhealthy = status.errors.length > 0;
    o.failures = 0;
    this.lastAnswerMs = o.answeredAtMs;
    const unknown = (id: bigint): boolean => id !== 0n && !this.members.has(id);
    if (unknown(o.memberId) || unknown(o.leader)) {
      this.refreshMembers();
    }
  }

  private recordFailure(authority: string): void {
    const o = this.observation(authority);
    o.ok = false;
    o.failures += 1;
  }

  private isFresh(o: Observation | undefined): boolean {
    return o !== undefined && o.ok && this.now() - o.answeredAtMs <= this.freshMs;
  }

  private refreshMembers(): void {
    if (this.listing || this.stopped || this.now() - this.listAskedAtMs < MEMBER_LIST_GAP_MS) {
      return;
    }
    const from = this.current?.authority ?? [...this.observations].find(([, o]) => this.isFresh(o))?.[0] ?? this.targets()[0];
    if (from === undefined) {
      return;
    }
    this.listing = true;
    this.listAskedAtMs = this.now();
    this.options.pool
      .unary(from, MEMBER_LIST_PATH, EMPTY, { timeoutMs: this.options.probeTimeoutMs }, false)
      .then((bytes) => this.adoptMembers(etcd.MemberListResponse.decode(bytes).members))
      .catch(() => undefined) // the next round asks again (another member, if this one is down)
      .finally(() => {
        this.listing = false;
      });
  }

  private adoptMembers(list: readonly etcd.Member[]): void {
    this.listedAtMs = this.now();
    if (list.length === 0 || list.length > MEMBERS_MAX) {
      this.options.logger?.warn('ignoring a member list of unexpected size', { members: list.length, max: MEMBERS_MAX });
      return;
    }
    const next = membersFromList(list);
    const { added, removed } = diffMembers(this.members, next);
    this.members = next;
    if (added.length > 0 || removed.length > 0) {
      this.options.logger?.info('members changed', { added: added.map(describeMember), removed: removed.map(describeMember) });
      const keep = new Set(this.targets());
      for (const authority of [...this.observations.keys()]) {
        if (!keep.has(authority)) this.observations.delete(authority);
      }
      this.options.pool.retain(new Set([...keep, ...(this.current === undefined ? [] : [this.current.authority])]));
      this.round();
    }
  }

  /** The address of member `id`: its listed client URL, else the address that answered as `id`. */
  addressOf(id: bigint): string | undefined {
    const listed = this.members.get(id)?.authority;
    if (listed !== undefined) {
      return listed;
    }
    for (const [authority, o] of this.observations) {
      if (o.memberId === id) return authority;
    }
    return undefined;
  }

  private recompute(): void {
    const choice = chooseLeader(this.observations.values(), this.now(), this.freshMs);
    this.choice = choice;
    const authority = choice.leader === 0n ? undefined : this.addressOf(choice.leader);
    if (choice.leader !== 0n && authority === undefined) {
      this.refreshMembers(); // the leader has not published its client URL to us yet
    }
    const next = authority === undefined ? undefined : { id: choice.leader, authority };
    this.readTargetCache = this.computeReadTargets();
    const previous = this.current;
    if (previous?.id === next?.id && previous?.authority === next?.authority) {
      return;
    }
    this.current = next;
    this.epochValue += 1;
    this.leaderChanges += 1;
    this.options.logger?.info(next === undefined ? 'no leader known' : 'leader', {
      leader: next === undefined ? undefined : `${next.id.toString(16)}@${next.authority}`,
      previous: previous === undefined ? undefined : `${previous.id.toString(16)}@${previous.authority}`,
      term: String(choice.term),
    });
    for (const listener of this.listeners) {
      listener(previous, next);
    }
    this.wake();
  }

  private computeReadTargets(): string[] {
    const targets: string[] = [];
    for (const [authority, o] of this.observations) {
      const member = this.members.get(o.memberId);
      if (this.isFresh(o) && !o.unhealthy && member?.isLearner !== true) targets.push(authority);
    }
    return targets;
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) {
      waiter();
    }
  }
}
