/**
 * Which peers a member's transport can send to. The applied membership decides: every
 * member's first peer URL, set at start, on every applied membership change and after a
 * snapshot is restored (whose membership may name members this one never saw a change for:
 * without them, it could hear a leader it cannot answer); peers the membership no longer has
 * are dropped. Before anything is applied, a joining member seeds the list from the running
 * members of --initial-cluster. (A sender the list does not name yet is answered at the URL it
 * gave on its stream: GrpcPeerTransport's remotes.)
 */
import { nodeId } from '@keyval/raft';
import type { NodeId } from '@keyval/raft';
import type { MembershipState } from '@keyval/statemachine';
import type { PeerTransport } from '../transport/transport';
import { fetchClusterMembers } from './member-discovery';
import type { KvMemberOptions } from './member-options';

export class MemberPeers {
  /** The peers the transport was pointed at (from the membership or the seed list). */
  private readonly pointed = new Set<NodeId>();

  constructor(
    private readonly self: NodeId,
    private readonly clusterId: bigint,
    private readonly transport: Pick<PeerTransport, 'setPeer' | 'removePeer'>,
    private readonly options: Pick<KvMemberOptions, 'logger'> & Parameters<typeof fetchClusterMembers>[0],
  ) {}

  private point(id: NodeId, url: string): void {
    this.transport.setPeer(id, url);
    this.pointed.add(id);
  }

  /** Points the transport at `membership`'s members and drops the peers it no longer has. */
  update(membership: MembershipState): void {
    const known = new Set<NodeId>([...membership.config.voters, ...membership.config.learners]);
    for (const m of membership.members) {
      known.add(m.id);
      const url = m.peerUrls[0];
      if (url !== undefined && m.id !== this.self) this.point(m.id, url);
    }
    if (membership.members.length === 0) return;
    for (const id of [...this.pointed]) {
      if (!known.has(id)) {
        this.transport.removePeer(id);
        this.pointed.delete(id);
      }
    }
  }

  /**
   * A member joining with nothing applied yet knows no peer: it could hear the leader but not
   * answer it. It asks the running members of --initial-cluster for the member list (as on
   * its first start, to learn its id) and points the transport at them; the membership it
   * applies from the log (or a snapshot) takes over from there. Best effort: without an
   * answer it still waits for the leader, and says so.
   */
  async seedFromCluster(): Promise<void> {
    try {
      const cluster = await fetchClusterMembers(this.options);
      if (cluster.clusterId !== this.clusterId) {
        this.options.logger.warn('the members of --initial-cluster belong to another cluster; not using their member list', { theirs: cluster.clusterId.toString(16) });
        return;
      }
      for (const m of cluster.members) {
        const url = m.peerURLs[0];
        if (url !== undefined && m.ID !== this.self) this.point(nodeId(m.ID), url);
      }
    } catch (error) {
      this.options.logger.warn('could not learn the peers from --initial-cluster; waiting for the leader', { error: String(error) });
    }
  }
}
