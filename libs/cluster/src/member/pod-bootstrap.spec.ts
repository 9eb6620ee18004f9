import { computeMemberId } from './member-identity';
import { joinCluster, planBootstrap, runPodBootstrap } from './pod-bootstrap';
import type { ClusterView, ListedMember, PodBootstrapIo } from './pod-bootstrap';
import { podIdentity, podPeerUrl } from './pod-identity';
import type { PodSettings } from './pod-identity';

const TOKEN = 'tok';
const base: PodSettings = { podName: 'kv-0', namespace: 'ns', peerService: 'kv-peer', clusterDomain: 'cluster.local', initialClusterSize: 3, peerPort: 2380, clientPort: 2379 };
const pod = (ordinal: number, size = 3) => podIdentity({ ...base, podName: `kv-${ordinal}`, initialClusterSize: size });
const peer = (k: number): string => podPeerUrl(base, 'kv', k);
const CLUSTER = 0xc1n;

/** Member k as the bootstrap created it (id from its peer URL), started (named) or not. */
function initial(k: number, isStarted = true): ListedMember {
  return { id: computeMemberId([peer(k)], TOKEN), name: `kv-${k}`, peerUrls: [peer(k)], clientUrls: isStarted ? [`http://kv-${k}:2379`] : [], isLearner: false };
}
const view = (from: number, members: ListedMember[], clusterId = CLUSTER): ClusterView => ({ from: `kv-${from}`, clusterId, members });

describe('planBootstrap: a pod with an empty data dir', () => {
  it('bootstraps when it is one of the initial ordinals and nobody answers (parallel first start)', () => {
    expect(planBootstrap({ identity: pod(1), clusterToken: TOKEN, views: [] })).toEqual({ kind: 'bootstrap' });
  });

  it('bootstraps when the others list it as an initial voter that never started', () => {
    const members = [initial(0), initial(1, false), initial(2)];
    expect(planBootstrap({ identity: pod(1), clusterToken: TOKEN, views: [view(0, members)] })).toEqual({ kind: 'bootstrap' });
  });

  it('ignores answers from members that have not applied their bootstrap yet (no members)', () => {
    expect(planBootstrap({ identity: pod(1), clusterToken: TOKEN, views: [view(0, [])] })).toEqual({ kind: 'bootstrap' });
  });

  it('waits when it is beyond the initial size and nobody answers (scale up before DNS resolves)', () => {
    expect(planBootstrap({ identity: pod(3), clusterToken: TOKEN, views: [] }).kind).toBe('wait');
  });

  it('asks to be added when the running cluster does not list it (scale up)', () => {
    const members = [initial(0), initial(1), initial(2)];
    expect(planBootstrap({ identity: pod(3), clusterToken: TOKEN, views: [view(0, members), view(1, members)] })).toEqual({ kind: 'add', members });
  });

  it('joins once a member lists it as added but not started, even if a lagging member does not', () => {
    const learner: ListedMember = { id: 0x44n, name: 'kv-3', peerUrls: [pod(3).peerUrl], clientUrls: [], isLearner: true };
    const lagging = [initial(0), initial(1), initial(2)];
    const plan = planBootstrap({ identity: pod(3), clusterToken: TOKEN, views: [view(0, lagging), view(1, [...lagging, learner])] });
    expect(plan).toEqual({ kind: 'join', members: [...lagging, learner] });
    expect(joinCluster(pod(3), [...lagging, learner]).map((m) => m.name)).toEqual(['kv-0', 'kv-1', 'kv-2', 'kv-3']);
  });

  it('joins (not bootstraps) as an initial ordinal that was re-added under a new id', () => {
    const readded: ListedMember = { id: 0x99n, name: 'kv-1', peerUrls: [peer(1)], clientUrls: [], isLearner: true };
    expect(planBootstrap({ identity: pod(1), clusterToken: TOKEN, views: [view(0, [initial(0), readded, initial(2)])] }).kind).toBe('join');
  });

  it('replaces its member when the cluster lists it as started: the data dir was lost', () => {
    const members = [initial(0), initial(1), initial(2)];
    expect(planBootstrap({ identity: pod(1), clusterToken: TOKEN, views: [view(0, members)] })).toEqual({ kind: 'replace', stale: initial(1), members });
  });

  it('follows the cluster most pods answered for', () => {
    const ours = [initial(0), initial(1), initial(2)];
    const plan = planBootstrap({ identity: pod(3), clusterToken: TOKEN, views: [view(0, ours), view(1, ours), view(2, [initial(2)], 0x77n)] });
    expect(plan).toEqual({ kind: 'add', members: ours });
  });
});

