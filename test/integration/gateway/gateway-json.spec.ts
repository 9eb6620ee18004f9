/**
 * Proof (issue 15): etcd's JSON API (its grpc-gateway paths) through the gateway, in front of
 * a 3-member cluster of real processes, answers as a member does — `curl` works against the
 * gateway exactly as against a member: unary paths (routed to the leader, counted in the
 * gateway's grpc_server_* metrics), errors in etcd's bodies, watch and lease keepalive
 * streamed; and a stream that fails ends with the same line a live etcd 3.4 writes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ThrowawayCa } from '@keyval/grpc';
import { clusterForSuite, explain } from '../harness/cluster';
import { EtcdCluster } from '../harness/etcd-process';
import { httpPost } from '../harness/http-post';
import type { HttpAnswer } from '../harness/http-post';
import { waitFor } from '../harness/wait-for';
import { GatewayProcess } from './gateway-process';

jest.setTimeout(120_000);

const b64 = (text: string): string => Buffer.from(text).toString('base64');
type Json = Record<string, unknown>;
const json = (answer: HttpAnswer): Json => JSON.parse(answer.body) as Json;
const lines = (answer: HttpAnswer): Json[] => answer.body.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Json);

/** `value` with the fields that differ between two servers of one cluster (who answered, when) left out. */
function shape(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(shape);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([k]) => !['member_id', 'raft_term', 'revision', 'ID', 'TTL', 'grantedTTL', 'create_revision', 'mod_revision', 'dbSize', 'dbSizeInUse', 'raftIndex', 'raftAppliedIndex', 'raftTerm', 'leader'].includes(k))
      .map(([k, v]) => [k, shape(v)]),
  );
}

