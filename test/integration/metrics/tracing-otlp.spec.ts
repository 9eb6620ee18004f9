/**
 * OpenTelemetry end to end: a real OTLP/HTTP receiver (protobuf decoded, harness/otlp-receiver)
 * takes the spans of a 3-member cluster and a gateway started with the standard OTEL_*
 * variables. A Put sent through the gateway with a W3C traceparent reaches a follower (the
 * gateway still believes it leads: leadership was moved and the gateway's probes are slowed
 * down), which forwards it to the leader; the whole tree arrives with the right parents,
 * services, Raft indexes and gRPC attributes. Concurrent writes share persist and apply spans
 * through links; a linearizable read shows its read barrier; with OTEL_TRACES_EXPORTER=none a
 * member exports nothing.
 */
import { randomBytes } from 'node:crypto';
import { Metadata } from '@keyval/grpc';
import { etcd } from '@keyval/proto';
import { TestCluster, explain } from '../harness/cluster';
import { etcdctlOk } from '../harness/etcdctl';
import { OtlpReceiver } from '../harness/otlp-receiver';
import type { ReceivedSpan } from '../harness/otlp-receiver';
import type { TestMember } from '../harness/member-process';
import { waitFor } from '../harness/wait-for';
import { GatewayProcess } from '../gateway/gateway-process';

jest.setTimeout(120_000);

const SERVER = 2;
const CLIENT = 3;

/** A W3C traceparent for a root span of our own (sampled). */
function rootContext(): { traceId: string; spanId: string; traceparent: string } {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
}

