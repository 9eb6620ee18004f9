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
  renewalBarrier = (): Promise<void> => this.readBarrier();
  renewLease = (id: bigint): RenewOutcome => (this.applied && id === LEASE ? { ttl: 5 } : 'not-found');
  leaseRemaining = (id: bigint): { remainingSeconds: number; ttl: number } | 'not-found' => (this.applied && id === LEASE ? { remainingSeconds: 4, ttl: 5 } : 'not-found');
  lease = (): undefined => undefined;
}

function service(backend: NewLeader, forwarder = {} as LeaderForwarder): ReturnType<LeaseService['implementation']> {
  return new LeaseService(backend as unknown as LeaseBackend, forwarder, { defaultTimeoutMs: 1_000 }).implementation();
}

/** A leader (id 9) reached over the forwarder: it renews every lease for 5 s. */
function leaderAt9(relayed: bigint[]): LeaderForwarder {
  return {
    openStream: () => {
      const answers: etcd.LeaseKeepAliveResponse[] = [];
      let wake: (() => void) | undefined;
      return {
        send: async (request: etcd.LeaseKeepAliveRequest) => {
          relayed.push(request.ID);
          answers.push(etcd.LeaseKeepAliveResponse.fromPartial({ ID: request.ID, TTL: 5n }));
          wake?.();
        },
        end: () => undefined,
        cancel: () => undefined,
        responses: (async function* () {
          for (;;) {
            while (answers.length === 0) await new Promise<void>((resolve) => (wake = resolve));
            yield answers.shift() as etcd.LeaseKeepAliveResponse;
          }
        })(),
      };
    },
  } as unknown as LeaderForwarder;
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

  it('a member that stepped down, its lessor not demoted yet, relays the keepalive to the new leader instead of asking its stale lessor', async () => {
    // Resumed after a pause: its lessor still thinks it leads, and its expiries ran on through
    // the pause, so it would answer "not found" for a lease the new leader keeps alive.
    const backend = new NewLeader();
    backend.isLeader = () => false;
    backend.leaderId = () => 9n as NodeId;
    backend.renewLease = () => 'not-found';
    const relayed: bigint[] = [];
    const written: etcd.LeaseKeepAliveResponse[] = [];
    await service(backend, leaderAt9(relayed)).leaseKeepAlive(requests(LEASE), call(written));
    expect(written.map((r) => r.TTL)).toEqual([5n]);
    expect(relayed).toEqual([LEASE]);
  });
});

describe('LeaseService keepalive streams', () => {
  it('renews the keepalives of one stream side by side, not one barrier after another', async () => {
    const backend = new NewLeader();
    backend.applied = true;
    let started = 0;
    backend.isLeader = () => {
      started++; // each renewal asks first
      return true;
    };
    const pending: (() => void)[] = [];
    backend.renewalBarrier = () =>
      new Promise<void>((resolve) => {
        backend.barriers++;
        pending.push(resolve);
      });
    const written: etcd.LeaseKeepAliveResponse[] = [];
    const stream = service(backend).leaseKeepAlive(requests(LEASE, LEASE, LEASE), call(written));
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    // The first barrier has not passed, yet all three renewals are under way (one at a time,
    // the second would start only after the first was answered).
    expect(written).toEqual([]);
    expect(started).toBe(3);
    while (written.length < 3) {
      for (const pass of pending.splice(0)) pass();
      await new Promise((resolve) => setImmediate(resolve));
    }
    await stream;
    expect(written.map((r) => r.TTL)).toEqual([5n, 5n, 5n]);
    expect(backend.barriers).toBeLessThanOrEqual(2); // the later arrivals share the next barrier
  });
});
