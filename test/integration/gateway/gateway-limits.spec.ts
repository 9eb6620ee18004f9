/**
 * Proof (issue 16): the gateway is a well-behaved client of the members. Under the
 * benchmark's load (256 clients writing 256-byte values through it, `npm run bench --
 * --gateway`'s top level) and through leader changes (three, by `move-leader` or elections, then a SIGKILL of
 * the leader), the members never answer it over one of their client-port limits: no
 * connection ended with an error GOAWAY (the per-connection reset budget of 500/s spent by
 * cancelled attempts would be ENHANCE_YOUR_CALM), no stream refused, no connection refused or
 * evicted. Read from each member's own counters (`keyval_grpc_server_*` on /metrics).
 */
import { runLoad } from '@keyval/loadgen';
import type { LoadResult } from '@keyval/loadgen';
import { TestCluster, explain } from '../harness/cluster';
import { etcdctl } from '../harness/etcdctl';
import type { TestMember } from '../harness/member-process';
import { waitFor } from '../harness/wait-for';
import { GatewayProcess } from './gateway-process';

jest.setTimeout(240_000);

/** The limit counters a member exports, summed over their labels (connection errors: every code). */
const LIMIT_COUNTERS = ['keyval_grpc_server_connection_errors_total', 'keyval_grpc_server_refused_streams_total', 'keyval_grpc_server_refused_connections_total', 'keyval_grpc_server_evicted_connections_total'];

async function limitHits(member: TestMember): Promise<Record<string, number>> {
  const { status, body } = await member.httpGet('/metrics', 3_000);
  expect([member.name, status]).toEqual([member.name, 200]);
  const hits: Record<string, number> = {};
  for (const name of LIMIT_COUNTERS) {
    const lines = body.split('\n').filter((line) => line.startsWith(`${name} `) || line.startsWith(`${name}{`));
    // Present from the start (at 0), so a missing family fails here rather than passing as 0.
    expect([name, lines.length > 0]).toEqual([name, true]);
    hits[name] = lines.reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
  }
  return hits;
}

const NONE = Object.fromEntries(LIMIT_COUNTERS.map((name) => [name, 0]));

describe('the gateway under the benchmark load and leader changes trips no member limit', () => {
  let cluster: TestCluster | undefined;
  let gateway: GatewayProcess | undefined;
  const c = (): TestCluster => {
    if (cluster === undefined) throw new Error('the cluster did not start');
    return cluster;
  };

  beforeAll(async () => {
    // The timing of the chaos suite's members: a loaded 2-core machine keeps its leader (the leader changes are the test's).
    cluster = await TestCluster.start({ size: 3, heartbeatMs: 100, electionMs: 1_000 });
    gateway = await GatewayProcess.start({ endpoints: cluster.endpoints(), dir: cluster.dir });
  });

  afterAll(async () => {
    await gateway?.stop('SIGKILL');
    await cluster?.close();
  });

  /** Operations the running load has completed (its progress reports, every 250 ms). */
  let done = 0;
  const progressed = (operations: number): Promise<unknown> => {
    const target = done + operations;
    return waitFor(() => (done >= target ? true : undefined), { timeoutMs: 30_000, what: `${operations} more writes through the gateway` });
  };
  const load = (durationMs: number): Promise<LoadResult> =>
    runLoad({
      onProgress: (completed) => (done = completed),
      endpoints: [(gateway as GatewayProcess).endpoint],
      workload: 'put',
      clients: 256,
      operations: 10_000_000,
      durationMs,
      valueBytes: 256,
      keySpace: 100_000,
      readRatio: 0,
      serializable: false,
      timeoutMs: 10_000,
      connections: 1,
    });

  it(
    'three leader changes under load: no limit hit on any member',
    explain(c, async () => {
      const running = load(30_000);
      done = 0;
      // Three leader changes under the load: moved with move-leader, or elected on their own
      // (a loaded machine may do that too); each counts once the leader found has changed.
      let last = (await c().leader(10_000)).name;
      let changes = 0;
      while (changes < 3) {
        await progressed(1_000);
        const leader = await c().leader(10_000);
        if (leader.name !== last) {
          changes += 1;
          last = leader.name;
          continue;
        }
        const next = c().followersOf(leader)[0] as TestMember;
        await etcdctl([leader.endpoint], ['move-leader', (next.id as bigint).toString(16)], { commandTimeoutMs: 5_000 });
      }
      const result = await running;
      expect(result.operations).toBeGreaterThan(1_000);
      for (const member of c().members) {
        expect([member.name, await limitHits(member)]).toEqual([member.name, NONE]);
      }
    }),
  );

  it(
    'SIGKILL of the leader under load: no limit hit on the members left',
    explain(c, async () => {
      done = 0;
      const running = load(12_000);
      await progressed(2_000);
      const leader = await c().leader(10_000);
      await leader.stop('SIGKILL');
      const result = await running;
      expect(result.operations).toBeGreaterThan(1_000);
      for (const member of c().members.filter((m) => m !== leader)) {
        expect([member.name, await limitHits(member)]).toEqual([member.name, NONE]);
      }
      await c().restart(leader);
    }),
  );
});
