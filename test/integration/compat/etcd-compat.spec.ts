/**
 * Proof (issue 15): one compatibility suite, the same cases against three targets — a real
 * etcd 3.4 (Debian's etcd-server, one member on loopback), a 3-member KeyVal cluster (through
 * a follower, which forwards writes) and KeyVal through the gateway — asserting identical
 * transcripts: etcdctl (get variants, txn, compaction, watch --rev --prev-kv, leases, lock,
 * elect, -w json), etcd's v3lock and v3election gRPC services, and the etcd3 npm client.
 * Normalised: namespaces, lease ids, revision offsets, cluster/member ids and terms
 * (compat-targets.ts says exactly what).
 */
import { Etcd3 } from 'etcd3';
import type { Isolation } from 'etcd3';
import { GrpcStatusError, createClient } from '@keyval/grpc';
import { etcd as etcdpb, v3election, v3lock } from '@keyval/proto';
import { clusterForSuite } from '../harness/cluster';
import { EtcdCluster } from '../harness/etcd-process';
import { httpPost as post } from '../harness/http-post';
import type { HttpAnswer } from '../harness/http-post';
import { etcdctl, etcdctlOk, parseEtcdctlJson } from '../harness/etcdctl';
import { waitFor } from '../harness/wait-for';
import { GatewayProcess } from '../gateway/gateway-process';
import { etcdctlUntil, startEtcdctl, target, Transcript } from './compat-targets';
import type { CompatTarget, RunningEtcdctl } from './compat-targets';

jest.setTimeout(120_000);

type Case = (t: CompatTarget, x: Transcript) => Promise<void>;

