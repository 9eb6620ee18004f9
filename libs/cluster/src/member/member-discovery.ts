/**
 * How a member started with `--initial-cluster-state existing` and an empty data dir learns
 * who it is: it asks the other members of --initial-cluster (over their peer URLs) for the
 * member list, and finds the entry an operator added for its advertised peer URLs. The same
 * list tells it where its peers are until it has applied the membership from the log.
 */
import * as grpc from '@grpc/grpc-js';
import { etcd } from '@keyval/proto';
import { nodeId } from '@keyval/raft';
import { type PeerTls, peerChannelCredentials } from '../transport/peer-credentials';
import { peerTarget } from '../transport/transport';
import type { MemberIdentity } from './member-identity';
import { MemberConfigError } from './member-options';
import type { KvMemberOptions } from './member-options';

const sameUrls = (a: readonly string[], b: readonly string[]): boolean => [...a].sort().join(',') === [...b].sort().join(',');

/** Cluster.MemberList on a member's peer port (which every member serves); mutual TLS for https:// URLs. */
export function peerMemberList(url: string, timeoutMs: number, tls?: PeerTls): Promise<etcd.MemberListResponse> {
  const client = new etcd.ClusterClient(peerTarget(url), peerChannelCredentials(url, tls));
  return new Promise<etcd.MemberListResponse>((resolve, reject) => {
    client.memberList({}, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (error, response) => {
      client.close();
      if (error !== null) {
        reject(error);
      } else {
        resolve(response);
      }
    });
  });
}

/** The cluster as a running member of --initial-cluster lists it. */
export interface DiscoveredCluster {
  readonly clusterId: bigint;
  readonly members: readonly etcd.Member[];
}

/**
 * Asks the other members of --initial-cluster (over their peer URLs, in order) for the member
 * list, and returns the first answer that satisfies `wanted` — or, when none does, the first
 * answer. A member add is acknowledged once the leader applied it; a follower that lags (or
 * just restarted) still answers with the list from before, so one answer without the entry
 * proves nothing. Throws MemberConfigError when no member answers.
 */
export async function fetchClusterMembers(options: KvMemberOptions, timeoutMs = 5_000, wanted: (cluster: DiscoveredCluster) => boolean = () => true): Promise<DiscoveredCluster> {
  const others = options.initialCluster.filter((m) => m.name !== options.name);
  if (others.length === 0) {
    throw new MemberConfigError('--initial-cluster-state existing needs --initial-cluster to name at least one running member');
  }
  const failures: string[] = [];
  let first: DiscoveredCluster | undefined;
  for (const other of others) {
    for (const url of other.peerUrls) {
      try {
        const response = await peerMemberList(url, timeoutMs, options.peerTls);
        const cluster = { clusterId: response.header?.clusterId ?? 0n, members: response.members };
        if (wanted(cluster)) {
          return cluster;
        }
        first ??= cluster;
      } catch (error) {
        failures.push(`${url}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
  if (first !== undefined) {
    return first;
  }
  throw new MemberConfigError(`could not reach any member of --initial-cluster to join it (${failures.join('; ')})`);
}

/** Finds this member's id in the cluster it joins (an operator added it for its peer URLs). */
export function identityIn(cluster: DiscoveredCluster, options: KvMemberOptions): MemberIdentity {
  const self = cluster.members.find((m) => sameUrls(m.peerURLs, options.advertisePeerUrls));
  if (self === undefined) {
    throw new MemberConfigError(
      `the cluster has no member with peer URLs ${options.advertisePeerUrls.join(',')}: add it first (kvctl member add ${options.name} --peer-urls ${options.advertisePeerUrls.join(',')})`,
    );
  }
  return { name: options.name, memberId: nodeId(self.ID), clusterId: cluster.clusterId, createdAtMs: Date.now() };
}

/** This member's identity, from the first member that lists it (see fetchClusterMembers). */
export async function discoverIdentity(options: KvMemberOptions, timeoutMs = 5_000): Promise<MemberIdentity> {
  const listsUs = (cluster: DiscoveredCluster): boolean => cluster.members.some((m) => sameUrls(m.peerURLs, options.advertisePeerUrls));
  return identityIn(await fetchClusterMembers(options, timeoutMs, listsUs), options);
}
