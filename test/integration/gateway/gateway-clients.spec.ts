/**
 * Proof (issue 6): clients no one here wrote — `etcdctl` (etcd 3.4, grpc-go) and the `etcd3`
 * npm client (grpc-js) — work unchanged when pointed at the gateway alone, in front of a
 * 3-member cluster of real processes; the gateway's flags, health endpoints and graceful stop.
 */
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Etcd3 } from 'etcd3';
import { GrpcStatus, GrpcStatusError } from '@keyval/grpc';
import { etcd } from '@keyval/proto';
import { TestCluster, clusterForSuite, explain } from '../harness/cluster';
import { etcdctl, etcdctlOk, parseEtcdctlJson } from '../harness/etcdctl';
import { waitFor } from '../harness/wait-for';
import { GatewayProcess, runGateway, runKvctl } from './gateway-process';

jest.setTimeout(90_000);

describe('clients through the gateway', () => {
  let cluster: TestCluster | undefined;
  let gateway: GatewayProcess | undefined;
  const c = (): TestCluster => {
    if (cluster === undefined) throw new Error('the cluster did not start');
    return cluster;
  };
  const gw = (): GatewayProcess => {
    if (gateway === undefined) throw new Error('the gateway did not start');
    return gateway;
  };

  beforeAll(async () => {
    cluster = await TestCluster.start({ size: 3 });
    // Only one member is named: the gateway finds the others through the member list.
    gateway = await GatewayProcess.start({ endpoints: [cluster.members[0]?.endpoint as string], dir: cluster.dir });
  });

  afterAll(async () => {
    await gateway?.stop('SIGKILL');
    await cluster?.close();
  });

  it(
    'etcdctl: put, get, prefix, serializable get, del and txn',
    explain(c, async () => {
      const at = [gw().endpoint];
      expect(await etcdctlOk(at, ['put', 'g/a', 'alpha'])).toBe('OK\n');
      expect(await etcdctlOk(at, ['put', 'g/b', 'beta'])).toBe('OK\n');
      expect(await etcdctlOk(at, ['get', 'g/a'])).toBe('g/a\nalpha\n');
      expect(await etcdctlOk(at, ['get', 'g/', '--prefix'])).toBe('g/a\nalpha\ng/b\nbeta\n');
      expect(await etcdctlOk(at, ['get', 'g/', '--prefix', '--keys-only'])).toBe('g/a\n\ng/b\n\n');
      // Serializable reads go to any member; after a linearizable read every member has the write... eventually.
      await waitFor(async () => (await etcdctlOk(at, ['get', 'g/a', '--consistency=s', '--print-value-only'])) === 'alpha\n', { timeoutMs: 5_000, what: 'a serializable read of g/a' });
      expect(await etcdctlOk(at, ['put', 'g/a', 'alpha2', '--prev-kv'])).toBe('OK\ng/a\nalpha\n');
      const script = (expected: string, next: string): string => `value("g/n") = "${expected}"\n\nput g/n ${next}\n\nget g/n\n\n`;
      await etcdctlOk(at, ['put', 'g/n', '1']);
      expect(await etcdctlOk(at, ['txn'], { input: script('1', '2') })).toBe('SUCCESS\n\nOK\n');
      expect(await etcdctlOk(at, ['txn'], { input: script('1', '3') })).toBe('FAILURE\n\ng/n\n2\n');
      expect(await etcdctlOk(at, ['del', 'g/', '--prefix'])).toBe('3\n');
      expect(await etcdctlOk(at, ['get', 'g/', '--prefix'])).toBe('');
    }),
  );

  it(
    'watches through the gateway: the etcd3 client’s live events, and a watch from a past revision',
    explain(c, async () => {
      const client = new Etcd3({ hosts: [`http://${gw().endpoint}`], dialTimeout: 3_000 });
      try {
        const first = await client.put('gw/w').value('1');
        await client.put('gw/w').value('2');
        const seen: string[] = [];
        // Handlers before the watchers connect: the replayed events may come with the answer.
        const replay = client.watch().key('gw/w').startRevision(String(first.header.revision)).watcher();
        replay.on('put', (kv) => seen.push(`replay ${kv.value.toString()}`));
        const live = client.watch().prefix('gw/').watcher();
        live.on('put', (kv) => seen.push(`live ${kv.value.toString()}`));
        await Promise.all([once(replay, 'connected'), once(live, 'connected')]);
        await client.put('gw/w').value('3');
        await waitFor(() => seen.length === 4, { timeoutMs: 10_000, what: 'four events through the gateway' }).catch((error: unknown) => {
          throw new Error(`${String(error)}; seen: ${JSON.stringify(seen)}`);
        });
        expect(seen.filter((s) => s.startsWith('replay'))).toEqual(['replay 1', 'replay 2', 'replay 3']);
        expect(seen.filter((s) => s.startsWith('live'))).toEqual(['live 3']);
        await replay.cancel();
        await live.cancel();
      } finally {
        client.close();
      }
    }),
  );

  it(
    'leases through the gateway: etcdctl grant, put --lease, keep-alive, timetolive, list and revoke; the etcd3 client’s lease kept alive past its TTL',
    explain(c, async () => {
      const at = [gw().endpoint];
      const id = /^lease ([0-9a-f]+) granted with TTL\(20s\)\n$/.exec(await etcdctlOk(at, ['lease', 'grant', '20']))?.[1] as string;
      expect(id).toBeDefined();
      expect(await etcdctlOk(at, ['put', '--lease', id, 'gl/a', '1'])).toBe('OK\n');
      expect(await etcdctlOk(at, ['lease', 'keep-alive', '--once', id])).toBe(`lease ${id} keepalived with TTL(20)\n`);
      expect(await etcdctlOk(at, ['lease', 'timetolive', id, '--keys'])).toMatch(new RegExp(`^lease ${id} granted with TTL\\(20s\\), remaining\\((1\\d|20)s\\), attached keys\\(\\[gl/a\\]\\)\\n$`));
      expect(await etcdctlOk(at, ['lease', 'list'])).toContain(`${id}\n`);
      expect(await etcdctlOk(at, ['lease', 'revoke', id])).toBe(`lease ${id} revoked\n`);
      expect(await etcdctlOk(at, ['get', 'gl/', '--prefix'])).toBe('');
      const client = new Etcd3({ hosts: [`http://${gw().endpoint}`], dialTimeout: 3_000 });
      try {
        // A 2 s lease: the client sends keepalives every ~0.7 s over one relayed stream.
        const lease = client.lease(2);
        let keptAlive = 0;
        lease.on('keepaliveSucceeded', () => keptAlive++);
        await lease.put('gl/kept').value('yes');
        await waitFor(() => keptAlive >= 6, { timeoutMs: 15_000, what: 'six keepalives through the gateway (over twice the TTL)' });
        expect(await client.get('gl/kept').string()).toBe('yes');
        await lease.revoke();
        expect(await client.get('gl/kept').string()).toBeNull();
        lease.release();
      } finally {
        client.close();
      }
    }),
  );

  it(
    'etcdctl: member list and endpoint status pass through (the status is the leader\'s)',
    explain(c, async () => {
      const at = [gw().endpoint];
      const members = parseEtcdctlJson(await etcdctlOk(at, ['member', 'list', '-w', 'json'])) as { members: { name: string; clientURLs: string[] }[] };
      expect(members.members.map((m) => m.name).sort()).toEqual(['n1', 'n2', 'n3']);
      const leader = await c().leader();
      const status = parseEtcdctlJson(await etcdctlOk(at, ['endpoint', 'status', '-w', 'json'])) as { Endpoint: string; Status: { header: { member_id: string }; leader: string } }[];
      expect(status).toHaveLength(1);
      expect(status[0]?.Endpoint).toBe(gw().endpoint);
      expect(BigInt(status[0]?.Status.leader as string)).toBe(leader.id);
      const health = await etcdctl(at, ['endpoint', 'health']);
      expect(health.code).toBe(0);
      expect(health.stderr).toMatch(/is healthy: successfully committed proposal/); // etcdctl 3.4 prints it on stderr
    }),
  );

  it(
    'the etcd3 npm client: put, get, prefix reads, delete and compare-and-swap',
    explain(c, async () => {
      const client = new Etcd3({ hosts: [`http://${gw().endpoint}`], dialTimeout: 3_000, defaultCallOptions: () => ({ deadline: Date.now() + 5_000 }) });
      try {
        await client.put('e/a').value('alpha');
        await client.put('e/b').value('beta');
        expect(await client.get('e/a').string()).toBe('alpha');
        expect(await client.get('e/missing').string()).toBeNull();
        expect(await client.getAll().prefix('e/').strings()).toEqual({ 'e/a': 'alpha', 'e/b': 'beta' });
        expect(await client.getAll().prefix('e/').count()).toBe(2);
        const swapped = await client.if('e/a', 'Value', '==', 'alpha').then(client.put('e/a').value('gamma')).else(client.get('e/a')).commit();
        expect(swapped.succeeded).toBe(true);
        const refused = await client.if('e/a', 'Value', '==', 'alpha').then(client.put('e/a').value('delta')).commit();
        expect(refused.succeeded).toBe(false);
        expect(await client.get('e/a').string()).toBe('gamma');
        expect((await client.delete().prefix('e/')).deleted).toBe('2');
        const members = await client.cluster.memberList({});
        expect(members.members).toHaveLength(3);
        const status = await client.maintenance.status({});
        expect(status.leader).toBe((await c().leader()).id?.toString());
      } finally {
        client.close();
      }
    }),
  );

  it(
    'kvctl: put, get, txn, member list and a snapshot saved through the gateway (a server stream passed through)',
    explain(c, async () => {
      const at = [gw().endpoint];
      const ok = async (args: string[]): Promise<string> => {
        const r = await runKvctl(at, args);
        if (r.code !== 0) throw new Error(`kvctl ${args.join(' ')} exited ${String(r.code)}: ${r.stderr}`);
        return r.stdout;
      };
      expect(await ok(['put', 'k/a', '1'])).toBe('OK\n');
      expect(await ok(['get', 'k/a', '-o', 'simple'])).toBe('k/a\n1\n');
      expect(await ok(['txn', '--if', 'k/a == 1', '--then', 'put k/a 2', '--else', 'get k/a'])).toMatch(/^SUCCESS/);
      expect(JSON.parse(await ok(['get', 'k/a', '-o', 'json']))).toMatchObject({ kvs: [{ key: 'k/a', value: '2' }] });
      expect((await ok(['member', 'list'])).split('\n').filter((l) => /^n\d/.test(l))).toHaveLength(3);
      const file = path.join(c().dir, 'through-gateway.snap');
      await ok(['snapshot', 'save', file]);
      expect(fs.statSync(file).size).toBeGreaterThan(0);
    }),
  );

  it(
    'writes without a session get the gateway\'s, writes with one keep it; /readyz names the leader',
    explain(c, async () => {
      const before = await gw().metrics();
      await etcdctlOk([gw().endpoint], ['put', 's/x', '1']);
      const after = await gw().metrics();
      expect((after.get('session_writes') ?? 0) - (before.get('session_writes') ?? 0)).toBe(1);
      const metadata = { 'keyval-client-id': `it-${Date.now()}`, 'keyval-seq': '1' };
      await gw().kv().put(etcd.PutRequest.fromPartial({ key: Buffer.from('s/y'), value: Buffer.from('1') }), { timeoutMs: 5_000, metadata });
      expect((await gw().metrics()).get('session_writes')).toBe(after.get('session_writes'));
      const ready = await gw().httpGet('/readyz');
      expect(ready.status).toBe(200);
      const leader = await c().leader();
      expect(JSON.parse(ready.body)).toMatchObject({ ready: true, leader: `${leader.id?.toString(16)}@${leader.endpoint}` });
      expect((await gw().httpGet('/healthz')).status).toBe(200);
    }),
  );
});