describe('etcd 3.4 and KeyVal answer the same (compatibility suite)', () => {
  const keyval = clusterForSuite({ size: 3 });
  let etcdCluster: EtcdCluster | undefined;
  let gateway: GatewayProcess | undefined;
  let follower = '';
  const targets = [
    target('etcd 3.4', () => etcdCluster?.members[0]?.endpoint as string),
    target('KeyVal (a follower)', () => follower),
    target('KeyVal through the gateway', () => gateway?.endpoint as string),
  ];

  beforeAll(async () => {
    etcdCluster = await EtcdCluster.start(1);
    follower = keyval().followersOf(await keyval().leader())[0]?.endpoint as string;
    gateway = await GatewayProcess.start({ endpoints: keyval().endpoints(), dir: keyval().dir });
  });

  afterAll(async () => {
    targets.forEach((t) => t.close());
    await gateway?.stop('SIGKILL');
    await etcdCluster?.close();
  });

  /** Runs `body` against every target, each in its own namespace, and compares the transcripts with etcd's. */
  async function same(name: string, body: Case, among: readonly CompatTarget[] = targets): Promise<void> {
    const transcripts: Transcript[] = [];
    for (const [i, t] of among.entries()) {
      const x = new Transcript(`compat-${name}-${i}`);
      x.base = await currentRevision(t);
      await body(t, x);
      transcripts.push(x);
    }
    const [reference, ...others] = transcripts as [Transcript, ...Transcript[]];
    expect(reference.entries.length).toBeGreaterThan(0);
    for (const [i, other] of others.entries()) {
      expect({ target: among[i + 1]?.name, transcript: other.entries }).toEqual({ target: among[i + 1]?.name, transcript: reference.entries });
    }
  }

  it('etcdctl get variants: --prefix, --limit, --sort-by/--order, --keys-only, --rev, -w json', async () => {
    await same('get', async (t, x) => {
      const run = async (args: string[]): Promise<void> => {
        const r = await etcdctl([t.endpoint], args);
        x.log(`etcdctl ${args.join(' ')}`, { code: r.code, stdout: r.stdout.includes('{') ? parseEtcdctlJson(r.stdout) : r.stdout, stderr: r.stderr });
      };
      for (const [k, v] of [['a', '1'], ['b', '2'], ['c', '3'], ['a', '11']] as const) await run(['put', `${x.ns}/${k}`, v]);
      await run(['get', `${x.ns}/`, '--prefix']);
      await run(['get', `${x.ns}/`, '--prefix', '--limit=2']);
      await run(['get', `${x.ns}/`, '--prefix', '--sort-by=MODIFY', '--order=DESCEND']);
      await run(['get', `${x.ns}/`, '--prefix', '--sort-by=VALUE', '--order=ASCEND', '--keys-only']);
      await run(['get', `${x.ns}/a`, `--rev=${x.at(1)}`]);
      await run(['get', `${x.ns}/`, '--prefix', `--rev=${x.at(2)}`, '-w', 'json']);
      await run(['get', `${x.ns}/`, '--prefix', '-w', 'json']);
      await run(['get', `${x.ns}/`, '--prefix', '--print-value-only', '--order=DESCEND']);
      await run(['get', `${x.ns}/a`, `--rev=${x.at(1000)}`]);
      await run(['del', `${x.ns}/`, '--prefix', '--prev-kv', '-w', 'json']);
    });
  });

  it('etcdctl txn (both branches, -w json) and compaction (reads below it fail as etcd)', async () => {
    await same('txn', async (t, x) => {
      const run = async (args: string[], input?: string): Promise<void> => {
        const r = await etcdctl([t.endpoint], args, { input });
        x.log(`etcdctl ${args.join(' ')} ${input ?? ''}`, { code: r.code, stdout: r.stdout.includes('{') ? parseEtcdctlJson(r.stdout) : r.stdout, stderr: r.stderr });
      };
      const script = (expected: string, next: string): string => `value("${x.ns}/n") = "${expected}"\n\nput ${x.ns}/n ${next}\n\nget ${x.ns}/n\n\n`;
      await run(['put', `${x.ns}/n`, '1']);
      await run(['txn'], script('1', '2'));
      await run(['txn'], script('1', '3'));
      await run(['txn', '-w', 'json'], script('2', '4'));
      await run(['txn', '-w', 'json'], `mod("${x.ns}/n") > "0"\n\nget ${x.ns}/n\n\nget ${x.ns}/none\n\n`);
      await run(['compaction', String(x.at(3))]);
      await run(['get', `${x.ns}/n`, `--rev=${x.at(2)}`]);
      await run(['get', `${x.ns}/n`, `--rev=${x.at(3)}`]);
      await run(['compaction', String(x.at(1))]);
    });
  });

  it('etcdctl watch --rev with --prev-kv, and a prefix watch from a past revision', async () => {
    await same('watch', async (t, x) => {
      for (const args of [['put', `${x.ns}/w`, 'a'], ['put', `${x.ns}/w`, 'b'], ['put', `${x.ns}/v`, 'c'], ['del', `${x.ns}/w`]]) {
        await etcdctl([t.endpoint], args);
      }
      const lines = (n: number) => (out: string) => out.split('\n').length > n;
      x.log('watch --rev --prev-kv', await etcdctlUntil(t.endpoint, ['watch', `${x.ns}/w`, `--rev=${x.at(1)}`, '--prev-kv'], lines(11), 'three events with previous values'));
      x.log('watch --prefix --rev', await etcdctlUntil(t.endpoint, ['watch', `${x.ns}/`, '--prefix', `--rev=${x.at(2)}`], lines(9), 'three events on the prefix'));
      x.log('watch -w json', parseEtcdctlJson((await etcdctlUntil(t.endpoint, ['watch', `${x.ns}/v`, `--rev=${x.at(1)}`, '-w', 'json'], (o) => o.endsWith('\n'), 'one json event')).trim()));
    });
  });

  it('etcdctl lease grant, keep-alive --once, timetolive --keys, list, revoke', async () => {
    await same('lease', async (t, x) => {
      const run = async (args: string[]): Promise<string> => {
        const r = await etcdctl([t.endpoint], args);
        let stdout: unknown = r.stdout.includes('{') ? parseEtcdctlJson(r.stdout) : r.stdout;
        // The remaining TTL is the only figure that may differ by a second.
        stdout = typeof stdout === 'string' ? stdout.replace(/remaining\((\d+)s\)/, (_m, s: string) => `remaining(${Number(s) >= 95 ? 'about 100' : s}s)`) : stdout;
        x.log(`etcdctl ${args.join(' ')}`, { code: r.code, stdout, stderr: r.stderr });
        return r.stdout;
      };
      const granted = /lease ([0-9a-f]+) granted/.exec(await run(['lease', 'grant', '100']))?.[1] as string;
      x.lease(granted);
      await run(['put', `${x.ns}/l`, 'v', `--lease=${granted}`]);
      await run(['lease', 'keep-alive', '--once', granted]);
      await run(['lease', 'timetolive', granted, '--keys']);
      await run(['lease', 'list']);
      await run(['lease', 'revoke', granted]);
      await run(['get', `${x.ns}/l`]);
      await run(['lease', 'timetolive', granted]);
      await run(['lease', 'keep-alive', '--once', granted]);
      await run(['lease', 'revoke', granted]);
    });
  });

  it('etcdctl lock and elect: a waiter gets the lock when the holder is killed (its lease expires); a second candidate leads when the first resigns', async () => {
    await same('lock', async (t, x) => {
      x.log('lock with a command', (await etcdctl([t.endpoint], ['lock', `${x.ns}/l`, 'echo', 'held'])).stdout);
      const started: RunningEtcdctl[] = [];
      const start = (args: string[]): RunningEtcdctl => {
        const running = startEtcdctl(t.endpoint, args);
        started.push(running);
        return running;
      };
      try {
        const holder = start(['lock', '--ttl=2', `${x.ns}/k`]);
        await waitFor(() => holder.stdout().includes(`${x.ns}/k/`), { timeoutMs: 10_000, what: 'the first etcdctl lock to hold' });
        x.log('holder', holder.stdout());
        const waiter = start(['lock', '--ttl=2', `${x.ns}/k`, 'echo', 'second']);
        await waitFor(async () => (await queued(t, `${x.ns}/k/`)) === 2, { timeoutMs: 10_000, what: 'the waiter queued' });
        const waiterExited = waiter.exited.then(() => true);
        expect(await Promise.race([waiterExited, Promise.resolve(false)])).toBe(false);
        await holder.kill('SIGKILL');
        x.log('waiter exit', await waiter.exited);
        x.log('waiter', waiter.stdout());

        const first = start(['elect', `${x.ns}/e`, 'first']);
        await waitFor(() => first.stdout().includes('first'), { timeoutMs: 10_000, what: 'the first candidate to lead' });
        x.log('first candidate', first.stdout());
        x.log('listen', await etcdctlUntil(t.endpoint, ['elect', '--listen', `${x.ns}/e`], (o) => o.includes('first'), 'the observer to see the leader'));
        const second = start(['elect', `${x.ns}/e`, 'second']);
        await waitFor(async () => (await queued(t, `${x.ns}/e/`)) === 2, { timeoutMs: 10_000, what: 'the second candidate queued' });
        await first.kill('SIGINT'); // etcdctl resigns on an interrupt
        await waitFor(() => second.stdout().includes('second'), { timeoutMs: 10_000, what: 'the second candidate to lead' });
        x.log('second candidate', second.stdout());
        await second.kill('SIGINT');
      } finally {
        // Whatever failed, no etcdctl outlives the case.
        await Promise.all(started.map((running) => running.kill('SIGKILL')));
      }
    });
  });

  it('the v3lock and v3election gRPC services: queueing, lease expiry and revoke, observe, proclaim, resign, and their errors', async () => {
    await same('v3', async (t, x) => {
      const lease = createClient(etcdpb.LeaseDefinition, t.channel());
      const lock = createClient(v3lock.LockDefinition, t.channel());
      const election = createClient(v3election.ElectionDefinition, t.channel());
      const failure = async (call: Promise<unknown>): Promise<unknown> =>
        call.then(
          (answer) => ({ answer }),
          (error: unknown) => (error instanceof GrpcStatusError ? { code: error.code, details: error.details } : { error: String(error) }),
        );
      const grant = async (ttl: number): Promise<bigint> => {
        const id = (await lease.leaseGrant({ TTL: BigInt(ttl), ID: 0n })).ID;
        x.lease(id);
        return id;
      };
      const name = Buffer.from(`${x.ns}/lock`);
      const [l1, l2] = [await grant(30), await grant(30)];
      const held = await lock.lock({ name, lease: l1 });
      x.log('lock 1', held);
      const waiting = lock.lock({ name, lease: l2 });
      let settled = false;
      void waiting.then(() => (settled = true), () => (settled = true));
      await waitFor(async () => (await queued(t, `${x.ns}/lock/`)) === 2, { timeoutMs: 5_000, what: 'the second locker queued' });
      x.log('lock again with the same lease (already holds it)', await lock.lock({ name, lease: l1 }));
      expect(settled).toBe(false);
      await lease.leaseRevoke({ ID: l1 });
      x.log('lock 2 after the revoke', await waiting);
      x.log('unlock', await lock.unlock({ key: (await waiting).key }));
      x.log('lock with no such lease', await failure(lock.lock({ name, lease: 12345n })));

      const el = Buffer.from(`${x.ns}/election`);
      x.log('leader of none', await failure(election.leader({ name: el })));
      const short = await grant(2); // never kept alive: it expires
      const campaign1 = await election.campaign({ name: el, lease: short, value: Buffer.from('one') });
      x.log('campaign 1', campaign1);
      const observed: unknown[] = [];
      const stop = new AbortController();
      const observer = (async () => {
        for await (const response of election.observe({ name: el }, { signal: stop.signal })) observed.push(response);
      })().catch(() => undefined);
      await waitFor(() => observed.length === 1, { timeoutMs: 5_000, what: 'the observer to see the first leader' });
      x.log('proclaim', await election.proclaim({ leader: campaign1.leader, value: Buffer.from('one, again') }));
      const l3 = await grant(30);
      const campaign2 = await election.campaign({ name: el, lease: l3, value: Buffer.from('two') }); // waits for the short lease to expire
      x.log('campaign 2 (after the first leader’s lease expired)', campaign2);
      x.log('leader', await election.leader({ name: el }));
      x.log('proclaim with the expired leader key', await failure(election.proclaim({ leader: campaign1.leader, value: Buffer.from('x') })));
      x.log('proclaim without a leader key', await failure(election.proclaim({ leader: undefined, value: Buffer.from('x') })));
      x.log('resign without a leader key', await failure(election.resign({ leader: undefined })));
      x.log('resign', await election.resign({ leader: campaign2.leader }));
      x.log('leader after resigning', await failure(election.leader({ name: el })));
      await waitFor(() => observed.length >= 3, { timeoutMs: 5_000, what: 'the observer to see the proclamation and the second leader' });
      stop.abort();
      await observer;
      x.log('observed', observed.slice(0, 3));
      await lease.leaseRevoke({ ID: l2 });
      await lease.leaseRevoke({ ID: l3 });
    });
  });

  it('etcd\'s JSON API (grpc-gateway paths) on the client port and the gateway\'s: kv, txn, compaction, lease, watch stream (compacted, refused), status, errors', async () => {
    await same(
      'json',
      async (t, x) => {
        const b64 = (text: string): string => Buffer.from(text).toString('base64');
        let step = 0;
        const record = (urlPath: string, answer: HttpAnswer, method = 'POST'): unknown => {
          const parsed = answer.body.startsWith('{') ? answer.body.trim().split('\n').map((line) => JSON.parse(line) as unknown) : answer.body;
          step += 1;
          x.log(`${step}: ${method} ${urlPath}`, { status: answer.status, body: parsed });
          return Array.isArray(parsed) ? parsed[0] : parsed;
        };
        const call = async (urlPath: string, body?: unknown, options: { method?: string; lines?: number } = {}): Promise<unknown> =>
          record(urlPath, await post(t.endpoint, urlPath, body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body), options), options.method);
        const key = b64(`${x.ns}/k`);
        await call('/v3/kv/put', { key, value: b64('one') });
        await call('/v3/kv/put', { key, value: b64('two'), prev_kv: true });
        await call('/v3/kv/range', { key });
        await call('/v3beta/kv/range', { key, count_only: true });
        await call('/v3/kv/range', { key: b64(`${x.ns}/`), range_end: b64(`${x.ns}0`), keys_only: true, sort_order: 'DESCEND', sort_target: 'MOD' });
        await call('/v3/kv/range', { key, revision: String(x.at(1)) });
        await call('/v3/kv/range', { key, revision: String(x.at(1000)) });
        await call('/v3/kv/range', '{"key":"bad');
        await call('/v3/kv/txn', { compare: [{ key, result: 'EQUAL', target: 'VALUE', value: b64('two') }], success: [{ request_range: { key } }, { request_put: { key, value: b64('three') } }], failure: [] });
        await call('/v3/kv/txn', { compare: [{ key, target: 'VERSION', version: '1' }], failure: [{ request_delete_range: { key, prev_kv: true } }] });
        // Every event from the start revision, however the server groups them into answers
        // (a follower may send the history it has applied, then the rest live).
        const events: unknown[] = [];
        const stream = await post(t.endpoint, '/v3/watch', JSON.stringify({ create_request: { key, start_revision: String(x.at(1)), prev_kv: true } }), {
          lines: 1,
          until: (text) => (text.match(/"type":"DELETE"/g) ?? []).length > 0,
        });
        for (const line of stream.body.split('\n').filter((l) => l.trim() !== '')) {
          const result = (JSON.parse(line) as { result: { created?: boolean; events?: unknown[] } }).result;
          if (result.created === true) events.push('created');
          events.push(...(result.events ?? []));
        }
        x.log('POST /v3/watch from a past revision: its events', { status: stream.status, events });
        const granted = (await call('/v3/lease/grant', { TTL: '60' })) as { ID: string };
        x.lease(granted.ID);
        await call('/v3/kv/put', { key: b64(`${x.ns}/leased`), value: b64('v'), lease: granted.ID });
        await call('/v3/lease/timetolive', { ID: granted.ID, keys: true });
        await call('/v3/lease/keepalive', { ID: granted.ID }, { lines: 1 });
        // Earlier cases leave leases of their own (etcdctl's lock sessions): only ours is looked for.
        const leases = await post(t.endpoint, '/v3/lease/leases', '{}');
        x.log('POST /v3/lease/leases', { status: leases.status, ours: (JSON.parse(leases.body) as { leases: { ID: string }[] }).leases.some((l) => l.ID === granted.ID) });
        await call('/v3/lease/revoke', { ID: granted.ID });
        await call('/v3/lease/revoke', { ID: granted.ID });
        const deleted = (await call('/v3/kv/deleterange', { key: b64(`${x.ns}/`), range_end: b64(`${x.ns}0`), prev_kv: true })) as { header: { revision: string } };
        await call('/v3/kv/compaction', { revision: String(x.at(1000)) });
        // A watch from below a compaction: a created line, then one cancelled with compact_revision (not an error).
        await call('/v3/kv/compaction', { revision: deleted.header.revision });
        // A member serves watches from its applied state: one that has not applied the compaction
        // yet (a follower, or the member the gateway picks) still streams the history. Asked again
        // until it has, as a client reconnecting would be.
        let compactedWatch: HttpAnswer | undefined;
        await waitFor(
          async () => {
            compactedWatch = await post(t.endpoint, '/v3/watch', JSON.stringify({ create_request: { key, start_revision: String(x.at(1)) } }), { lines: 2 });
            return compactedWatch.body.includes('compact_revision') || undefined;
          },
          { timeoutMs: 10_000, what: 'a watch from below the compaction to be cancelled' },
        );
        record('/v3/watch', compactedWatch as HttpAnswer);
        // A watch whose first request does not parse: refused 500 UNKNOWN, as etcd's gateway refuses a stream.
        await call('/v3/watch', '{"create_request":');
        await call('/v3/kv/range', undefined, { method: 'GET' });
        await call('/v3alpha/kv/range', {});
        await call('/v3/no/such/path', {});
        await call('/v3/maintenance/alarm', { action: 'GET' });
        const status = await post(t.endpoint, '/v3/maintenance/status', '{}');
        x.log('POST /v3/maintenance/status', { status: status.status, hasVersion: (JSON.parse(status.body) as { version?: string }).version !== undefined });
      },
    );
  });

  it('etcdctl alarm list (none), member update (a member to its own URL; an unknown id), endpoint status -w json (its fields)', async () => {
    await same('maintenance', async (t, x) => {
      const run = async (args: string[], label = `etcdctl ${args.join(' ')}`): Promise<string> => {
        const r = await etcdctl([t.endpoint], args);
        // Member and cluster ids differ between clusters: etcdctl prints them with %16x.
        x.log(label, { code: r.code, stdout: r.stdout.replace(/ +[0-9a-f]{12,16}\b/g, ' ID'), stderr: lastLine(r.stderr) });
        return r.stdout;
      };
      await run(['alarm', 'list']);
      const members = (parseEtcdctlJson(await etcdctlOk([t.endpoint], ['member', 'list', '-w', 'json'])) as { members: { ID: number | string; peerURLs: string[] }[] }).members;
      const member = members[0] as { ID: number | string; peerURLs: string[] };
      await run(['member', 'update', BigInt(member.ID).toString(16), `--peer-urls=${member.peerURLs.join(',')}`], 'etcdctl member update <a member> --peer-urls=<its own URLs>');
      await run(['member', 'update', '1234', '--peer-urls=http://127.0.0.1:9']);
      const status = (parseEtcdctlJson(await etcdctlOk([t.endpoint], ['endpoint', 'status', '-w', 'json'])) as { Status: Record<string, unknown> & { header: Record<string, unknown> } }[])[0];
      // Values are each member's own: the fields etcd fills (ids and terms left out, as elsewhere), and no errors.
      x.log('endpoint status -w json: Status fields', Object.keys(status?.Status ?? {}).sort());
      x.log('endpoint status -w json: header fields', Object.keys(x.normalise(status?.Status.header) as object).sort());
    });
  });

  it('the etcd3 npm client: KV, txns, namespaces, watch, lease with keepalive, lock, election, STM, maintenance', async () => {
    await same('etcd3', async (t, x) => {
      const client = new Etcd3({ hosts: `http://${t.endpoint}`, dialTimeout: 3_000 });
      try {
        const ns = client.namespace(`${x.ns}/`);
        await ns.put('a').value('1');
        await ns.put('b').value('2');
        x.log('get', await ns.get('a').string());
        x.log('getAll', await ns.getAll().prefix('').strings());
        x.log('count', await ns.getAll().count());
        x.log('raw get', await client.get(`${x.ns}/a`).exec());
        x.log('if/then', await ns.if('a', 'Value', '==', '1').then(ns.put('a').value('one')).else(ns.get('a')).commit());
        x.log('if/else', await ns.if('a', 'Value', '==', '1').then(ns.put('a').value('uno')).else(ns.get('a')).commit());
        const events: string[] = [];
        const watcher = await ns.watch().key('w').create();
        watcher.on('put', (kv) => events.push(`put ${kv.value.toString()}`)).on('delete', () => events.push('delete'));
        await ns.put('w').value('x');
        await ns.delete().key('w');
        await waitFor(() => events.length === 2, { timeoutMs: 5_000, what: 'two watch events' });
        await watcher.cancel();
        x.log('watch events', events);
        const lease = ns.lease(5, { autoKeepAlive: false });
        const id = await lease.grant();
        x.lease(id);
        await lease.put('leased').value('v');
        // The header's revision is left out: relayed by a follower, KeyVal's keepalive answer
        // carries the follower's applied revision, which may trail the put just acknowledged.
        const { ID, TTL } = await lease.keepaliveOnce();
        x.log('keepalive once', { ID, TTL });
        x.log('leased key', await ns.get('leased').string());
        await lease.revoke();
        x.log('leased key after revoke', await ns.get('leased').string());
        const lock = ns.lock('mutex');
        await lock.acquire();
        x.log('second acquire', await ns.lock('mutex').acquire().then(() => 'acquired', (error: Error) => error.message));
        await lock.release();
        x.log('after release', await ns.lock('mutex').do(async () => 'ran'));
        const election = ns.election('el');
        const campaign = election.campaign('me');
        await new Promise<void>((resolve) => campaign.once('elected', () => resolve()));
        x.log('leader', await election.leader());
        await campaign.resign();
        x.log('leader after resign', await election.leader());
        // STM (software transactional memory): two transfers between two accounts, each read,
        // then committed as one txn comparing the revisions it read.
        await ns.put('acct1').value('100');
        await ns.put('acct2').value('0');
        const transfer = (amount: number): Promise<unknown> =>
          // Repeatable reads (the commit compares each key's mod revision with the one read):
          // etcd3's default snapshot isolation conflicts with itself on etcd as well whenever the
          // keys it writes changed after the earliest one it read.
          client.stm({ isolation: 2 as Isolation /* RepeatableReads, a const enum etcd3 does not export at run time */ }).transact(async (tx) => {
            const [a, b] = await Promise.all([tx.get(`${x.ns}/acct1`).number(), tx.get(`${x.ns}/acct2`).number()]);
            return Promise.all([tx.put(`${x.ns}/acct1`).value(String((a ?? 0) - amount)), tx.put(`${x.ns}/acct2`).value(String((b ?? 0) + amount))]);
          });
        await transfer(10);
        await transfer(25);
        x.log('stm balances', [await ns.get('acct1').string(), await ns.get('acct2').string()]);
        const status = await client.maintenance.status();
        x.log('maintenance status', { version: status.version !== '', leader: status.leader !== '0', dbSize: Number(status.dbSize) > 0 });
        x.log('maintenance alarms', (await client.maintenance.alarm({ action: 'Get', memberID: 0, alarm: 'None' })).alarms);
      } finally {
        client.close();
      }
    });
  });
});

