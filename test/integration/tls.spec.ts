/**
 * Proof (issue 16, TLS): a 3-member cluster of real processes with mutual TLS on the client
 * and peer ports (https:// URLs, etcd's certificate flags, a throwaway CA). etcdctl and the
 * etcd3 npm client work with client certificates; a client without one, with one from another
 * CA or with an expired one is refused; a member whose certificate another CA signed cannot
 * join; and the members' certificates are rotated under a write load without one failed write.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { Etcd3 } from 'etcd3';
import { ThrowawayCa } from '@keyval/grpc';
import { TestCluster, explain } from './harness/cluster';
import { etcdctl, etcdctlOk } from './harness/etcdctl';
import type { TestMember } from './harness/member-process';
import { waitFor } from './harness/wait-for';
import { WriteLoad } from './harness/write-load';
import { extraMember, extraMemberSpec } from './ops-helpers';

/** Whether `member` logged a refused TLS handshake whose error matches `pattern`. */
function refusedLogged(member: TestMember, pattern: RegExp): boolean {
  return member.logRecords().some((r) => r.msg === 'TLS handshake refused' && pattern.test(String(r['error'])));
}

function logged(member: TestMember, pattern: RegExp): boolean {
  return member.logRecords().some((r) => pattern.test(r.msg));
}

jest.setTimeout(120_000);

