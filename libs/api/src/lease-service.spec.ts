import { Metadata } from '@keyval/grpc';
import type { ServerWritableCall } from '@keyval/grpc';
import { etcd } from '@keyval/proto';
import type { NodeId } from '@keyval/raft';
import type { RenewOutcome } from '@keyval/cluster';
import type { LeaseBackend } from './lease-service';
import { LeaseService } from './lease-service';
import type { LeaderForwarder } from './leader-forwarder';

const SELF = 7n as NodeId;
const LEASE = 0x1234n;

/**
 * A member that has just become leader: it has not applied its predecessor's last entries
 * (among them the grant of LEASE) until a read barrier makes it — as a real member applies
 * them only once an entry of its own term is committed.
 */
class NewLeader implements Partial<LeaseBackend> {
  applied = false;
  barriers = 0;
  isLeader = (): boolean => true;
  leaderId = (): NodeId => SELF;
  memberId = (): bigint => SELF;
  waitForLeader = async (): Promise<NodeId> => SELF;
  headerContext = (): { clusterId: bigint; memberId: bigint; raftTerm: number } => ({ clusterId: 1n, memberId: SELF, raftTerm: 3 });
  revision = (): number => 10;
  minLeaseTtlSeconds = (): number => 2;
  readBarrier = async (): Promise<void> => {
    this.barriers++;
    await new Promise((resolve) => setImmediate(resolve));
    this.applied = true;
  };
  renewLease = (id: bigint): RenewOutcome => (this.applied && id === LEASE ? { ttl: 5 } : 'not-found');
  leaseRemaining = (id: bigint): { remainingSeconds: number; ttl: number } | 'not-found' => (this.applied && id === LEASE ? { remainingSeconds: 4, ttl: 5 } : 'not-found');
  lease = (): undefined => undefined;
}

function service(backend: NewLeader): ReturnType<LeaseService['implementation']> {
  return new LeaseService(backend as unknown as LeaseBackend, {} as LeaderForwarder, { defaultTimeoutMs: 1_000 }).implementation();
}

function call<Res>(written: Res[]): ServerWritableCall<Res> {
  return {
    path: '/etcdserverpb.Lease/LeaseKeepAlive',
    peer: 'test',
    metadata: new Metadata(),
    deadline: undefined,
    signal: new AbortController().signal,
    setHeader: () => undefined,
    setTrailer: () => undefined,
    write: async (message: Res) => {
      written.push(message);
    },
  } as unknown as ServerWritableCall<Res>;
}

async function* requests(...ids: bigint[]): AsyncIterable<etcd.LeaseKeepAliveRequest> {
  for (const ID of ids) yield { ID };
}

describe('LeaseService on a leader that has not applied its predecessor’s entries yet (chaos: lease workload under pause)', () => {
  it('a keepalive waits for the read barrier and renews the lease, instead of answering TTL 0 ("not found")', async () => {
    const backend = new NewLeader();
    const written: etcd.LeaseKeepAliveResponse[] = [];
    await service(backend).leaseKeepAlive(requests(LEASE), call(written));
    expect(written.map((r) => r.TTL)).toEqual([5n]);
    expect(backend.barriers).toBe(1);
  });

  it('TimeToLive waits for the barrier too, instead of answering -1', async () => {
    const backend = new NewLeader();
    const answer = await service(backend).leaseTimeToLive(etcd.LeaseTimeToLiveRequest.fromPartial({ ID: LEASE }), call([]));
    expect(answer.TTL).toBe(4n);
  });

  it('a lease that really is gone is still answered TTL 0 after the barrier', async () => {
    const backend = new NewLeader();
    const written: etcd.LeaseKeepAliveResponse[] = [];
    await service(backend).leaseKeepAlive(requests(0x999n), call(written));
    expect(written.map((r) => r.TTL)).toEqual([0n]);
  });
});