/** Keys under `prefix` (the waiters of a lock or the candidates of an election). */
async function queued(t: CompatTarget, prefix: string): Promise<number> {
  const kv = createClient(etcdpb.KVDefinition, t.channel());
  const end = Buffer.from(prefix);
  end[end.length - 1] = (end[end.length - 1] as number) + 1;
  return Number((await kv.range(etcdpb.RangeRequest.fromPartial({ key: Buffer.from(prefix), rangeEnd: end, countOnly: true }))).count);
}

async function currentRevision(t: CompatTarget): Promise<number> {
  const kv = createClient(etcdpb.KVDefinition, t.channel());
  return Number((await kv.range(etcdpb.RangeRequest.fromPartial({ key: Buffer.from('compat-base') }))).header?.revision ?? 0n);
}

function lastLine(text: string): string {
  return text.trim().split('\n').slice(-1)[0] ?? '';
}

/**
 * The space quota, as an etcd operator meets it: both systems started with a tiny
 * --quota-backend-bytes, filled until a put fails; then the same transcript of refusals,
 * alarm list, recovery (delete, compact, defrag) and `alarm disarm`. How many writes fit
 * differs (the storage differs) and is not compared.
 */
describe('etcd 3.4 and KeyVal at a tiny --quota-backend-bytes (compatibility suite)', () => {
  const keyval = clusterForSuite({ size: 3, memberFlags: () => ['--quota-backend-bytes=393216'] });
  let etcdCluster: EtcdCluster | undefined;
  const value = 'q'.repeat(16 * 1024);

  beforeAll(async () => {
    etcdCluster = await EtcdCluster.start(1, ['--quota-backend-bytes=204800']);
  });
  afterAll(async () => {
    await etcdCluster?.close();
  });

  it('NOSPACE: the refusals, alarm list, recovery and alarm disarm answer as etcd', async () => {
    const follower = keyval().followersOf(await keyval().leader())[0]?.endpoint as string;
    const transcripts: Transcript[] = [];
    for (const endpoint of [etcdCluster?.members[0]?.endpoint as string, follower]) {
      const x = new Transcript('compat-quota');
      const run = async (args: string[], input?: string): Promise<{ code: number | null; stdout: string }> => {
        const r = await etcdctl([endpoint], args, { input });
        x.log(`etcdctl ${args.join(' ').replace(value, 'VALUE').replace(/--physical \d+/, '--physical REV')}`, {
          code: r.code,
          // Member ids and endpoints differ; counts and revisions depend on how much fitted.
          // (defrag --cluster: one line per member, the same line once normalised.)
          stdout: [...new Set(r.stdout.replace(/memberID:\d+/g, 'memberID:ID').replace(/member\[[^\]]+\]/g, 'member[ENDPOINT]').replace(/^\d+\n$|revision \d+/g, 'N').split('\n'))].join('\n'),
          stderr: lastLine(r.stderr),
        });
        return r;
      };
      let filled = 0;
      for (; filled < 200; filled++) {
        const r = await etcdctl([endpoint], ['put', `quota/${String(filled).padStart(3, '0')}`, value]);
        if (r.code !== 0) break;
      }
      expect(filled).toBeGreaterThan(2);
      expect(filled).toBeLessThan(200);
      await run(['alarm', 'list']);
      await run(['put', 'quota/more', value]);
      await run(['put', 'quota/small', 'v']);
      await run(['txn'], '\nput quota/t v\n\n\n');
      await run(['lease', 'grant', '60']);
      await run(['get', 'quota/000', '--print-value-only']);
      await run(['del', 'quota/', '--prefix']);
      const status = parseEtcdctlJson(await etcdctlOk([endpoint], ['endpoint', 'status', '-w', 'json'])) as { Status: { header: { revision: number }; errors?: string[] } }[];
      x.log('endpoint status errors', status[0]?.Status.errors?.map((e) => e.replace(/memberID:\d+/, 'memberID:ID')));
      await run(['compaction', '--physical', String(status[0]?.Status.header.revision)]);
      await run(['defrag', '--cluster']);
      await run(['put', 'quota/small', 'v']);
      await run(['alarm', 'disarm']);
      await run(['alarm', 'list']);
      await run(['put', 'quota/small', 'v']);
      transcripts.push(x);
    }
    expect({ target: 'KeyVal (a follower)', transcript: transcripts[1]?.entries }).toEqual({ target: 'KeyVal (a follower)', transcript: transcripts[0]?.entries });
  });
});
