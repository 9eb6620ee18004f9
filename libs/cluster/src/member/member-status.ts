/**
 * A member's status for operators (kvctl status, the Admin API): its Raft state, what it holds
 * on disk, its health and, on the leader, how far behind each follower is. Plain data; the app
 * turns it into protobuf.
 */
import { NO_NODE, ProgressState, Role } from '@keyval/raft';
import type { LogIndex, NodeId, Term } from '@keyval/raft';
import type { DiskUsage, DiskUsageProbe } from './disk-usage';
import type { KvMember } from './kv-member';

/** Committed entries waiting to apply beyond which a member reports itself degraded. */
export const APPLY_LAG_DEGRADED_ENTRIES = 10_000;

/** ok: serving normally; degraded: serving with problems; unhealthy: cannot serve. */
export type HealthState = 'ok' | 'degraded' | 'unhealthy';

/** The leader's record of one other member. */
export interface FollowerReport {
  readonly id: NodeId;
  readonly name: string;
  readonly isLearner: boolean;
  /** Highest index known to be in its log (0 <= match < next). */
  readonly match: LogIndex;
  readonly next: LogIndex;
  /** The leader's last index minus match (>= 0). */
  readonly lag: number;
  readonly state: ProgressState;
  /** Heard from within the last election timeout. */
  readonly recentActive: boolean;
}

export interface MemberStatusReport {
  readonly id: NodeId;
  readonly name: string;
  readonly clusterId: bigint;
  readonly role: Role;
  readonly isLearner: boolean;
  readonly term: Term;
  /** 0n when no leader is known. */
  readonly leader: NodeId;
  readonly commit: LogIndex;
  readonly applied: LogIndex;
  readonly firstIndex: LogIndex;
  readonly lastIndex: LogIndex;
  /** Index of the member's latest snapshot (0 when it has none). */
  readonly snapshotIndex: number;
  /** The store revision of the applied state. */
  readonly revision: number;
  readonly disk: DiskUsage;
  readonly health: HealthState;
  /** Why health is not ok, in words (empty when ok). */
  readonly problems: readonly string[];
  /** On the leader: every other member; empty elsewhere. */
  readonly followers: readonly FollowerReport[];
  readonly peerUrls: readonly string[];
  readonly clientUrls: readonly string[];
}

/** The health of `member` and the reasons it is not ok. */
export function memberHealth(member: KvMember): { health: HealthState; problems: string[] } {
  const unhealthy: string[] = [];
  const degraded: string[] = [];
  const st = member.status();
  const storage = member.health();
  if (!storage.healthy) unhealthy.push(storage.reason ?? 'the log store refuses writes');
  if (st.leader === NO_NODE) unhealthy.push('no leader');
  const inConfig = st.config.voters.includes(member.id) || st.config.learners.includes(member.id);
  if (!inConfig && st.config.voters.length > 0) unhealthy.push('not a member of the cluster configuration (removed, or still joining)');
  const ready = member.ready();
  if (!ready.ready && st.leader !== NO_NODE) degraded.push(`starting: ${ready.reason ?? 'not ready'}`);
  if (st.commit - st.applied > APPLY_LAG_DEGRADED_ENTRIES) degraded.push(`applying ${st.commit - st.applied} entries behind the commit index`);
  // An active alarm: reads and deletes work, writes that add data are refused (degraded, as
  // the cluster still serves; etcd's /health is false then: apps/keyval http-endpoints.ts).
  for (const a of member.alarms.active()) {
    degraded.push(`alarm ${a.alarm} raised by member ${a.memberId.toString(16)}: writes that add data are refused until it is disarmed`);
  }
  if (unhealthy.length > 0) return { health: 'unhealthy', problems: [...unhealthy, ...degraded] };
  return degraded.length > 0 ? { health: 'degraded', problems: degraded } : { health: 'ok', problems: [] };
}

/** The leader's view of its followers (empty on other members), by member id. */
function followersOf(member: KvMember): FollowerReport[] {
  const st = member.status();
  if (st.role !== Role.Leader || st.progress === undefined) return [];
  const names = new Map(member.membership().members.map((m) => [m.id, m.name]));
  const reports: FollowerReport[] = [];
  for (const [id, pr] of st.progress) {
    if (id === member.id) continue;
    reports.push({
      id,
      name: names.get(id) ?? '',
      isLearner: pr.isLearner,
      match: pr.match,
      next: pr.next,
      lag: Math.max(0, st.lastIndex - pr.match),
      state: pr.state,
      recentActive: pr.ticksSinceActive <= st.electionTimeoutTicks,
    });
  }
  return reports.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Everything an operator sees about `member`; walks the data dir through `disk` (cached). */
export async function memberStatus(member: KvMember, disk: DiskUsageProbe): Promise<MemberStatusReport> {
  const usage = await disk.measure();
  const st = member.status();
  const { health, problems } = memberHealth(member);
  const self = member.membership().members.find((m) => m.id === member.id);
  const snapshotIndex = Math.max(member.stateMachine.snapshots.latest()?.meta.index ?? 0, member.logStore.snapshotMeta().index);
  return {
    id: member.id,
    name: member.identity.name,
    clusterId: member.clusterId,
    role: st.role,
    isLearner: st.config.learners.includes(member.id),
    term: st.term,
    leader: st.leader,
    commit: st.commit,
    applied: st.applied,
    firstIndex: st.firstIndex,
    lastIndex: st.lastIndex,
    snapshotIndex,
    revision: member.stateMachine.revision(),
    disk: usage,
    health,
    problems,
    followers: followersOf(member),
    peerUrls: self?.peerUrls ?? member.settings.advertisePeerUrls,
    clientUrls: member.settings.advertiseClientUrls,
  };
}