describe('mutual TLS on a real cluster', () => {
  let cluster: TestCluster | undefined;
  let otherCa: ThrowawayCa;
  const c = (): TestCluster => {
    if (cluster === undefined) throw new Error('the cluster did not start');
    return cluster;
  };
  const ca = (): ThrowawayCa => c().ca as ThrowawayCa;
  const tlsOf = (member: TestMember): NonNullable<TestMember['tls']> => member.tls as NonNullable<TestMember['tls']>;

  beforeAll(async () => {
    cluster = await TestCluster.start({ size: 3, tls: true });
    otherCa = await ThrowawayCa.create(path.join(cluster.dir, 'other-pki'), 'another CA');
  });

  afterAll(async () => {
    await cluster?.close();
  });

  it(
    'etcdctl puts and gets with a client certificate, through a follower and the leader',
    explain(c, async () => {
      const leader = await c().leader();
      const follower = c().followersOf(leader)[0] as TestMember;
      await etcdctlOk([follower.clientUrl], [...follower.etcdctlTlsFlags(), 'put', 'tls/etcdctl', 'over TLS']);
      const got = await etcdctlOk([leader.clientUrl], [...leader.etcdctlTlsFlags(), 'get', 'tls/etcdctl', '--print-value-only']);
      expect(got.trim()).toBe('over TLS');
    }),
  );

  it(
    'the etcd3 npm client works with a client certificate',
    explain(c, async () => {
      const member = await c().leader();
      const t = tlsOf(member);
      const client = new Etcd3({
        hosts: member.clientUrl,
        credentials: { rootCertificate: fs.readFileSync(t.caFile), certChain: fs.readFileSync(t.clientCertFile), privateKey: fs.readFileSync(t.clientKeyFile) },
        dialTimeout: 3_000,
      });
      try {
        await client.put('tls/etcd3').value('grpc-js over TLS');
        expect(await client.get('tls/etcd3').string()).toBe('grpc-js over TLS');
      } finally {
        client.close();
      }
    }),
  );

  it(
    'refuses clients without a certificate, with one from another CA, or with an expired one',
    explain(c, async () => {
      const member = c().members[0] as TestMember;
      const t = tlsOf(member);
      const stranger = await otherCa.issue('stranger');
      const expired = await ca().issue('expired-client', { notBefore: new Date(Date.now() - 10 * 86_400_000), days: 2 });
      const attempts: [string, string[]][] = [
        ['no certificate', [`--cacert=${t.caFile}`]],
        ['another CA', [`--cacert=${t.caFile}`, `--cert=${stranger.certFile}`, `--key=${stranger.keyFile}`]],
        ['expired', [`--cacert=${t.caFile}`, `--cert=${expired.certFile}`, `--key=${expired.keyFile}`]],
      ];
      for (const [what, flags] of attempts) {
        const r = await etcdctl([member.clientUrl], [...flags, 'put', 'tls/refused', what], { commandTimeoutMs: 2_000 });
        expect([what, r.code]).not.toEqual([what, 0]);
      }
      await waitFor(() => (refusedLogged(member, /certificate has expired/) ? true : undefined), { timeoutMs: 5_000, what: 'the expired certificate refusal in the log' });
      expect(refusedLogged(member, /peer did not return a certificate|certificate required/)).toBe(true);
      expect(refusedLogged(member, /unable to (get local issuer|verify)/)).toBe(true);
      const stillThere = await etcdctl([member.clientUrl], [...member.etcdctlTlsFlags(), 'get', 'tls/refused', '--print-value-only']);
      expect(stillThere.stdout.trim()).toBe('');
    }),
  );

  it(
    'a member whose certificate another CA signed cannot join',
    explain(c, async () => {
      const leader = await c().leader();
      const spec = await extraMemberSpec(c().dir, 'n4');
      const peerUrl = `https://127.0.0.1:${spec.peerPort}`;
      await etcdctlOk([leader.clientUrl], [...leader.etcdctlTlsFlags(), 'member', 'add', 'n4', `--peer-urls=${peerUrl}`, '--learner']);
      const own = await otherCa.issue('n4');
      const initialCluster = [...c().members.map((m) => `${m.name}=${m.peerUrl}`), `n4=${peerUrl}`].join(',');
      const n4 = extraMember(spec, [
        '--name=n4',
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=${initialCluster}`,
        '--initial-cluster-state=existing',
      ]);
      n4.tls = { caFile: otherCa.caFile, certFile: own.certFile, keyFile: own.keyFile, clientCertFile: own.certFile, clientKeyFile: own.keyFile };
      n4.start();
      const exit = await n4.waitExit(60_000);
      expect(exit.code).not.toBe(0);
      expect(fs.readFileSync(n4.spec.logFile, 'utf8')).toMatch(/could not reach any member of --initial-cluster/);
      // The cluster never heard from it and goes on serving.
      await etcdctlOk([leader.clientUrl], [...leader.etcdctlTlsFlags(), 'put', 'tls/after-n4', 'still serving']);
      const list = await etcdctlOk([leader.clientUrl], [...leader.etcdctlTlsFlags(), 'member', 'list']);
      expect(list).toMatch(/unstarted.*n4|n4.*unstarted|, , https:\/\/127\.0\.0\.1/);
    }),
  );

  it(
    'rotates every member certificate under a write load: no write fails, new connections get the new certificates',
    explain(c, async () => {
      const members = c().members;
      const serial = (member: TestMember): Promise<string> => {
        const t = tlsOf(member);
        return new Promise((resolve, reject) => {
          const socket = tls.connect(
            { host: '127.0.0.1', port: member.spec.clientPort, ca: fs.readFileSync(t.caFile), cert: fs.readFileSync(t.clientCertFile), key: fs.readFileSync(t.clientKeyFile), ALPNProtocols: ['h2'] },
            () => {
              resolve(socket.getPeerCertificate().serialNumber);
              socket.destroy();
            },
          );
          socket.on('error', reject);
        });
      };
      const before = await Promise.all(members.map(serial));
      const load = new WriteLoad({ writers: 8, prefix: 'tls/rotation', members, putTimeoutMs: 3_000 });
      load.start();
      await waitFor(() => (load.acknowledged.size >= 200 ? true : undefined), { timeoutMs: 30_000, what: '200 writes before the rotation' });
      for (const member of members) {
        const t = tlsOf(member);
        const renewed = await ca().issue(`${member.name}-renewed`);
        // Written in place, key first: for a moment the pair does not match, and the member keeps the old one.
        fs.copyFileSync(renewed.keyFile, t.keyFile);
        fs.copyFileSync(renewed.certFile, t.certFile);
      }
      for (const member of members) {
        await waitFor(() => (logged(member, /certificates re-read/) ? true : undefined), { timeoutMs: 10_000, what: `${member.name} to re-read its certificates` });
      }
      const atRotation = load.acknowledged.size;
      await waitFor(() => (load.acknowledged.size >= atRotation + 300 ? true : undefined), { timeoutMs: 30_000, what: '300 writes after the rotation' });
      await load.stop();
      expect([...load.errors]).toEqual([]);
      const after = await Promise.all(members.map(serial));
      after.forEach((s, i) => expect(s).not.toBe(before[i]));
      // The members still talk to each other (peer connections made after the rotation use the new certificates too).
      const leader = await c().leader();
      await etcdctlOk([leader.clientUrl], [...leader.etcdctlTlsFlags(), 'put', 'tls/after-rotation', 'yes']);
    }),
  );
});
