/**
 * Wire compatibility with etcd clients no one here wrote: `etcdctl` (Debian's etcd-client,
 * etcd 3.4, grpc-go) and the `etcd3` npm client (grpc-js with etcd's own protos), against
 * GrpcServer serving our etcd protos over a tiny in-memory etcd.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { Etcd3 } from 'etcd3';
import { GrpcServer } from './server';
import { CLUSTER_ID, MEMBER_ID, MemoryEtcd } from './testing/memory-etcd';

const run = promisify(execFile);

function findEtcdctl(): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, 'etcdctl');
    if (dir !== '' && fs.existsSync(candidate)) {
      return candidate;
    }
  }
  return undefined;
}

const etcdctlPath = findEtcdctl();
if (etcdctlPath === undefined) {
  console.warn('etcdctl compatibility tests SKIPPED: etcdctl is not installed (apt-get install etcd-client)');
}
const describeWithEtcdctl = etcdctlPath === undefined ? describe.skip : describe;

async function startMemoryEtcd(): Promise<{ server: GrpcServer; endpoint: string; store: MemoryEtcd }> {
  const server = new GrpcServer();
  const store = new MemoryEtcd('pending');
  store.register(server);
  const { port } = await server.listen(0, '127.0.0.1');
  return { server, endpoint: `127.0.0.1:${port}`, store };
}

describeWithEtcdctl('etcdctl against GrpcServer', () => {
  let server: GrpcServer;
  let endpoint: string;
  let store: MemoryEtcd;

  beforeAll(async () => {
    ({ server, endpoint, store } = await startMemoryEtcd());
  });

  afterAll(async () => {
    await server.shutdown(1000);
  });

  async function etcdctl(args: string[], input?: string): Promise<string> {
    const child = run(etcdctlPath as string, [`--endpoints=${endpoint}`, '--dial-timeout=3s', '--command-timeout=5s', ...args], {
      env: { ...process.env, ETCDCTL_API: '3' },
      timeout: 15_000,
    });
    if (input !== undefined) {
      child.child.stdin?.end(input);
    }
    return (await child).stdout;
  }

  it('puts and gets a key', async () => {
    expect(await etcdctl(['put', 'foo', 'bar'])).toBe('OK\n');
    expect(await etcdctl(['get', 'foo'])).toBe('foo\nbar\n');
  });

  it('gets by prefix, keys only, with the count', async () => {
    await etcdctl(['put', 'foo2', 'baz']);
    await etcdctl(['put', 'other', 'x']);
    expect(await etcdctl(['get', 'foo', '--prefix'])).toBe('foo\nbar\nfoo2\nbaz\n');
    expect(await etcdctl(['get', 'foo', '--prefix', '--keys-only'])).toBe('foo\n\nfoo2\n\n');
    expect(await etcdctl(['get', 'foo', '--prefix', '--write-out=fields'])).toMatch(/"Count" : 2/);
  });

  it('prints the uint64 member and cluster ids of the response header', async () => {
    const out = await etcdctl(['get', 'foo', '--write-out=json']);
    const parsed = JSON.parse(out.replace(/("(?:cluster_id|member_id)":)(\d+)/g, '$1"$2"')) as {
      header: { cluster_id: string; member_id: string };
    };
    expect(BigInt(parsed.header.cluster_id)).toBe(CLUSTER_ID);
    expect(BigInt(parsed.header.member_id)).toBe(MEMBER_ID);
  });

  it('deletes a key', async () => {
    expect(await etcdctl(['del', 'other'])).toBe('1\n');
    expect(await etcdctl(['get', 'other'])).toBe('');
  });

  it('runs a compare-and-swap txn', async () => {
    const swapped = await etcdctl(['txn'], 'value("foo2") = "baz"\n\nput foo2 qux\n\nput foo2 lost\n\n');
    expect(swapped).toBe('SUCCESS\n\nOK\n');
    expect(await etcdctl(['get', 'foo2', '--print-value-only'])).toBe('qux\n');
    const failed = await etcdctl(['txn'], 'value("foo2") = "baz"\n\nput foo2 lost\n\nget foo2\n\n');
    expect(failed).toBe('FAILURE\n\nfoo2\nqux\n');
  });

  it('lists members and shows endpoint status', async () => {
    expect(await etcdctl(['member', 'list'])).toBe(`${MEMBER_ID.toString(16)}, started, mem1, http://127.0.0.1:2380, pending, false\n`);
    const status = await etcdctl(['endpoint', 'status']);
    expect(status).toContain(`${endpoint}, ${MEMBER_ID.toString(16)}, 3.4.0`);
  });

  it('moves the leader, and reports a refusal', async () => {
    const target = (MEMBER_ID + 1n).toString(16);
    expect(await etcdctl(['move-leader', target])).toMatch(
      new RegExp(`Leadership transferred from ${MEMBER_ID.toString(16)} to ${target}`),
    );
    expect(store.moveLeaderTargets).toEqual([MEMBER_ID + 1n]);
    await expect(etcdctl(['move-leader', '1'])).rejects.toThrow(/is not a voter/);
  });

  it('reports a server error status', async () => {
    await expect(etcdctl(['get', 'foo', '--rev=3'])).rejects.toThrow(/past revision is not supported/);
  });
});

describe('etcd3 npm client against GrpcServer', () => {
  let server: GrpcServer;
  let client: Etcd3;

  beforeAll(async () => {
    const started = await startMemoryEtcd();
    server = started.server;
    client = new Etcd3({ hosts: started.endpoint });
  });

  afterAll(async () => {
    client.close();
    await server.shutdown(1000);
  });

  it('puts, gets, lists by prefix and deletes', async () => {
    await client.put('app/a').value('1');
    await client.put('app/b').value('2');
    expect(await client.get('app/a').string()).toBe('1');
    expect(await client.getAll().prefix('app/').strings()).toEqual({ 'app/a': '1', 'app/b': '2' });
    expect((await client.delete().key('app/a')).deleted).toBe('1');
    expect(await client.get('app/a').string()).toBeNull();
  });

  it('commits a txn on the branch its compare picks', async () => {
    const swapped = await client.if('app/b', 'Value', '==', '2').then(client.put('app/b').value('3')).else(client.get('app/b')).commit();
    expect(swapped.succeeded).toBe(true);
    const kept = await client.if('app/b', 'Value', '==', '2').then(client.put('app/b').value('4')).commit();
    expect(kept.succeeded).toBe(false);
    expect(await client.get('app/b').string()).toBe('3');
  });

  it('lists members and reads status with uint64 ids intact', async () => {
    const members = await client.cluster.memberList({});
    expect(members.members.map((m) => BigInt(m.ID))).toEqual([MEMBER_ID]);
    const status = await client.maintenance.status({});
    expect(BigInt(status.leader)).toBe(MEMBER_ID);
    expect(BigInt(status.header.cluster_id)).toBe(CLUSTER_ID);
  });
});
