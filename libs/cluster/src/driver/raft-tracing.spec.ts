/**
 * The driver's write-path spans on three in-memory members with an in-memory SDK: a proposal
 * given its request's span gets `raft.propose` under it with its stages (persist with its
 * index range, replicate up to the commit, apply); writes sharing a persist or apply batch
 * share one span, linked both ways; reads show their barrier; an unsampled proposal is not
 * kept at all. The parent is passed explicitly: no context manager is registered for these,
 * so nothing can come from OpenTelemetry's active context (AsyncLocalStorage) — except in the
 * last test, which checks the fallback for callers that pass no parent.
 */
import { context, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { AlwaysOffSampler, BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { ReadMode, nodeId } from '@keyval/raft';
import { MemoryNetwork } from '../transport/memory-transport';
import { put, startToyMember, waitUntil } from '../testing/toy-member';
import type { ToyMember } from '../testing/toy-member';

const ids = [nodeId(1), nodeId(2), nodeId(3)];
const soon = (ms = 2_000): number => performance.now() + ms;
const contextManager = new AsyncLocalStorageContextManager();


async function tracedCluster(provider: BasicTracerProvider): Promise<{ members: ToyMember[]; leader: ToyMember }> {
  const net = new MemoryNetwork();
  const tracer = provider.getTracer('test');
  const members = await Promise.all(ids.map((id) => startToyMember(net, id, ids, { tracer })));
  let leader: ToyMember | undefined;
  await waitUntil('a leader', () => (leader = members.find((m) => m.driver.isLeader())) !== undefined);
  return { members, leader: leader as ToyMember };
}

describe('RaftDriver tracing', () => {
  let members: ToyMember[] = [];
  afterEach(() => {
    for (const m of members) m.driver.stop();
  });

  it('traces a proposal\'s stages and shares batch spans through links', async () => {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    const cluster = await tracedCluster(provider);
    members = cluster.members;
    const tracer = provider.getTracer('client');
    const request = tracer.startSpan('request');
    await cluster.leader.driver.propose(put('a', '1'), soon(), trace.setSpan(ROOT_CONTEXT, request));
    const spans = (): ReadableSpan[] => exporter.getFinishedSpans();
    await waitUntil('the proposal span', () => spans().some((s) => s.name === 'raft.propose'));
    const propose = spans().find((s) => s.name === 'raft.propose') as ReadableSpan;
    expect(propose.parentSpanContext?.spanId).toBe(request.spanContext().spanId);
    const index = propose.attributes['raft.index'] as number;
    expect(index).toBeGreaterThan(0);
    const children = spans().filter((s) => s.parentSpanContext?.spanId === propose.spanContext().spanId);
    expect(children.map((s) => s.name).sort()).toEqual(['raft.apply', 'raft.persist', 'raft.replicate']);
    const persist = children.find((s) => s.name === 'raft.persist') as ReadableSpan;
    expect(persist.attributes['raft.index.first']).toBeLessThanOrEqual(index);
    expect(persist.attributes['raft.index.last']).toBeGreaterThanOrEqual(index);
    expect((children.find((s) => s.name === 'raft.replicate') as ReadableSpan).attributes['raft.commit_index']).toBeGreaterThanOrEqual(index);

    // Several concurrent proposals, each under its own request span.
    exporter.reset();
    const requests = Array.from({ length: 8 }, (_, i) => tracer.startSpan(`request-${i}`));
    await Promise.all(requests.map((r, i) => cluster.leader.driver.propose(put(`k${i}`, 'v'), soon(), trace.setSpan(ROOT_CONTEXT, r))));
    await waitUntil('eight proposal spans', () => spans().filter((s) => s.name === 'raft.propose').length === 8);
    const proposals = new Map(spans().filter((s) => s.name === 'raft.propose').map((s) => [s.spanContext().spanId, s]));
    const shared = spans().filter((s) => (s.name === 'raft.persist' || s.name === 'raft.apply') && s.links.length > 0);
    expect(shared.length).toBeGreaterThan(0);
    for (const batch of shared) {
      expect(proposals.has(batch.parentSpanContext?.spanId as string)).toBe(true);
      for (const link of batch.links) {
        const linked = proposals.get(link.context.spanId) as ReadableSpan;
        expect(linked).toBeDefined();
        expect(linked.links.some((back) => back.context.spanId === batch.spanContext().spanId)).toBe(true);
      }
    }

    // A read barrier under a request span.
    exporter.reset();
    // (The toy members' election timeout is 50 ms: leadership may move under a loaded machine; read again then.)
    const read = tracer.startSpan('read');
    let confirmed = false;
    for (let attempt = 0; !confirmed && attempt < 20; attempt++) {
      const reader = members.find((m) => m.driver.isLeader()) ?? cluster.leader;
      confirmed = await reader.driver.readBarrier(ReadMode.Safe, soon(), trace.setSpan(ROOT_CONTEXT, read)).then(
        () => true,
        () => false,
      );
    }
    expect(confirmed).toBe(true);
    const barrier = spans().find((s) => s.name === 'raft.read_index' && s.status.code !== 2) as ReadableSpan;
    expect(barrier.parentSpanContext?.spanId).toBe(read.spanContext().spanId);
    expect(barrier.attributes).toMatchObject({ 'raft.read_mode': 'safe' });
  });

  it('keeps nothing for proposals whose span is not sampled', async () => {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ sampler: new AlwaysOffSampler(), spanProcessors: [new SimpleSpanProcessor(exporter)] });
    const cluster = await tracedCluster(provider);
    members = cluster.members;
    const tracing = (cluster.leader.driver as unknown as { tracing: { traced: Map<number, unknown> } }).tracing;
    const request = provider.getTracer('client').startSpan('request');
    const pending = cluster.leader.driver.propose(put('a', '1'), soon(), trace.setSpan(ROOT_CONTEXT, request));
    expect(tracing.traced.size).toBe(0);
    await pending;
    expect(exporter.getFinishedSpans()).toEqual([]);
  });

  it('falls back to the active context for a caller that passes no parent', async () => {
    context.setGlobalContextManager(contextManager.enable());
    try {
      const exporter = new InMemorySpanExporter();
      const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
      const cluster = await tracedCluster(provider);
      members = cluster.members;
      const request = provider.getTracer('client').startSpan('request');
      await context.with(trace.setSpan(ROOT_CONTEXT, request), () => cluster.leader.driver.propose(put('a', '1'), soon()));
      await waitUntil('the proposal span', () => exporter.getFinishedSpans().some((s) => s.name === 'raft.propose'));
      const propose = exporter.getFinishedSpans().find((s) => s.name === 'raft.propose') as ReadableSpan;
      expect(propose.parentSpanContext?.spanId).toBe(request.spanContext().spanId);
    } finally {
      context.disable();
    }
  });
});
