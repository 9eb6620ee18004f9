/**
 * The members as Cluster.MemberList gives them, and what changed between two lists. Pure.
 */
import { parseTarget } from '@keyval/grpc';
import type { etcd } from '@keyval/proto';

/** A member as the last member list gave it. */
export interface MemberInfo {
  readonly id: bigint;
  readonly name: string;
  /** host:port of its first usable client URL; undefined until it published one. */
  readonly authority: string | undefined;
  readonly isLearner: boolean;
}

/** `host:port` of a target (host:port, http:// or https:// URL), or undefined when it is not a usable address. */
export function authorityOf(target: string): string | undefined {
  try {
    return parseTarget(target).authority;
  } catch {
    return undefined;
  }
}

/** The members of a MemberList answer, by id. */
export function membersFromList(list: readonly etcd.Member[]): Map<bigint, MemberInfo> {
  const members = new Map<bigint, MemberInfo>();
  for (const m of list) {
    const authority = m.clientURLs.map(authorityOf).find((a) => a !== undefined);
    members.set(m.ID, { id: m.ID, name: m.name, authority, isLearner: m.isLearner });
  }
  return members;
}

/** Members new or changed (name, address, learner) in `after`, and those gone from it. */
export function diffMembers(before: ReadonlyMap<bigint, MemberInfo>, after: ReadonlyMap<bigint, MemberInfo>): { added: MemberInfo[]; removed: MemberInfo[] } {
  const same = (a: MemberInfo | undefined, b: MemberInfo): boolean => a !== undefined && a.name === b.name && a.authority === b.authority && a.isLearner === b.isLearner;
  return {
    added: [...after.values()].filter((m) => !same(before.get(m.id), m)),
    removed: [...before.values()].filter((m) => !after.has(m.id)),
  };
}

/** `name(id)@address` for logs. */
export function describeMember(m: MemberInfo): string {
  return `${m.name}(${m.id.toString(16)})@${m.authority ?? '-'}`;
}