describe('etcd\'s JSON API through the gateway', () => {
  const cluster = clusterForSuite({ size: 3 });
  let gateway: GatewayProcess | undefined;
  const gw = (): string => gateway?.endpoint as string;

  beforeAll(async () => {
    gateway = await GatewayProcess.start({ endpoints: cluster().endpoints(), dir: cluster().dir });
  });

  afterAll(async () => {
    await gateway?.stop('SIGKILL');
  });

  it(
    'unary paths answer as a member does: writes answered by the leader, reads, txn, leases, status, member list, compaction',
    explain(cluster, async () => {
      const leader = await cluster().leader();
      const leaderId = BigInt((await leader.status()).header?.memberId ?? 0n).toString();
      const follower = cluster().followersOf(leader)[0]?.endpoint as string;
      const key = b64('gj/k');
      const put = await httpPost(gw(), '/v3/kv/put', JSON.stringify({ key, value: b64('one') }));
      expect(put.status).toBe(200);
      // Leader choice: the write went to the leader, which answered it (header.member_id).
      expect((json(put).header as Json).member_id).toBe(leaderId);
      const revision = Number((json(put).header as Json).revision);

      // The same calls against the gateway and a follower member: the same answers but for who answered and when.
      const calls: [string, unknown][] = [
        ['/v3/kv/range', { key }],
        ['/v3beta/kv/range', { key, count_only: true }],
        ['/v3/kv/put', { key, value: b64('two') }],
        ['/v3/kv/txn', { compare: [{ key, result: 'EQUAL', target: 'VALUE', value: b64('two') }], success: [{ request_range: { key } }] }],
        ['/v3/kv/range', { key: b64('gj/'), range_end: b64('gj0'), keys_only: true }],
        ['/v3/kv/range', { key, revision: String(revision + 1000) }],
        ['/v3/kv/range', '{"key":"bad'],
        ['/v3/lease/leases', {}],
        ['/v3/lease/timetolive', { ID: '12345' }],
        ['/v3/lease/revoke', { ID: '12345' }],
        ['/v3/cluster/member/list', {}],
        ['/v3/auth/authenticate', { name: 'root', password: 'x' }],
        ['/v3/no/such/path', {}],
        ['/v3alpha/kv/range', {}],
      ];
      for (const [urlPath, body] of calls) {
        const text = typeof body === 'string' ? body : JSON.stringify(body);
        const [viaGateway, viaMember] = [await httpPost(gw(), urlPath, text), await httpPost(follower, urlPath, text)];
        const parsed = (a: HttpAnswer): unknown => (a.body.startsWith('{') ? shape(json(a)) : a.body);
        expect({ urlPath, status: viaGateway.status, body: parsed(viaGateway) }).toEqual({ urlPath, status: viaMember.status, body: parsed(viaMember) });
      }
      const again = json(await httpPost(gw(), '/v3/kv/put', JSON.stringify({ key, value: b64('three'), prev_kv: true })));
      expect(again.prev_kv).toMatchObject({ key, value: b64('two') });
      const get = await httpPost(gw(), '/v3/kv/range', '', { method: 'GET' });
      expect(get.status).toBe(405);

      // Leases: granted through the gateway, on the leader; a key put with it goes with the revoke.
      const granted = json(await httpPost(gw(), '/v3/lease/grant', JSON.stringify({ TTL: '60' })));
      expect(granted).toMatchObject({ TTL: '60' });
      await httpPost(gw(), '/v3/kv/put', JSON.stringify({ key: b64('gj/leased'), value: b64('v'), lease: granted.ID }));
      expect(json(await httpPost(gw(), '/v3/lease/timetolive', JSON.stringify({ ID: granted.ID, keys: true })))).toMatchObject({ ID: granted.ID, grantedTTL: '60', keys: [b64('gj/leased')] });
      expect((json(await httpPost(gw(), '/v3/lease/leases', '{}')).leases as Json[]).some((l) => l.ID === granted.ID)).toBe(true);
      expect((await httpPost(gw(), '/v3/lease/revoke', JSON.stringify({ ID: granted.ID }))).status).toBe(200);
      expect(json(await httpPost(gw(), '/v3/kv/range', JSON.stringify({ key: b64('gj/leased') }))).kvs).toBeUndefined();

      const status = json(await httpPost(gw(), '/v3/maintenance/status', '{}'));
      expect(status.leader).toBe(leaderId);
      expect(status.version).toEqual(expect.any(String));

      // Compaction, then a read below it: etcd's error body, 400, OUT_OF_RANGE.
      expect((await httpPost(gw(), '/v3/kv/compaction', JSON.stringify({ revision: String(revision), physical: true }))).status).toBe(200);
      const compacted = await httpPost(gw(), '/v3/kv/range', JSON.stringify({ key, revision: String(revision - 1) }));
      const compactedText = 'etcdserver: mvcc: required revision has been compacted';
      expect({ status: compacted.status, body: json(compacted) }).toEqual({ status: 400, body: { error: compactedText, message: compactedText, code: 11 } });
      // A definite failure says what became of the call, as a gRPC trailer would (grpc-gateway's Grpc-Trailer-* headers).
      expect(compacted.headers['grpc-trailer-keyval-outcome']).toBe('not-applied');
      const unimplemented = await httpPost(gw(), '/v3/auth/user/list', '{}');
      expect({ status: unimplemented.status, code: json(unimplemented).code }).toEqual({ status: 501, code: 12 });

      // A body over the gateway's request limit (--max-request-bytes, 2 MiB): refused as a message over it, 429 code 8.
      const huge = await httpPost(gw(), '/v3/kv/put', JSON.stringify({ key, value: 'A'.repeat(3 << 20) }));
      expect({ status: huge.status, code: json(huge).code }).toEqual({ status: 429, code: 8 });

      // Counted in the gateway's grpc_server_* families as the gRPC methods they call.
      const metrics = (await gateway?.httpGet('/metrics'))?.body ?? '';
      expect(metrics).toMatch(/grpc_server_handled_total\{[^}]*grpc_method="Put"[^}]*grpc_code="OK"\} [1-9]/);
      expect(metrics).toMatch(/grpc_server_handled_total\{[^}]*grpc_method="Range"[^}]*grpc_code="OutOfRange"\} [1-9]/);
    }),
  );

  it(
    'watch streams through the gateway: history then live events, a compacted start revision cancelled with compact_revision, a bad first request refused as etcd',
    explain(cluster, async () => {
      const key = b64('gj/w');
      const first = json(await httpPost(gw(), '/v3/kv/put', JSON.stringify({ key, value: b64('1') })));
      const from = Number((first.header as Json).revision);
      const watching = httpPost(gw(), '/v3/watch', JSON.stringify({ create_request: { key, start_revision: String(from), prev_kv: true } }), {
        lines: 1,
        until: (text) => text.includes(b64('3')),
      });
      await httpPost(gw(), '/v3/kv/put', JSON.stringify({ key, value: b64('2') }));
      await httpPost(gw(), '/v3/kv/put', JSON.stringify({ key, value: b64('3') }));
      const watched = await watching;
      expect(watched.status).toBe(200);
      const results = lines(watched).map((l) => l.result as Json);
      expect(results[0]).toMatchObject({ created: true });
      const values = results.flatMap((r) => ((r.events as Json[] | undefined) ?? []).map((e) => Buffer.from((e.kv as Json).value as string, 'base64').toString()));
      expect(values).toEqual(['1', '2', '3']);

      // Compacted past the start: etcd's answer is a result line (canceled, compact_revision), not an error.
      const last = json(await httpPost(gw(), '/v3/kv/put', JSON.stringify({ key, value: b64('4') })));
      const compactAt = Number((last.header as Json).revision);
      expect((await httpPost(gw(), '/v3/kv/compaction', JSON.stringify({ revision: String(compactAt) }))).status).toBe(200);
      // The gateway sends each watch to any member, which serves it from its applied state: one
      // that has not applied the compaction yet still streams the history. Asked until it has.
      let cancelled: HttpAnswer | undefined;
      await waitFor(
        async () => {
          cancelled = await httpPost(gw(), '/v3/watch', JSON.stringify({ create_request: { key, start_revision: String(from) } }), { lines: 2 });
          return cancelled.body.includes('compact_revision') || undefined;
        },
        { timeoutMs: 10_000, what: 'a watch from below the compaction to be cancelled' },
      );
      if (cancelled === undefined) throw new Error('no watch answer');
      expect(lines(cancelled).map((l) => shape(l.result))).toEqual([{ header: { cluster_id: expect.any(String) }, created: true }, { header: { cluster_id: expect.any(String) }, canceled: true, compact_revision: String(compactAt) }]);

      // A first request that does not parse: 500 and code 2 (UNKNOWN), as etcd 3.4's gateway refuses a stream.
      const bad = await httpPost(gw(), '/v3/watch', '{"create_request":');
      expect({ status: bad.status, body: json(bad) }).toEqual({ status: 500, body: { error: 'unexpected EOF', message: 'unexpected EOF', code: 2 } });
    }),
  );

  it(
    'lease keepalive streams through the gateway to the leader',
    explain(cluster, async () => {
      const granted = json(await httpPost(gw(), '/v3/lease/grant', JSON.stringify({ TTL: '30' })));
      const kept = await httpPost(gw(), '/v3/lease/keepalive', `${JSON.stringify({ ID: granted.ID })}\n${JSON.stringify({ ID: granted.ID })}`, { lines: 2 });
      expect(kept.status).toBe(200);
      expect(lines(kept).map((l) => shape(l.result))).toEqual([
        { header: { cluster_id: expect.any(String) } },
        { header: { cluster_id: expect.any(String) } },
      ]);
      expect(lines(kept).map((l) => (l.result as Json).TTL)).toEqual(['30', '30']);
      const unknown = await httpPost(gw(), '/v3/lease/keepalive', JSON.stringify({ ID: '777' }), { lines: 1 });
      expect((lines(unknown)[0]?.result as Json).TTL).toBeUndefined(); // TTL 0: not found, as etcd answers it
    }),
  );

  it(
    'over TLS: an https:// gateway answers the JSON API on its client port (HTTP/1.1 by ALPN), unary and streamed',
    explain(cluster, async () => {
      const dir = path.join(cluster().dir, 'gateway-json-tls');
      const ca = await ThrowawayCa.create(dir);
      const files = await ca.issue('gateway');
      const credentials = { ca: fs.readFileSync(ca.caFile) };
      const secure = await GatewayProcess.start({ endpoints: cluster().endpoints(), dir: cluster().dir, clientTls: { ...files, ...credentials } });
      try {
        const key = b64('gj/tls');
        const put = await httpPost(secure.endpoint, '/v3/kv/put', JSON.stringify({ key, value: b64('sealed') }), { credentials });
        expect(put.status).toBe(200);
        const read = json(await httpPost(secure.endpoint, '/v3/kv/range', JSON.stringify({ key }), { credentials }));
        expect((read.kvs as Json[])[0]).toMatchObject({ key, value: b64('sealed') });
        const watched = await httpPost(secure.endpoint, '/v3/watch', JSON.stringify({ create_request: { key, start_revision: (put.body.match(/"revision":"(\d+)"/) ?? [])[1] } }), { credentials, lines: 2 });
        expect(lines(watched).map((l) => (l.result as Json).created ?? ((l.result as Json).events as Json[]).length)).toEqual([true, 1]);
        // Plain HTTP to the https:// port is no request it answers.
        await expect(httpPost(secure.endpoint, '/v3/kv/range', JSON.stringify({ key }), { timeoutMs: 3_000 })).rejects.toThrow();
      } finally {
        await secure.stop('SIGKILL');
      }
    }),
  );

  it(
    'a stream cut by its server stopping ends with etcd 3.4\'s error line: a live etcd, a member and the gateway write the same',
    explain(cluster, async () => {
      const ended = async (endpoint: string, stop: () => Promise<void>): Promise<string> => {
        let created = (): void => undefined;
        const open = new Promise<void>((resolve) => (created = resolve));
        const watching = httpPost(endpoint, '/v3/watch', JSON.stringify({ create_request: { key: b64('gj/stop') } }), {
          timeoutMs: 30_000,
          onText: (text) => (text.includes('"created":true') ? created() : undefined),
        });
        await open;
        await stop();
        const answer = await watching;
        return answer.body.slice(answer.body.lastIndexOf('\n') + 1);
      };
      const etcd = await EtcdCluster.start(1);
      let fromEtcd: string;
      try {
        const member = etcd.members[0];
        fromEtcd = await ended(member?.endpoint as string, async () => {
          member?.process?.kill('SIGTERM');
        });
      } finally {
        await etcd.close();
      }
      const follower = cluster().followersOf(await cluster().leader())[0];
      const fromMember = await ended(follower?.endpoint as string, async () => {
        await follower?.stop('SIGTERM');
      });
      await cluster().ensureAllRunning();
      const fromGateway = await ended(gw(), async () => {
        await gateway?.stop('SIGTERM');
      });
      gateway = await GatewayProcess.start({ endpoints: cluster().endpoints(), dir: cluster().dir });
      const withoutMessage = (line: string): unknown => {
        const parsed = JSON.parse(line) as { error: Json };
        return { ...parsed, error: { ...parsed.error, message: typeof parsed.error.message } };
      };
      // The same object, the same key order, no newline after it; only the message is each server's own.
      // etcd's own line depends on a race in its shutdown: its gateway's connection to the server
      // is seen closing (UNAVAILABLE, the usual line) or cancelled first (CANCELED, 408). Ours is
      // always the first: the client should retry elsewhere.
      const reference = '{"error":{"grpc_code":14,"http_code":503,"message":"transport is closing","http_status":"Service Unavailable"}}';
      const etcdCancelled = '{"error":{"grpc_code":1,"http_code":408,"message":"grpc: the client connection is closing","http_status":"Request Timeout"}}';
      expect([reference, etcdCancelled]).toContain(fromEtcd);
      for (const line of [fromMember, fromGateway]) {
        expect(Object.keys((JSON.parse(line) as { error: Json }).error)).toEqual(Object.keys((JSON.parse(fromEtcd) as { error: Json }).error));
        expect(withoutMessage(line)).toEqual(withoutMessage(reference));
      }
    }),
  );
});
