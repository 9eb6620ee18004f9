/**
 * A member's first start: its identity (computed for a new cluster, discovered from the
 * running members when joining one) and, for a new cluster, the identical first log entries
 * every initial member writes.
 */
import { bootstrapEntries } from '@keyval/raft';
import type { NodeId } from '@keyval/raft';
import type { LogStore } from '@keyval/storage';
import { encodeMemberContext } from '@keyval/statemachine';
import { discoverIdentity } from './member-discovery';
import { computeClusterId, computeMemberId } from './member-identity';
import type { MemberIdentity } from './member-identity';
import { MemberConfigError } from './member-options';
import type { KvMemberOptions } from './member-options';

/** The identity of a member starting with an empty data dir. Throws MemberConfigError. */
export async function newIdentity(options: KvMemberOptions): Promise<MemberIdentity> {
  if (options.initialClusterState === 'existing') {
    return discoverIdentity(options);
  }
  const self = options.initialCluster.find((m) => m.name === options.name);
  if (self === undefined) {
    throw new MemberConfigError(`--name ${options.name} is not in --initial-cluster (${options.initialCluster.map((m) => m.name).join(', ')})`);
  }
  const advertised = [...options.advertisePeerUrls].sort().join(',');
  if ([...self.peerUrls].sort().join(',') !== advertised) {
    throw new MemberConfigError(`--initial-cluster gives ${options.name} the peer URLs ${self.peerUrls.join(',')}, but --initial-advertise-peer-urls is ${options.advertisePeerUrls.join(',')}`);
  }
  const ids = options.initialCluster.map((m) => computeMemberId(m.peerUrls, options.initialClusterToken));
  if (new Set(ids).size !== ids.length) {
    throw new MemberConfigError('two members of --initial-cluster share peer URLs');
  }
  return {
    name: options.name,
    memberId: computeMemberId(self.peerUrls, options.initialClusterToken),
    clusterId: computeClusterId(ids),
    createdAtMs: Date.now(),
  };
}

/** Writes the identical first entries every initial member starts with. */
export async function bootstrap(logStore: LogStore, options: KvMemberOptions): Promise<void> {
  const contexts = new Map<NodeId, Uint8Array>();
  const ids: NodeId[] = [];
  for (const m of options.initialCluster) {
    const id = computeMemberId(m.peerUrls, options.initialClusterToken);
    ids.push(id);
    contexts.set(id, encodeMemberContext({ name: m.name, peerUrls: m.peerUrls, clientUrls: [] }));
  }
  const boot = bootstrapEntries(ids, contexts);
  await logStore.save({ entries: boot.entries, hardState: boot.hardState }, { sync: true });
}

