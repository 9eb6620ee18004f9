import { nodeId } from '@keyval/raft';
import { RemovalWatch } from './removal-watch';
import type { RemovalWatchHost } from './removal-watch';

const SELF = nodeId(1);
const CLUSTER = 0xc1n;
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** A host whose peers answer from `lists` (undefined: no answer). */
function host(lists: Record<string, { clusterId: bigint; memberIds: bigint[] } | undefined>): RemovalWatchHost & { removed: number } {
  const h = {
    id: SELF,
    clusterId: CLUSTER,
    removed: 0,
    leaderKnown: () => false,
    peers: () => Object.keys(lists).map((url, k) => ({ id: nodeId(k + 2), url })),
    memberList: async (url: string) => {
      const list = lists[url];
      if (list === undefined) throw new Error('unreachable');
      return list;
    },
    onRemoved: () => {
      h.removed++;
    },
    logger: silent,
  };
  return h;
}

describe('RemovalWatch.checkOnce', () => {
  const without = { clusterId: CLUSTER, memberIds: [2n, 3n] };
  const withUs = { clusterId: CLUSTER, memberIds: [1n, 2n, 3n] };

  it('is removed when a majority of the other members, in our cluster, no longer list it', async () => {
    expect(await new RemovalWatch(host({ a: without, b: without })).checkOnce()).toBe(true);
    expect(await new RemovalWatch(host({ a: without, b: undefined, c: without })).checkOnce()).toBe(true);
  });

  it('is not removed when any member lists it, or too few answer', async () => {
    expect(await new RemovalWatch(host({ a: without, b: withUs })).checkOnce()).toBe(false);
    expect(await new RemovalWatch(host({ a: without, b: undefined, c: undefined })).checkOnce()).toBe(false);
    expect(await new RemovalWatch(host({})).checkOnce()).toBe(false);
  });

  it('ignores answers from another cluster', async () => {
    const other = { clusterId: 0xdeadn, memberIds: [2n] };
    expect(await new RemovalWatch(host({ a: other, b: other, c: without })).checkOnce()).toBe(false);
  });
});
