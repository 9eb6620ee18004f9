/**
 * Proof (issue 16, client certificates as etcd decides them): a KeyVal member and a real etcd
 * 3.4 get the same client TLS flags, and the same clients (no certificate, one from the
 * cluster's CA, one from another CA) must get the same outcome from both:
 *
 *     flags                                         no cert   our CA   another CA
 *     --cert-file --key-file                        served    served   served (none asked for)
 *     ... --trusted-ca-file                         refused   served   refused
 *     ... --trusted-ca-file --client-cert-auth      refused   served   refused
 *
 * (etcd 3.4 asks Go for RequireAndVerifyClientCert as soon as a CA bundle is given; without
 * one it asks for no certificate, so none is ever taken on trust.) A refused client fails in
 * the TLS handshake, and kvctl says so and how to fix it.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ThrowawayCa } from '@keyval/grpc';
import type { IssuedFiles } from '@keyval/grpc';
import { TestCluster, explain } from './harness/cluster';
import { etcdctl, findOnPath } from './harness/etcdctl';
import { EtcdMissingError } from './harness/etcd-process';
import { freePorts } from './harness/free-ports';
import type { TestMember } from './harness/member-process';
import { waitFor } from './harness/wait-for';
import { runKvctl } from './ops-helpers';

jest.setTimeout(180_000);

type Flags = TestMember['clientAuthFlags'];
type Client = 'no certificate' | 'our CA' | 'another CA';

const EXPECTED: Record<Flags, Record<Client, 'served' | 'refused'>> = {
  'certificate-only': { 'no certificate': 'served', 'our CA': 'served', 'another CA': 'served' },
  'trusted-ca-file': { 'no certificate': 'refused', 'our CA': 'served', 'another CA': 'refused' },
  'client-cert-auth': { 'no certificate': 'refused', 'our CA': 'served', 'another CA': 'refused' },
};

/** etcd 3.4, one member, https:// on its client URL with the flags of `mode`. */
async function startEtcd(dir: string, ca: ThrowawayCa, own: IssuedFiles, mode: Flags, probe: string[]): Promise<{ url: string; stop: () => Promise<void> }> {
  const bin = findOnPath('etcd');
  if (bin === undefined) throw new EtcdMissingError();
  const [client, peer] = (await freePorts(2)) as [number, number];
  const url = `https://127.0.0.1:${client}`;
  const data = path.join(dir, `etcd-${mode}`);
  const clientFlags = [`--cert-file=${own.certFile}`, `--key-file=${own.keyFile}`, ...(mode === 'certificate-only' ? [] : [`--trusted-ca-file=${ca.caFile}`]), ...(mode === 'client-cert-auth' ? ['--client-cert-auth'] : [])];
  const log = fs.openSync(`${data}.log`, 'a');
  const child: ChildProcess = spawn(
    bin,
    [
      '--name=e1',
      `--data-dir=${data}`,
      `--listen-client-urls=${url}`,
      `--advertise-client-urls=${url}`,
      `--listen-peer-urls=http://127.0.0.1:${peer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
      `--initial-cluster=e1=http://127.0.0.1:${peer}`,
      '--logger=zap',
      ...clientFlags,
    ],
    { stdio: ['ignore', log, log] },
  );
  fs.closeSync(log);
  const stop = (): Promise<void> =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  try {
    await waitFor(async () => ((await etcdctl([url], [...probe, 'endpoint', 'health'], { commandTimeoutMs: 1_000 })).code === 0 ? true : undefined), { timeoutMs: 30_000, what: `etcd (${mode}) healthy` });
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, stop };
}

describe('client certificates: the same answer as etcd 3.4 for the same flags', () => {
  let cluster: TestCluster | undefined;
  let stranger: IssuedFiles;
  let etcdFiles: IssuedFiles;
  const c = (): TestCluster => {
    if (cluster === undefined) throw new Error('the cluster did not start');
    return cluster;
  };

  beforeAll(async () => {
    cluster = await TestCluster.start({ size: 1, tls: true });
    const otherCa = await ThrowawayCa.create(path.join(cluster.dir, 'other-pki'), 'another CA');
    stranger = await otherCa.issue('stranger');
    etcdFiles = await (cluster.ca as ThrowawayCa).issue('etcd');
  });

  afterAll(async () => {
    await cluster?.close();
  });

  it.each(['certificate-only', 'trusted-ca-file', 'client-cert-auth'] as const)(
    'with the client flags of %s',
    async (mode) => {
      await explain(c, async () => {
        const member = c().members[0] as TestMember;
        const t = member.tls as NonNullable<TestMember['tls']>;
        member.clientAuthFlags = mode;
        await member.stop('SIGTERM');
        await c().restart(member);
        const etcdFlags: Record<Client, string[]> = {
          'no certificate': [`--cacert=${t.caFile}`],
          'our CA': [`--cacert=${t.caFile}`, `--cert=${t.clientCertFile}`, `--key=${t.clientKeyFile}`],
          'another CA': [`--cacert=${t.caFile}`, `--cert=${stranger.certFile}`, `--key=${stranger.keyFile}`],
        };
        const etcd = await startEtcd(c().dir, c().ca as ThrowawayCa, etcdFiles, mode, etcdFlags['our CA']);
        try {
          const outcomes: Record<string, Record<Client, string>> = { keyval: {} as Record<Client, string>, etcd: {} as Record<Client, string> };
          for (const client of Object.keys(etcdFlags) as Client[]) {
            for (const [server, url] of [
              ['keyval', member.clientUrl],
              ['etcd', etcd.url],
            ] as const) {
              const r = await etcdctl([url], [...etcdFlags[client], 'put', `tls/${mode}`, client], { commandTimeoutMs: 2_000 });
              (outcomes[server] as Record<Client, string>)[client] = r.code === 0 ? 'served' : 'refused';
            }
          }
          expect(outcomes).toEqual({ keyval: EXPECTED[mode], etcd: EXPECTED[mode] });
          if (EXPECTED[mode]['no certificate'] === 'refused') {
            // kvctl without a certificate: refused in the handshake, and told so plainly.
            const r = await runKvctl([member.clientUrl], [`--cacert=${t.caFile}`, '--timeout=3s', 'put', 'tls/kvctl', 'x']);
            expect(r.code).not.toBe(0);
            expect(r.stderr).toMatch(/the member refused the TLS handshake: it requires a client certificate \(give --cert and --key/);
            const s = await runKvctl([member.clientUrl], [`--cacert=${t.caFile}`, `--cert=${stranger.certFile}`, `--key=${stranger.keyFile}`, '--timeout=3s', 'put', 'tls/kvctl', 'x']);
            expect(s.code).not.toBe(0);
            expect(s.stderr).toMatch(/the member refused the TLS handshake: it did not accept the client certificate/);
          }
        } finally {
          await etcd.stop();
        }
      })();
    },
  );
});
