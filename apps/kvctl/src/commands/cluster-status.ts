/**
 * `kvctl status`: every member's own status (Admin.Status on its client URL), joined with the
 * leader's view of each follower's lag. Members that do not answer are listed as unreachable,
 * and the command then exits 1 after printing the table (statusFailure).
 */
import { admin } from '@keyval/proto';
import type { KeyvalClient } from '../client/keyval-client';
import { normalizeEndpoint } from '../client/endpoints';
import { describeError } from '../cli/cli-errors';
import { hexId, humanBytes } from '../output/format';

/** Most time one member's status may take, ms (the others are asked at the same time). */
const MEMBER_STATUS_TIMEOUT_MS = 3_000;

/** One member as `kvctl status` shows it. */
export interface MemberStatusRow {
  readonly name: string;
  /** Hex member id. */
  readonly id: string;
  readonly endpoint: string | undefined;
  readonly isLeader: boolean;
  /** leader, follower, learner, candidate, pre-candidate, or unreachable. */
  readonly role: string;
  readonly term: number | undefined;
  readonly commit: number | undefined;
  readonly applied: number | undefined;
  /** Entries behind the leader's log (the leader's view); undefined when unknown. */
  readonly lag: number | undefined;
  readonly dbBytes: number | undefined;
  readonly walBytes: number | undefined;
  /** ok, degraded, unhealthy or unreachable. */
  readonly health: string;
  readonly problems: readonly string[];
}

const ROLE_NAMES: Readonly<Record<number, string>> = {
  [admin.Role.ROLE_LEADER]: 'leader',
  [admin.Role.ROLE_FOLLOWER]: 'follower',
  [admin.Role.ROLE_CANDIDATE]: 'candidate',
  [admin.Role.ROLE_PRE_CANDIDATE]: 'pre-candidate',
};

const HEALTH_NAMES: Readonly<Record<number, string>> = {
  [admin.Health.HEALTH_OK]: 'ok',
  [admin.Health.HEALTH_DEGRADED]: 'degraded',
  [admin.Health.HEALTH_UNHEALTHY]: 'unhealthy',
};

/** The member list, from any endpoint (serializable, so it works without a leader too). */
export async function listMembers(client: KeyvalClient, serializable: boolean): Promise<admin.MemberListResponse> {
  return client.call('read', (endpoint, timeoutMs) => client.admin(endpoint).memberList({ serializable }, { timeoutMs }));
}

async function statusOf(client: KeyvalClient, endpoint: string): Promise<admin.StatusResponse | Error> {
  try {
    return await client.admin(endpoint).status({}, { timeoutMs: Math.min(MEMBER_STATUS_TIMEOUT_MS, client.options.timeoutMs) });
  } catch (error) {
    return new Error(describeError(error));
  }
}

/** Status rows for every member, leader first, then by name. */
export async function gatherStatus(client: KeyvalClient): Promise<MemberStatusRow[]> {
  const list = await listMembers(client, true);
  const endpoints = list.members.map((m) => {
    const url = m.clientUrls[0];
    return url === undefined ? undefined : normalizeEndpoint(url);
  });
  const answers = await Promise.all(endpoints.map((e) => (e === undefined ? Promise.resolve(new Error('not started (no client URL published yet)')) : statusOf(client, e))));
  const statuses = answers.filter((a): a is admin.StatusResponse => !(a instanceof Error));
  const leader = statuses.filter((s) => s.role === admin.Role.ROLE_LEADER).sort((a, b) => Number(b.term - a.term))[0];
  const rows = list.members.map((m, k): MemberStatusRow => {
    const answer = answers[k] as admin.StatusResponse | Error;
    const base = { name: m.name, id: hexId(m.id), endpoint: endpoints[k], isLeader: leader?.memberId === m.id };
    if (answer instanceof Error) {
      return { ...base, role: 'unreachable', term: undefined, commit: undefined, applied: undefined, lag: undefined, dbBytes: undefined, walBytes: undefined, health: 'unreachable', problems: [answer.message] };
    }
    // A leader that has not yet heard from a follower in its term knows no match index for it.
    const progress = leader?.followers.find((f) => f.memberId === m.id);
    const lag = leader === undefined ? undefined : leader.memberId === m.id ? 0n : progress === undefined || progress.matchIndex === 0n ? undefined : progress.lag;
    return {
      ...base,
      role: answer.role === admin.Role.ROLE_FOLLOWER && answer.isLearner ? 'learner' : (ROLE_NAMES[answer.role] ?? 'unknown'),
      term: Number(answer.term),
      commit: Number(answer.commitIndex),
      applied: Number(answer.appliedIndex),
      lag: lag === undefined ? undefined : Number(lag),
      dbBytes: Number(answer.dbBytes),
      walBytes: Number(answer.walBytes),
      health: HEALTH_NAMES[answer.health] ?? 'unknown',
      problems: answer.healthProblems,
    };
  });
  return rows.sort((a, b) => Number(b.isLeader) - Number(a.isLeader) || a.name.localeCompare(b.name));
}

/**
 * Why `kvctl status` exits non-zero (as `etcdctl endpoint health` does), or undefined when the
 * cluster is healthy: a member that does not answer or reports itself unhealthy, or no leader
 * among those that answer. A degraded member (still serving, e.g. applying a backlog) is shown
 * but does not fail the command.
 */
export function statusFailure(rows: readonly MemberStatusRow[]): string | undefined {
  const failing = rows.filter((r) => r.health === 'unreachable' || r.health === 'unhealthy');
  const reasons = failing.map((r) => `${r.name || r.id} ${r.health}`);
  if (!rows.some((r) => r.isLeader)) {
    reasons.push('no member answered as the leader');
  }
  if (reasons.length === 0) {
    return undefined;
  }
  return `${failing.length} of ${rows.length} members not healthy: ${reasons.join('; ')}`;
}

const num = (n: number | undefined): string => (n === undefined ? '-' : String(n));

/** The table of `kvctl status`; the leader's name is marked with `*`. */
export function statusTable(rows: readonly MemberStatusRow[]): { header: string[]; rows: string[][] } {
  return {
    header: ['NAME', 'ID', 'ROLE', 'TERM', 'COMMIT', 'APPLIED', 'LAG', 'DB SIZE', 'WAL SIZE', 'HEALTH'],
    rows: rows.map((r) => [
      `${r.name || '(unnamed)'}${r.isLeader ? ' *' : ''}`,
      r.id,
      r.role,
      num(r.term),
      num(r.commit),
      num(r.applied),
      num(r.lag),
      r.dbBytes === undefined ? '-' : humanBytes(r.dbBytes),
      r.walBytes === undefined ? '-' : humanBytes(r.walBytes),
      r.problems.length === 0 ? r.health : `${r.health}: ${r.problems.join('; ')}`,
    ]),
  };
}
