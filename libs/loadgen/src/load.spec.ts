import { GrpcServer } from '@keyval/grpc';
import { etcd } from '@keyval/proto';
import { runLoad, type LoadOptions } from './load';

describe('runLoad', () => {
  let server: GrpcServer;
  let port: number;
  let puts = 0;

  beforeAll(async () => {
    server = new GrpcServer();
    const header = { clusterId: 1n, memberId: 1n, revision: 1n, raftTerm: 1n };
    server.addService(etcd.KVDefinition, {
      put: () => {
        puts++;
        return { header, prevKv: undefined };
      },
      range: () => ({ header, kvs: [], more: false, count: 0n }),
      deleteRange: () => ({ header, deleted: 0n, prevKvs: [] }),
      txn: () => ({ header, succeeded: true, responses: [] }),
    });
    port = (await server.listen(0, '127.0.0.1')).port;
  });

  afterAll(async () => {
    await server.shutdown(1000);
  });

  const options = (o: Partial<LoadOptions>): LoadOptions => ({
    endpoints: [`127.0.0.1:${port}`],
    workload: 'put',
    clients: 4,
    operations: 100,
    durationMs: 10_000,
    valueBytes: 16,
    keySpace: 100,
    readRatio: 0.5,
    serializable: false,
    timeoutMs: 5_000,
    connections: 1,
    ...o,
  });

  it('runs the operations it is asked for, as fast as answers come', async () => {
    const before = puts;
    const r = await runLoad(options({ operations: 200 }));
    expect(r).toMatchObject({ operations: 200, errors: 0 });
    expect(puts - before).toBe(200);
  });

  it('paces to the rate it is given, whatever the number of clients', async () => {
    const started = performance.now();
    const r = await runLoad(options({ operations: 25, ratePerSecond: 50, clients: 8 }));
    const seconds = (performance.now() - started) / 1000;
    expect(r.operations).toBe(25);
    // The 25th operation may not start before 24/50 s.
    expect(seconds).toBeGreaterThanOrEqual(0.47);
  });

  it('refuses a rate that is not above zero', async () => {
    await expect(runLoad(options({ ratePerSecond: 0 }))).rejects.toThrow('the rate must be above 0 operations per second, not 0');
  });
});
