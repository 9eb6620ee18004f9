import { chartsOf, parseBenchArgs, type LevelResult } from './bench-cli';

describe('parseBenchArgs', () => {
  it('takes lists of clients, workloads and member counts', () => {
    const a = parseBenchArgs(['--target', 'both', '--clients', '1,64', '--workload', 'put,serializable-get', '--members', '3,5', '--repeat', '2', '--json', 'out.json', '--charts', 'dir']);
    expect(a).toMatchObject({ targets: ['keyval', 'etcd'], clients: [1, 64], workloads: ['put', 'serializable-get'], members: [3, 5], repeat: 2, json: 'out.json', charts: 'dir' });
  });

  it('says what is wrong with a bad flag or value', () => {
    expect(() => parseBenchArgs(['--workload', 'put,scan'])).toThrow('--workload takes put, get, serializable-get, mixed, not "scan"');
    expect(() => parseBenchArgs(['--members', '0'])).toThrow('--members takes a whole number of at least 1, not "0"');
    expect(() => parseBenchArgs(['--clients', '1,,2'])).toThrow('--clients takes a whole number of at least 1, not ""');
    expect(() => parseBenchArgs(['--repeat'])).toThrow('--repeat needs a value');
    expect(() => parseBenchArgs(['--fast'])).toThrow(/unknown flag --fast \(flags: /);
    expect(() => parseBenchArgs(['--endpoints', 'a:1', '--members', '5'])).toThrow(/--endpoints measures the cluster it names/);
  });
});

describe('chartsOf', () => {
  const level = (target: 'keyval' | 'etcd', clients: number, ops: number, p99: number, repetition = 1): LevelResult => ({
    target,
    via: 'direct',
    members: 3,
    workload: 'put',
    clients,
    repetition,
    opsPerSecond: ops,
    operations: 1000,
    errors: 0,
    firstError: undefined,
    p50Ms: 1,
    p90Ms: 2,
    p99Ms: p99,
    maxMs: 9,
    cpuMicrosPerOp: {},
    leader: 'b1',
    disk: { samples: 0, p50Ms: 0, p99Ms: 0, maxMs: 0, spikes: 0 },
  });

  it('draws ops/s and p99 by clients per workload and size, one line per target, the median of repetitions', () => {
    const results = [level('keyval', 1, 400, 3), level('keyval', 64, 7000, 20), level('etcd', 1, 1000, 2), level('etcd', 64, 8000, 18), level('keyval', 1, 600, 5, 2), level('keyval', 64, 9000, 30, 2)];
    const charts = chartsOf(results, [1, 64]);
    expect(charts.map((c) => c.file)).toEqual(['put-3-members-throughput.svg', 'put-3-members-p99.svg']);
    const throughput = charts[0]?.svg ?? '';
    expect(throughput).toContain('Put, 3 members: ops/s by clients');
    expect(throughput).toContain('KeyVal, 1: 500'); // median of 400 and 600
    expect(throughput).toContain('KeyVal, 64: 8,000');
    expect(throughput).toContain('etcd, 64: 8,000');
  });
});