describe('tracing: one Put, gateway → follower → leader → fsync → commit → apply', () => {
  let receiver: OtlpReceiver | undefined;
  let cluster: TestCluster | undefined;
  let gateway: GatewayProcess | undefined;
  const c = (): TestCluster => {
    if (cluster === undefined) throw new Error('the cluster did not start');
    return cluster;
  };
  const rx = (): OtlpReceiver => receiver as OtlpReceiver;
  const gw = (): GatewayProcess => gateway as GatewayProcess;

  beforeAll(async () => {
    receiver = await OtlpReceiver.start();
    const env = {
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      OTEL_BSP_SCHEDULE_DELAY: '100',
    };
    cluster = await TestCluster.start({ size: 3, env });
    // Probes every minute: the gateway keeps believing in the leader it found first.
    gateway = await GatewayProcess.start({ endpoints: cluster.endpoints(), dir: cluster.dir, env, flags: ['--status-interval=60000', '--member-list-interval=600000'] });
  });

  afterAll(async () => {
    await gateway?.stop('SIGKILL');
    await cluster?.close();
    await receiver?.close();
  });

  /** The spans of trace `traceId` once `done` says they are all there. */
  async function traceOf(traceId: string, done: (spans: ReceivedSpan[]) => boolean, what: string): Promise<ReceivedSpan[]> {
    return waitFor(
      () => {
        const spans = rx().spans.filter((s) => s.traceId === traceId);
        return done(spans) ? spans : undefined;
      },
      { timeoutMs: 15_000, what, intervalMs: 50 },
    );
  }

  it(
    'exports the whole tree of a Put sent through the gateway to a follower',
    explain(c, async () => {
      const gatewayLeader = await c().leader();
      const ready = JSON.parse((await gw().httpGet('/readyz')).body) as { leader: string };
      expect(ready.leader).toBe(`${gatewayLeader.id?.toString(16)}@${gatewayLeader.endpoint}`);
      // Move leadership away: the gateway (probing once a minute) still sends writes to the old leader.
      const next = c().followersOf(gatewayLeader)[0] as TestMember;
      await next.status();
      await etcdctlOk([gatewayLeader.endpoint], ['move-leader', (next.id as bigint).toString(16)]);
      const leader = await c().leader();
      expect(leader).toBe(next);
      const follower = gatewayLeader;

      const root = rootContext();
      const put = etcd.PutRequest.fromPartial({ key: Buffer.from('traced/a'), value: Buffer.from('1') });
      await gw().kv().put(put, { timeoutMs: 10_000, metadata: new Metadata().add('traceparent', root.traceparent) });

      const complete = (s: ReceivedSpan[]): boolean =>
        ['raft.apply', 'wal.fsync', 'raft.propose', 'raft.replicate', 'raft.persist'].every((name) => s.some((x) => x.name === name)) &&
        s.filter((x) => x.kind === SERVER).length >= 3 &&
        s.filter((x) => x.kind === CLIENT).length >= 2;
      const spans = await traceOf(root.traceId, complete, 'the whole trace of the Put').catch((error: Error) => {
        const got = rx().spans.filter((x) => x.traceId === root.traceId);
        throw new Error(`${error.message}; got ${got.map((x) => `${x.name}(${x.kind})@${String(x.resource['service.name'])}/${String(x.resource['service.instance.id'])}`).join(', ')}`);
      });
      const byId = new Map(spans.map((s) => [s.spanId, s]));
      const parentOf = (s: ReceivedSpan): ReceivedSpan | undefined => byId.get(s.parentSpanId);
      const one = (predicate: (s: ReceivedSpan) => boolean, what: string): ReceivedSpan => {
        const found = spans.filter(predicate);
        if (found.length !== 1) throw new Error(`expected one ${what}, found ${found.length}: ${spans.map((s) => `${s.name}@${String(s.resource['service.instance.id'])}`).join(', ')}`);
        return found[0] as ReceivedSpan;
      };
      const service = (s: ReceivedSpan): string => `${String(s.resource['service.name'])}/${String(s.resource['service.instance.id'])}`;

      // The gateway: its server span under our root, then the attempt to the member it believes leads.
      const gwServer = one((s) => s.kind === SERVER && s.resource['service.name'] === 'keyval-gateway' && s.name === 'etcdserverpb.KV/Put', 'gateway server span');
      expect(gwServer.parentSpanId).toBe(root.spanId);
      expect(gwServer.attributes).toMatchObject({ 'rpc.system': 'grpc', 'rpc.service': 'etcdserverpb.KV', 'rpc.method': 'Put', 'rpc.grpc.status_code': 0 });
      const attempt = one((s) => s.kind === CLIENT && s.parentSpanId === gwServer.spanId && s.name === 'etcdserverpb.KV/Put', 'gateway attempt span');
      expect(attempt.attributes['server.address']).toBe(follower.endpoint);

      // The follower: serves the call (a call of a KVBatch), forwards it to the leader.
      const followerServer = one((s) => s.kind === SERVER && s.parentSpanId === attempt.spanId, 'follower server span');
      expect(service(followerServer)).toBe(`keyval/${follower.name}`);
      expect(followerServer.name).toBe('etcdserverpb.KV/Put');
      const forward = one((s) => s.kind === CLIENT && s.parentSpanId === followerServer.spanId, 'forward span');
      expect(service(forward)).toBe(`keyval/${follower.name}`);
      expect(forward.attributes['keyval.leader']).toBe((leader.id as bigint).toString(16));

      // The leader: serves the forwarded call and proposes it.
      const leaderServer = one((s) => s.kind === SERVER && s.parentSpanId === forward.spanId, 'leader server span');
      expect(service(leaderServer)).toBe(`keyval/${leader.name}`);
      expect(leaderServer.attributes['rpc.grpc.status_code']).toBe(0);
      const propose = one((s) => s.name === 'raft.propose', 'proposal span');
      expect(propose.parentSpanId).toBe(leaderServer.spanId);
      const index = propose.attributes['raft.index'];
      expect(typeof index).toBe('number');
      expect(propose.attributes['raft.term']).toBeGreaterThan(0);
      expect(propose.events).toContain('committed');

      // Its stages: the WAL append with its fsync, replication to a quorum (commit), apply.
      const persist = one((s) => s.name === 'raft.persist', 'persist span');
      expect(parentOf(persist)).toBe(propose);
      expect(persist.attributes['raft.index.first']).toBeLessThanOrEqual(index as number);
      expect(persist.attributes['raft.index.last']).toBeGreaterThanOrEqual(index as number);
      expect(persist.attributes['wal.sync']).toBe(true);
      const fsync = one((s) => s.name === 'wal.fsync', 'fsync span');
      expect(parentOf(fsync)).toBe(persist);
      expect(fsync.startNs).toBeGreaterThanOrEqual(persist.startNs);
      expect(fsync.endNs).toBeLessThanOrEqual(persist.endNs);
      const replicate = one((s) => s.name === 'raft.replicate', 'replication span');
      expect(parentOf(replicate)).toBe(propose);
      expect(replicate.attributes).toMatchObject({ 'raft.index': index });
      expect(replicate.attributes['raft.commit_index']).toBeGreaterThanOrEqual(index as number);
      const apply = one((s) => s.name === 'raft.apply', 'apply span');
      expect(parentOf(apply)).toBe(propose);
      expect(apply.startNs).toBeGreaterThanOrEqual(replicate.endNs - 1_000_000n);
      expect(propose.endNs).toBeGreaterThanOrEqual(apply.endNs);
      for (const s of [propose, persist, fsync, replicate, apply]) expect(service(s)).toBe(`keyval/${leader.name}`);
      // Every span of the trace hangs from our root: no orphan.
      for (const s of spans) expect(s.parentSpanId === root.spanId || byId.has(s.parentSpanId)).toBe(true);
      expect(rx().rejected).toEqual([]);
      for (const m of c().members) expect(m.logRecords().some((r) => r.msg === 'tracing on')).toBe(true);
    }),
  );

  it(
    'links concurrent writes to the persist and apply batches they shared, and shows a read barrier',
    explain(c, async () => {
      const leader = await c().leader();
      const roots = Array.from({ length: 12 }, () => rootContext());
      const kv = leader.kv();
      await Promise.all(
        roots.map((r, i) => kv.put(etcd.PutRequest.fromPartial({ key: Buffer.from(`traced/batch/${i}`), value: Buffer.from('x') }), { timeoutMs: 10_000, metadata: new Metadata().add('traceparent', r.traceparent) })),
      );
      const traceIds = new Set(roots.map((r) => r.traceId));
      const proposals = await waitFor(
        () => {
          const found = rx().spans.filter((s) => traceIds.has(s.traceId) && s.name === 'raft.propose' && s.endNs > 0n);
          return found.length === roots.length ? found : undefined;
        },
        { timeoutMs: 15_000, what: 'the 12 proposal spans' },
      );
      const proposalIds = new Set(proposals.map((p) => p.spanId));
      const batches = await waitFor(
        () => {
          const found = rx().spans.filter((s) => traceIds.has(s.traceId) && (s.name === 'raft.persist' || s.name === 'raft.apply'));
          return found.some((s) => s.links.length > 0) ? found : undefined;
        },
        { timeoutMs: 15_000, what: 'a persist or apply span shared by several writes' },
      );
      for (const batch of batches) {
        // Its parent is one of the proposals; its links name other proposals, which link back.
        expect(proposalIds.has(batch.parentSpanId)).toBe(true);
        for (const link of batch.links) {
          expect(proposalIds.has(link.spanId)).toBe(true);
          expect(link.spanId).not.toBe(batch.parentSpanId);
          const linked = proposals.find((p) => p.spanId === link.spanId) as ReceivedSpan;
          expect(linked.links.some((back) => back.spanId === batch.spanId)).toBe(true);
        }
      }

      const read = rootContext();
      await leader.kv().range(etcd.RangeRequest.fromPartial({ key: Buffer.from('traced/a') }), { timeoutMs: 5_000, metadata: new Metadata().add('traceparent', read.traceparent) });
      const readSpans = await traceOf(read.traceId, (s) => s.some((x) => x.name === 'raft.read_index'), 'the read barrier span');
      const server = readSpans.find((s) => s.kind === SERVER && s.name === 'etcdserverpb.KV/Range') as ReceivedSpan;
      const barrier = readSpans.find((s) => s.name === 'raft.read_index') as ReceivedSpan;
      expect(barrier.parentSpanId).toBe(server.spanId);
      expect(barrier.attributes['raft.read_mode']).toBe('safe');
      expect(barrier.attributes['raft.read_index']).toBeGreaterThan(0);
    }),
  );
});

describe('tracing off', () => {
  it('starts no SDK and exports nothing when OTEL_TRACES_EXPORTER is none, even with an endpoint set and a traced request', async () => {
    const receiver = await OtlpReceiver.start();
    const cluster = await TestCluster.start({ size: 1, env: { OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY: '100' } });
    try {
      const m = cluster.members[0] as TestMember;
      const root = rootContext();
      await m.kv().put(etcd.PutRequest.fromPartial({ key: Buffer.from('quiet'), value: Buffer.from('1') }), { timeoutMs: 5_000, metadata: new Metadata().add('traceparent', root.traceparent) });
      // A member that traced would export within OTEL_BSP_SCHEDULE_DELAY; stopping it flushes what it holds.
      await m.stop('SIGTERM');
      expect(m.logRecords().some((r) => r.msg === 'tracing on')).toBe(false);
      expect(receiver.spans).toEqual([]);
      expect(receiver.rejected).toEqual([]);
    } finally {
      await cluster.close();
      await receiver.close();
    }
  });
});