describe('planBootstrap: a pod with its old volume', () => {
  const saved = { memberId: initial(4).id, clusterId: CLUSTER };
  const three = [initial(0), initial(1), initial(2)];

  it('resumes when a member lists it, or when nobody answers', () => {
    expect(planBootstrap({ identity: pod(4), clusterToken: TOKEN, saved, views: [view(0, [...three, initial(4)]), view(1, three)] })).toEqual({ kind: 'resume' });
    expect(planBootstrap({ identity: pod(4), clusterToken: TOKEN, saved, views: [] })).toEqual({ kind: 'resume' });
  });

  it('is removed when a majority of the members answers without it (scaled down)', () => {
    const plan = planBootstrap({ identity: pod(4), clusterToken: TOKEN, saved, views: [view(0, three), view(1, three)] });
    expect(plan.kind).toBe('removed');
  });

  it('resumes when only a minority answered without it (they may lag)', () => {
    expect(planBootstrap({ identity: pod(4), clusterToken: TOKEN, saved, views: [view(0, three)] })).toEqual({ kind: 'resume' });
  });

  it('does not count answers from another cluster', () => {
    expect(planBootstrap({ identity: pod(4), clusterToken: TOKEN, saved, views: [view(0, three, 0x5n), view(1, three, 0x5n)] })).toEqual({ kind: 'resume' });
  });
});

describe('runPodBootstrap', () => {
  const logger = { info: () => undefined, warn: () => undefined };

  /** A cluster model answering like the real members: adds appear in the next member list. */
  function cluster(members: ListedMember[]): PodBootstrapIo & { calls: string[] } {
    const calls: string[] = [];
    return {
      calls,
      memberList: async (url) => {
        if (!members.some((m) => m.peerUrls.includes(url) && m.clientUrls.length > 0)) throw new Error('getaddrinfo ENOTFOUND');
        return { clusterId: CLUSTER, members: [...members] };
      },
      memberAdd: async (url, name, peerUrl) => {
        calls.push(`add ${name} via ${url}`);
        if (calls.filter((c) => c.startsWith('add')).length === 1) throw new Error('etcdserver: one change at a time');
        members.push({ id: 0x3n, name, peerUrls: [peerUrl], clientUrls: [], isLearner: true });
      },
      memberRemove: async (url, id) => {
        calls.push(`remove ${id.toString(16)} via ${url}`);
        members.splice(members.findIndex((m) => m.id === id), 1);
      },
    };
  }

  it('adds a scaled-up pod as a learner, retrying a refused change, then joins', async () => {
    const io = cluster([initial(0), initial(1), initial(2)]);
    const start = await runPodBootstrap({ identity: pod(3), clusterToken: TOKEN, io, logger, retryMs: 1 });
    expect(io.calls).toEqual(['add kv-3 via http://kv-0:2379', 'add kv-3 via http://kv-1:2379']);
    expect(start).toEqual({ kind: 'join', initialCluster: joinCluster(pod(3), [initial(0), initial(1), initial(2), { id: 0x3n, name: 'kv-3', peerUrls: [pod(3).peerUrl], clientUrls: [], isLearner: true }]) });
  });

  it('replaces a member whose data dir was lost, then adds the pod again', async () => {
    const io = cluster([initial(0), initial(1), initial(2)]);
    const start = await runPodBootstrap({ identity: pod(1), clusterToken: TOKEN, io, logger, retryMs: 1 });
    expect(io.calls).toEqual([`remove ${initial(1).id.toString(16)} via http://kv-0:2379`, 'add kv-1 via http://kv-0:2379', 'add kv-1 via http://kv-2:2379']);
    expect(start.kind).toBe('join');
  });

  it('gives up after its deadline when no member answers a scaled-up pod', async () => {
    const io = cluster([]);
    await expect(runPodBootstrap({ identity: pod(3), clusterToken: TOKEN, io, logger, retryMs: 1, timeoutMs: 20 })).rejects.toThrow('could not join its cluster');
  });

  it('says why no member answered when it gives up (a TLS failure names its flags)', async () => {
    const io: PodBootstrapIo = {
      memberList: async (url) => {
        throw new Error(`certificate verify failed for ${url} (TLS on the peer URL: … --peer-trusted-ca-file …)`);
      },
      memberAdd: async () => undefined,
      memberRemove: async () => undefined,
    };
    await expect(runPodBootstrap({ identity: pod(3), clusterToken: TOKEN, io, logger, retryMs: 1, timeoutMs: 20 })).rejects.toThrow(/no running member answered .*: kv-0: certificate verify failed .*--peer-trusted-ca-file/);
  });
});
