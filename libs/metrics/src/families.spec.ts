/**
 * The families' exposition: counters and histograms read from their cells (buckets cumulative,
 * +Inf, _sum, _count), gauges read when scraped, label sets bound once, bad buckets refused;
 * and a cell histogram against prom-client's own Histogram on the same observations (property).
 */
import fc from 'fast-check';
import { Histogram, Registry } from 'prom-client';
import { CounterFamily, exponentialBuckets, gaugeFamily, HistogramFamily, LABEL_SETS_MAX } from './families';
import { GrpcServerMetrics } from './grpc-server-metrics';
import { GrpcStatus } from '@keyval/grpc';
import { etcd } from '@keyval/proto';

describe('metric families', () => {
  it('exports counters from their cells, one line per label set', async () => {
    const registry = new Registry();
    const family = new CounterFamily(registry, { name: 'test_events_total', help: 'events', labelNames: ['kind'] });
    const a = family.cell({ kind: 'a' });
    const b = family.cell({ kind: 'b' });
    expect(family.cell({ kind: 'a' })).toBe(a);
    a.inc();
    a.inc(2);
    const text = await registry.metrics();
    expect(text).toContain('# TYPE test_events_total counter');
    expect(text).toContain('test_events_total{kind="a"} 3');
    expect(text).toContain('test_events_total{kind="b"} 0');
    b.inc();
    expect(await registry.metrics()).toContain('test_events_total{kind="b"} 1');
  });

  it('exports histograms with cumulative buckets, +Inf, _sum and _count', async () => {
    const registry = new Registry();
    const cell = new HistogramFamily(registry, { name: 'test_seconds', help: 'latency', buckets: [0.1, 1, 10] }).cell({});
    for (const v of [0.05, 0.1, 0.5, 5, 50]) cell.observe(v);
    const text = await registry.metrics();
    expect(text).toContain('# TYPE test_seconds histogram');
    expect(text).toContain('test_seconds_bucket{le="0.1"} 2');
    expect(text).toContain('test_seconds_bucket{le="1"} 3');
    expect(text).toContain('test_seconds_bucket{le="10"} 4');
    expect(text).toContain('test_seconds_bucket{le="+Inf"} 5');
    expect(text).toContain('test_seconds_sum 55.65');
    expect(text).toContain('test_seconds_count 5');
  });

  it('matches prom-client\'s own Histogram on any observations (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.double({ min: 0, max: 20, noNaN: true }), { maxLength: 50 }), async (values) => {
        const ours = new Registry();
        const theirs = new Registry();
        const buckets = exponentialBuckets(0.001, 2, 14);
        const cell = new HistogramFamily(ours, { name: 'h', help: 'h', buckets }).cell({});
        const reference = new Histogram({ name: 'h', help: 'h', buckets, registers: [theirs] });
        for (const v of values) {
          cell.observe(v);
          reference.observe(v);
        }
        const lines = (text: string): string[] => text.split('\n').filter((l) => l.startsWith('h_bucket') || l.startsWith('h_count'));
        expect(lines(await ours.metrics())).toEqual(lines(await theirs.metrics()));
      }),
      { numRuns: 50 },
    );
  });

  it('reads gauges when scraped, and drops the samples of a read that fails', async () => {
    const registry = new Registry();
    let leader = 0;
    let broken = false;
    gaugeFamily(registry, { name: 'test_has_leader', help: 'leader', labelNames: ['who'] }, () => {
      if (broken) throw new Error('not yet');
      return [[{ who: 'me' }, leader]];
    });
    expect(await registry.metrics()).toContain('test_has_leader{who="me"} 0');
    leader = 1;
    expect(await registry.metrics()).toContain('test_has_leader{who="me"} 1');
    broken = true;
    expect(await registry.metrics()).not.toContain('test_has_leader{who="me"}');
  });

  it('refuses buckets that do not increase and bounds the label sets', () => {
    expect(() => new HistogramFamily(new Registry(), { name: 'bad', help: 'bad', buckets: [1, 1] })).toThrow(RangeError);
    const family = new CounterFamily(new Registry(), { name: 'many_total', help: 'many', labelNames: ['n'] });
    for (let i = 0; i < LABEL_SETS_MAX; i++) family.cell({ n: String(i) });
    expect(() => family.cell({ n: 'one too many' })).toThrow(RangeError);
  });

  it('exponentialBuckets prints etcd\'s bounds exactly', () => {
    expect(exponentialBuckets(0.001, 2, 14).map(String)).toEqual(['0.001', '0.002', '0.004', '0.008', '0.016', '0.032', '0.064', '0.128', '0.256', '0.512', '1.024', '2.048', '4.096', '8.192']);
    expect(String(exponentialBuckets(0.0001, 2, 16)[15])).toBe('3.2768');
  });
});

describe('GrpcServerMetrics', () => {
  it('starts every method at 0 for every code and counts calls and handling time', async () => {
    const registry = new Registry();
    const metrics = new GrpcServerMetrics(registry);
    const put = metrics.method('etcdserverpb.KV', etcd.KVDefinition.methods.put);
    metrics.method('etcdserverpb.Maintenance', etcd.MaintenanceDefinition.methods.snapshot);
    put.started();
    put.handled(GrpcStatus.OK, 3);
    put.started();
    put.handled(GrpcStatus.UNAVAILABLE, 7000);
    const text = await registry.metrics();
    const labels = 'grpc_type="unary",grpc_service="etcdserverpb.KV",grpc_method="Put"';
    expect(text).toContain(`grpc_server_started_total{${labels}} 2`);
    expect(text).toContain(`grpc_server_handled_total{${labels},grpc_code="OK"} 1`);
    expect(text).toContain(`grpc_server_handled_total{${labels},grpc_code="Unavailable"} 1`);
    expect(text).toContain(`grpc_server_handled_total{${labels},grpc_code="DeadlineExceeded"} 0`);
    expect(text).toContain('grpc_server_handled_total{grpc_type="server_stream",grpc_service="etcdserverpb.Maintenance",grpc_method="Snapshot",grpc_code="OK"} 0');
    expect(text).toContain(`grpc_server_handling_seconds_bucket{${labels},le="0.005"} 1`);
    expect(text).toContain(`grpc_server_handling_seconds_bucket{${labels},le="5"} 1`);
    expect(text).toContain(`grpc_server_handling_seconds_bucket{${labels},le="10"} 2`);
    expect(text.match(/grpc_server_handled_total\{grpc_type="unary",grpc_service="etcdserverpb.KV",grpc_method="Put"/g)).toHaveLength(17);
  });
});
