import * as grpc from '@grpc/grpc-js';
import { etcd } from '@keyval/proto';
import { discoverIdentity } from './member-discovery';
import { MemberConfigError } from './member-options';
import type { KvMemberOptions } from './member-options';

const SELF_URL = 'http://127.0.0.1:1';

/** A peer port answering Cluster.MemberList with `members`. */
async function peer(members: etcd.Member[]): Promise<{ url: string; stop: () => Promise<void> }> {
  const server = new grpc.Server();
  server.addService(etcd.ClusterService, {
    memberList: (_call: unknown, callback: grpc.sendUnaryData<etcd.MemberListResponse>) =>
      callback(null, etcd.MemberListResponse.fromPartial({ header: { clusterId: 7n }, members })),
  } as unknown as grpc.UntypedServiceImplementation);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { url: `http://127.0.0.1:${port}`, stop: () => new Promise((resolve) => server.tryShutdown(() => resolve())) };
}

const member = (id: bigint, name: string, url: string): etcd.Member => ({ ID: id, name, peerURLs: [url], clientURLs: [], isLearner: false });

function options(peers: readonly string[]): KvMemberOptions {
  return {
    name: 'n4',
    advertisePeerUrls: [SELF_URL],
    initialCluster: [{ name: 'n4', peerUrls: [SELF_URL] }, ...peers.map((url, k) => ({ name: `n${k + 1}`, peerUrls: [url] }))],
  } as Partial<KvMemberOptions> as KvMemberOptions;
}

describe('discoverIdentity (joining with --initial-cluster-state existing)', () => {
  // Chaos finding (docs/chaos.md): a member added with MemberAdd was started at once and asked
  // the first member of --initial-cluster, a follower that had not applied the add yet (it had
  // just restarted after a full disk). It answered the old list and the new member exited with
  // "the cluster has no member with peer URLs …" although the add had been acknowledged.
  it('keeps asking when a lagging member does not list it yet, and takes the answer that does', async () => {
    const lagging = await peer([member(1n, 'n1', 'http://127.0.0.1:2')]);
    const current = await peer([member(1n, 'n1', 'http://127.0.0.1:2'), member(0x44n, '', SELF_URL)]);
    try {
      const identity = await discoverIdentity(options([lagging.url, current.url]), 2_000);
      expect(identity).toMatchObject({ name: 'n4', memberId: 0x44n, clusterId: 7n });
    } finally {
      await Promise.all([lagging.stop(), current.stop()]);
    }
  });

  it('still refuses to start when no member lists it (the operator has not added it)', async () => {
    const a = await peer([member(1n, 'n1', 'http://127.0.0.1:2')]);
    try {
      await expect(discoverIdentity(options([a.url, 'http://127.0.0.1:9']), 2_000)).rejects.toThrow(MemberConfigError);
      await expect(discoverIdentity(options([a.url]), 2_000)).rejects.toThrow(/add it first/);
    } finally {
      await a.stop();
    }
  });
});
