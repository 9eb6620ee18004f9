/**
 * The gateway against in-process fake members (testing/fake-cluster.ts): routing, leader
 * discovery without failed requests, retries under sessions (applied at most once), the
 * in-flight bound, membership changes and graceful shutdown.
 */
import { GrpcChannel, GrpcStatus, GrpcStatusError, createClient } from '@keyval/grpc';
import { etcd, health } from '@keyval/proto';
import { Gateway } from './gateway';
import type { GatewayOptions } from './gateway';
import { FakeCluster } from './testing/fake-cluster';
import type { FakeMember } from './testing/fake-cluster';

jest.setTimeout(30_000);

const key = (k: string): Buffer => Buffer.from(k);

async function waitFor(what: string, probe: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('Gateway (fake members)', () => {
  let cluster: FakeCluster;
  let gateway: Gateway;
  let channel: GrpcChannel;
  let kv: ReturnType<typeof createClient<typeof etcd.KVDefinition>>;

  async function startGateway(options: Partial<GatewayOptions> = {}): Promise<void> {
    gateway = await Gateway.start({
      endpoints: [cluster.members[0]?.endpoint as string],
      listen: [{ host: '127.0.0.1', port: 0 }],
      statusIntervalMs: 20,
      memberListIntervalMs: 50,
      probeTimeoutMs: 200,
      ...options,
    });
    channel = new GrpcChannel(`127.0.0.1:${gateway.addresses[0]?.port}`);
    kv = createClient(etcd.KVDefinition, channel);
    await waitFor('a leader', () => gateway.directory.leader() !== undefined && gateway.directory.memberList().length === cluster.members.length);
    // Every member's first status answer must have landed before a test moves the leader:
    // a late one would otherwise tell the gateway of the move (the tests below rely on a stale view).
    await waitFor('first probes', () => cluster.members.every((m) => m.count('Status') >= 1));
    await new Promise((resolve) => setTimeout(resolve, 50));
  }

  const leaderIs = (m: FakeMember): boolean => gateway.directory.leader()?.id === m.id;
  const member = (i: number): FakeMember => cluster.members[i] as FakeMember;

  beforeEach(async () => {
    cluster = await FakeCluster.start(3);
  });

  afterEach(async () => {
    channel?.close();
    await gateway?.shutdown(100);
    await cluster.close();
  });

  it('sends writes and linearizable reads to the leader, spreads serializable reads', async () => {
    await startGateway();
    cluster.setLeader(member(1));
    await waitFor('the new leader', () => leaderIs(member(1)));
    await kv.put(etcd.PutRequest.fromPartial({ key: key('a'), value: key('1') }));
    const read = await kv.range(etcd.RangeRequest.fromPartial({ key: key('a') }));
    expect(read.kvs[0]?.value.toString()).toBe('1');
    expect(member(1).count('Put')).toBe(1);
    expect(member(1).count('Range')).toBe(1);
    for (let i = 0; i < 30; i++) {
      await kv.range(etcd.RangeRequest.fromPartial({ key: key('a'), serializable: true }));
    }
    for (const m of cluster.members) {
      expect(m.count('Range')).toBeGreaterThanOrEqual(m === member(1) ? 6 : 5);
    }
    expect(member(0).count('Put') + member(2).count('Put')).toBe(0);
  });

  it('finds a new leader by probing, before any request fails', async () => {
    await startGateway();
    cluster.setLeader(member(2));
    await waitFor('the new leader', () => leaderIs(member(2)));
    await kv.put(etcd.PutRequest.fromPartial({ key: key('b'), value: key('1') }));
    expect(gateway.stats().retries).toBe(0);
    expect(member(2).count('Put')).toBe(1);
  });

  it('on a not-leader answer, probes at once and retries at the new leader', async () => {
    await startGateway({ statusIntervalMs: 60_000 });
    cluster.setLeader(member(1)); // the gateway's view is stale: probes run only on hints now
    await kv.put(etcd.PutRequest.fromPartial({ key: key('c'), value: key('1') }), { timeoutMs: 5_000 });
    expect(member(0).count('Put')).toBe(1);
    expect(member(1).count('Put')).toBe(1);
    expect(cluster.applied).toHaveLength(1);
  });

  it('retries a write whose answer was lost with the same session: applied once, first answer replayed', async () => {
    await startGateway();
    member(0).faults.loseAnswers = 3;
    const response = await kv.txn(
      etcd.TxnRequest.fromPartial({
        compare: [{ key: key('n'), result: etcd.Compare_CompareResult.EQUAL, target: etcd.Compare_CompareTarget.VALUE, targetUnion: { $case: 'value', value: Buffer.alloc(0) } }],
        success: [{ request: { $case: 'requestPut', value: { key: key('n'), value: key('1') } } }],
      }),
    );
    expect(response.succeeded).toBe(true); // a blind retry would have seen the compare fail
    expect(cluster.applied).toHaveLength(1);
    const sent = member(0).writeMetadata;
    expect(sent).toHaveLength(4);
    expect(new Set(sent.map((m) => `${m.clientId}/${m.seq}`)).size).toBe(1);
    expect(sent[0]?.clientId).toMatch(/^gw-[0-9a-f]{16}-/);
    expect(gateway.stats().retries).toBe(3);
  });

  it('passes a client session through unchanged and retries with it', async () => {
    await startGateway();
    member(0).faults.loseAnswers = 1;
    await kv.put(etcd.PutRequest.fromPartial({ key: key('d'), value: key('1') }), { metadata: { 'keyval-client-id': 'mine', 'keyval-seq': '1' } });
    expect(member(0).writeMetadata).toEqual([
      { clientId: 'mine', seq: '1' },
      { clientId: 'mine', seq: '1' },
    ]);
    expect(cluster.applied).toHaveLength(1);
    expect(gateway.stats().gatewaySessionWrites).toBe(0);
  });

  it('keeps one write in flight per gateway session, so sequences reach the store in order', async () => {
    await startGateway({ sessionsMax: 4 });
    const writes = Array.from({ length: 200 }, (_, i) => kv.put(etcd.PutRequest.fromPartial({ key: key(`k${i % 7}`), value: key(String(i)) })));
    await Promise.all(writes);
    expect(cluster.applied).toHaveLength(200);
    const bySession = new Map<string, number[]>();
    for (const w of cluster.applied) bySession.set(w.clientId as string, [...(bySession.get(w.clientId as string) ?? []), w.seq as number]);
    expect(bySession.size).toBeLessThanOrEqual(4);
    for (const seqs of bySession.values()) {
      expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    }
  });

  it('sends concurrent writes to the leader together in KVBatch calls, each applied once with its own answer', async () => {
    await startGateway();
    const writes = Array.from({ length: 300 }, (_, i) => kv.put(etcd.PutRequest.fromPartial({ key: key(`b${i}`), value: key(String(i)) }), { metadata: { 'keyval-client-id': `c${i}`, 'keyval-seq': '1' } }));
    const answers = await Promise.all(writes);
    expect(answers.every((a) => a.header?.memberId === member(0).id)).toBe(true);
    expect(cluster.applied).toHaveLength(300);
    expect(cluster.store.get('b299')?.toString()).toBe('299');
    expect(member(0).count('Put')).toBe(300);
    const batches = member(0).count('Execute');
    expect(batches).toBeGreaterThan(0);
    expect(batches).toBeLessThan(300 / 4); // concurrent writes went together
    expect(gateway.stats().batchedWrites).toBe(300);
    expect(gateway.stats().writeBatches).toBe(batches);
  });

  it('answers each write of a batch on its own: a refused session fails alone', async () => {
    await startGateway();
    const ok = kv.put(etcd.PutRequest.fromPartial({ key: key('x'), value: key('1') }), { metadata: { 'keyval-client-id': 'fresh', 'keyval-seq': '1' } });
    const refused = kv.put(etcd.PutRequest.fromPartial({ key: key('y'), value: key('1') }), { metadata: { 'keyval-client-id': 'unknown', 'keyval-seq': '7' } });
    const [okResult, refusedResult] = await Promise.allSettled([ok, refused]);
    expect(okResult.status).toBe('fulfilled');
    expect(refusedResult).toMatchObject({ status: 'rejected', reason: { code: GrpcStatus.FAILED_PRECONDITION, details: expect.stringMatching(/unknown or expired/) } });
    expect(cluster.store.get('x')?.toString()).toBe('1');
    expect(cluster.store.has('y')).toBe(false);
  });

  it('follows a not-leader answer inside a batch to the hinted leader', async () => {
    await startGateway({ statusIntervalMs: 60_000 });
    cluster.setLeader(member(2)); // the gateway still believes member 0 leads
    await kv.put(etcd.PutRequest.fromPartial({ key: key('h'), value: key('1') }));
    expect(member(0).count('Execute')).toBeGreaterThan(0);
    expect(member(2).count('Put')).toBe(1);
    expect(cluster.applied).toHaveLength(1);
  });

  it('falls back to one call per write when the members do not serve KVBatch', async () => {
    cluster.batching = false;
    await startGateway();
    await Promise.all(Array.from({ length: 20 }, (_, i) => kv.put(etcd.PutRequest.fromPartial({ key: key(`f${i}`), value: key('1') }))));
    expect(cluster.applied).toHaveLength(20);
    expect(member(0).count('Put')).toBe(20);
    expect(member(0).count('Execute')).toBe(0);
    const tried = gateway.stats().writeBatches;
    expect(tried).toBeGreaterThan(0);
    await kv.put(etcd.PutRequest.fromPartial({ key: key('f-later'), value: key('1') }));
    expect(gateway.stats().writeBatches).toBe(tried); // once refused, the member gets unary calls
  });

  it('sends every write as its own call with batching off', async () => {
    await startGateway({ writeBatching: null });
    await Promise.all(Array.from({ length: 20 }, (_, i) => kv.put(etcd.PutRequest.fromPartial({ key: key(`u${i}`), value: key('1') }))));
    expect(member(0).count('Put')).toBe(20);
    expect(member(0).count('Execute')).toBe(0);
    expect(gateway.stats().writeBatches).toBe(0);
  });

  it('renews a gateway session the state machine no longer knows', async () => {
    await startGateway({ sessionsMax: 1 });
    await kv.put(etcd.PutRequest.fromPartial({ key: key('e'), value: key('1') }));
    cluster.sessions.clear(); // evicted: seq 2 of that session is refused as unknown
    await kv.put(etcd.PutRequest.fromPartial({ key: key('e'), value: key('2') }));
    expect(cluster.applied.map((w) => w.seq)).toEqual([1, 1]);
    expect(gateway.stats().sessionRenewals).toBe(1);
  });

  it('answers "no leader" within the deadline when none is known', async () => {
    await startGateway();
    cluster.setLeader(undefined);
    await waitFor('no leader', () => gateway.directory.leader() === undefined);
    const started = Date.now();
    // The gateway answers a little before the deadline (5% of the time, at most 250 ms).
    const error = await kv.put(etcd.PutRequest.fromPartial({ key: key('f'), value: key('1') }), { timeoutMs: 2_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GrpcStatusError);
    expect((error as GrpcStatusError).code).toBe(GrpcStatus.UNAVAILABLE);
    expect((error as GrpcStatusError).details).toMatch(/^etcdserver: no leader/);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('answers DEADLINE_EXCEEDED "may or may not have been applied" when every answer is lost', async () => {
    await startGateway();
    member(0).faults.loseAnswers = 1_000;
    const error = (await kv.put(etcd.PutRequest.fromPartial({ key: key('g'), value: key('1') }), { timeoutMs: 2_000 }).catch((e: unknown) => e)) as GrpcStatusError;
    expect(error.code).toBe(GrpcStatus.DEADLINE_EXCEEDED);
    expect(error.details).toMatch(/^etcdserver: request timed out: the write may or may not have been applied \(at most once\)/);
    expect(cluster.applied).toHaveLength(1);
    expect(gateway.stats().indeterminateWrites).toBe(1);
  });

  it('cancels attempts waiting on a deposed leader and sends them to the new one', async () => {
    await startGateway();
    member(0).faults.hold = true;
    const write = kv.put(etcd.PutRequest.fromPartial({ key: key('h'), value: key('1') }), { timeoutMs: 5_000 });
    await waitFor('the held call', () => member(0).count('Put') === 1);
    cluster.setLeader(member(2));
    await write;
    expect(member(2).count('Put')).toBe(1);
    expect(gateway.stats().leaderMoveCancels).toBe(1);
  });

  it('frees the batch slot of a batch whose writes were all cancelled, so a hung batch does not hold later writes', async () => {
    await startGateway({ writeBatching: { maxBatchesInFlight: 1, maxCallsPerBatch: 256, maxBatchBytes: 1 << 20 } });
    member(0).faults.hold = true;
    const write = kv.put(etcd.PutRequest.fromPartial({ key: key('h'), value: key('1') }), { timeoutMs: 20_000 });
    await waitFor('the held call', () => member(0).count('Put') === 1);
    cluster.setLeader(member(2));
    await write; // cancelled at member 0 (still held there), then answered by member 2
    expect(gateway.stats().leaderMoveCancels).toBe(1);
    cluster.setLeader(member(0));
    member(0).faults.hold = false;
    await waitFor('member 0 to lead again', () => leaderIs(member(0)));
    const started = Date.now();
    await kv.put(etcd.PutRequest.fromPartial({ key: key('next'), value: key('1') }), { timeoutMs: 20_000 });
    expect(Date.now() - started).toBeLessThan(1_000); // not behind the held batch's 20 s deadline
    expect(cluster.store.get('next')?.toString()).toBe('1');
  });

  it('retries at the new leader after the leader is killed mid-request', async () => {
    await startGateway();
    member(0).faults.hold = true;
    const write = kv.put(etcd.PutRequest.fromPartial({ key: key('i'), value: key('1') }), { timeoutMs: 5_000 });
    await waitFor('the held call', () => member(0).count('Put') === 1);
    member(0).kill();
    setTimeout(() => cluster.setLeader(member(1)), 100); // an election takes a while
    await write;
    expect(member(1).count('Put')).toBe(1);
    expect(cluster.applied).toHaveLength(1);
  });

  it('never sends an admin call again after an unknown outcome', async () => {
    await startGateway();
    const cl = createClient(etcd.ClusterDefinition, channel);
    const error = (await cl.memberAdd(etcd.MemberAddRequest.fromPartial({ peerURLs: ['http://127.0.0.1:1'] })).catch((e: unknown) => e)) as GrpcStatusError;
    expect(error.code).toBe(GrpcStatus.UNAVAILABLE);
    expect(member(0).count('MemberAdd')).toBe(1);
  });

  it('refuses calls beyond the in-flight bound with RESOURCE_EXHAUSTED', async () => {
    await startGateway({ inflightMax: 3 });
    member(0).faults.hold = true;
    const held = [1, 2, 3].map((i) => kv.put(etcd.PutRequest.fromPartial({ key: key(`j${i}`), value: key('1') })));
    await waitFor('three held calls', () => member(0).count('Put') === 3);
    const error = (await kv.put(etcd.PutRequest.fromPartial({ key: key('j4'), value: key('1') })).catch((e: unknown) => e)) as GrpcStatusError;
    expect(error.code).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
    expect(error.details).toMatch(/^etcdserver: too many requests/);
    member(0).release();
    await Promise.all(held);
  });

  it('finds added members, drops removed ones, and follows leadership to a new member', async () => {
    await startGateway();
    const added = await cluster.addMember();
    await waitFor('the added member', () => gateway.directory.memberList().some((m) => m.id === added.id && m.authority === added.endpoint));
    cluster.setLeader(added);
    await waitFor('the added member leading', () => leaderIs(added));
    await kv.put(etcd.PutRequest.fromPartial({ key: key('k'), value: key('1') }));
    expect(added.count('Put')).toBe(1);
    const removed = member(1);
    cluster.removeMember(removed);
    await waitFor('the removed member dropped', () => gateway.directory.memberList().length === 3);
    expect(gateway.directory.memberList().map((m) => m.id)).not.toContain(removed.id);
    expect(gateway.directory.readTargets()).not.toContain(removed.endpoint);
  });

  it('drains calls in flight on shutdown and refuses new ones; grpc.health.v1 says SERVING, and fails once draining', async () => {
    await startGateway();
    const healthClient = createClient(health.HealthDefinition, channel);
    expect(await healthClient.check({ service: '' })).toEqual({ status: health.HealthCheckResponse_ServingStatus.SERVING });
    const unknown = (await healthClient.check({ service: 'etcdserverpb.KV' }).catch((e: unknown) => e)) as GrpcStatusError;
    expect([unknown.code, unknown.details]).toEqual([GrpcStatus.NOT_FOUND, 'unknown service']);
    member(0).faults.hold = true;
    const held = kv.put(etcd.PutRequest.fromPartial({ key: key('l'), value: key('1') }));
    await waitFor('the held call', () => member(0).count('Put') === 1);
    const stopping = gateway.shutdown(5_000);
    expect(gateway.ready().ready).toBe(false);
    // Draining, the gateway takes no new call: the health check fails too (a load balancer stops sending).
    expect(((await healthClient.check({ service: '' }).catch((e: unknown) => e)) as GrpcStatusError).code).toBe(GrpcStatus.UNAVAILABLE);
    setTimeout(() => member(0).release(), 100);
    await held;
    await stopping;
    expect(cluster.applied).toHaveLength(1);
  });
});

describe('Gateway shutdown at the end of its grace period', () => {
  it('answers a write still waiting on a member "may or may not have been applied", not with a cut-off', async () => {
    const cluster = await FakeCluster.start(1);
    const gateway = await Gateway.start({ endpoints: [cluster.members[0]?.endpoint as string], listen: [{ host: '127.0.0.1', port: 0 }], statusIntervalMs: 20 });
    const channel = new GrpcChannel(`127.0.0.1:${gateway.addresses[0]?.port}`);
    try {
      await waitFor('a leader', () => gateway.directory.leader() !== undefined);
      (cluster.members[0] as FakeMember).faults.hold = true;
      const write = createClient(etcd.KVDefinition, channel)
        .put(etcd.PutRequest.fromPartial({ key: key('m'), value: key('1') }), { timeoutMs: 10_000 })
        .catch((e: unknown) => e);
      await waitFor('the held call', () => (cluster.members[0] as FakeMember).count('Put') === 1);
      await gateway.shutdown(500);
      const error = (await write) as GrpcStatusError;
      expect(error.code).toBe(GrpcStatus.DEADLINE_EXCEEDED);
      expect(error.details).toMatch(/may or may not have been applied/);
    } finally {
      channel.close();
      await cluster.close();
    }
  });
});