describe('graceful stop', () => {
  const c = clusterForSuite({ size: 3 });

  it(
    'SIGTERM under load: calls in flight are answered, later ones refused UNAVAILABLE, exit 0',
    explain(c, async () => {
      const gateway = await GatewayProcess.start({ endpoints: c().endpoints(), dir: c().dir });
      const kv = gateway.kv();
      const outcomes = new Map<string, number>();
      let stop = false;
      const writer = async (w: number): Promise<void> => {
        for (let n = 0; !stop; n++) {
          try {
            await kv.put(etcd.PutRequest.fromPartial({ key: Buffer.from(`drain/${w}/${n}`), value: Buffer.from('v') }), { timeoutMs: 5_000 });
            outcomes.set('ok', (outcomes.get('ok') ?? 0) + 1);
          } catch (error) {
            // Refused before it was taken (shutting down) or the connection is gone: never a
            // call the gateway took and did not answer (CANCELLED, INTERNAL).
            const outcome = error instanceof GrpcStatusError ? String(error.code) : String(error);
            outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        }
      };
      const writers = Array.from({ length: 8 }, (_, w) => writer(w));
      await waitFor(() => (outcomes.get('ok') ?? 0) >= 50, { timeoutMs: 20_000, what: '50 writes through the gateway' });
      const code = await gateway.stop('SIGTERM');
      stop = true;
      await Promise.all(writers);
      expect(code).toBe(0);
      expect([...outcomes.keys()].filter((o) => o !== 'ok' && o !== String(GrpcStatus.UNAVAILABLE))).toEqual([]);
      expect(gateway.logTail()).toMatch(/"msg":"drained"/);
    }),
  );
});

describe('keyval-gateway flags', () => {
  it('prints its flags with --help and exits 0', async () => {
    const r = await runGateway(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--endpoints <members>/);
    expect(r.stdout).toMatch(/KEYVAL_GATEWAY_LISTEN_CLIENT_URLS/);
  });

  it.each([
    [[], /--endpoints is required/],
    [['--endpoints=not a host'], /--endpoints: "not a host" is not host:port/],
    [['--endpoints=127.0.0.1:2379', '--listen-client-urls=https://127.0.0.1:1'], /--listen-client-urls: an https:\/\/ URL needs --cert-file and --key-file/],
    [['--endpoints=127.0.0.1:2379', '--serializable-reads=sometimes'], /--serializable-reads: expected "spread" or "leader"/],
    [['--endpoints=127.0.0.1:2379', '--max-inflight=0'], /--max-inflight: expected a whole number/],
    [['--endpoints=127.0.0.1:2379', '--no-such-flag'], /unknown option '--no-such-flag'/],
  ])('exits 2 with a clear message for %j', async (args, message) => {
    const r = await runGateway(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('takes its flags from KEYVAL_GATEWAY_* variables too', async () => {
    const r = await runGateway([], { KEYVAL_GATEWAY_ENDPOINTS: '127.0.0.1:2379', KEYVAL_GATEWAY_MAX_SESSIONS: 'lots' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--max-sessions: expected a whole number/);
  });
});
