/**
 * How a member started with `--initial-cluster-state existing` and an empty data dir learns
 * who it is: it asks the other members of --initial-cluster (over their peer URLs) for the
 * member list, and finds the entry an operator added for its advertised peer URLs.
 */
import * as grpc from '@grpc/grpc-js';
import { etcd } from '@keyval/proto';
import { nodeId } from '@keyval/raft';
import { peerTarget } from '../transport/transport';
import type { MemberIdentity } from './member-identity';
import { MemberConfigError } from './member-options';
import type { KvMemberOptions } from './member-options';

const sameUrls = (a: readonly string[], b: readonly string[]): boolean => [...a].sort().join(',') === [...b].sort().join(',');

function memberList(url: string, timeoutMs: number): Promise<etcd.MemberListResponse> {
  const client = new etcd.ClusterClient(peerTarget(url), grpc.credentials.createInsecure());
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

export async function discoverIdentity(options: KvMemberOptions, timeoutMs = 5_000): Promise<MemberIdentity> {
  const others = options.initialCluster.filter((m) => m.name !== options.name);
  if (others.length === 0) {
    throw new MemberConfigError('--initial-cluster-state existing needs --initial-cluster to name at least one running member');
  }
  const failures: string[] = [];
  for (const other of others) {
    for (const url of other.peerUrls) {
      try {
        const response = await memberList(url, timeoutMs);
        const self = response.members.find((m) => sameUrls(m.peerURLs, options.advertisePeerUrls));
        if (self === undefined) {
          throw new MemberConfigError(
            `the cluster has no member with peer URLs ${options.advertisePeerUrls.join(',')}: add it first (kvctl member add ${options.name} --peer-urls ${options.advertisePeerUrls.join(',')})`,
          );
        }
        return { name: options.name, memberId: nodeId(self.ID), clusterId: response.header?.clusterId ?? 0n, createdAtMs: Date.now() };
      } catch (error) {
        if (error instanceof MemberConfigError) {
          throw error;
        }
        failures.push(`${url}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
  throw new MemberConfigError(`could not reach any member of --initial-cluster to join it (${failures.join('; ')})`);
}
