/**
 * The pod's real start calls over mutual TLS: Cluster.MemberList on a peer port served with
 * the peer transport's credentials, as a member serves it. A pod with the right certificates
 * gets the list; one whose CA does not verify the peer, or whose certificate the peer does
 * not accept, fails with an error naming the flags that choose those certificates.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { CertificateStore, ThrowawayCa } from '@keyval/grpc';
import { etcd } from '@keyval/proto';
import { peerServerCredentials } from '../transport/peer-credentials';
import type { PeerTls } from '../transport/peer-credentials';
import { PodCallError, describeCallError, grpcPodBootstrapIo } from './pod-bootstrap';

let dir: string;
let server: grpc.Server;
let port: number;
const stores: CertificateStore[] = [];
let good: PeerTls;
let wrongCa: PeerTls;
let foreignCert: PeerTls;

const store = (files: { certFile: string; keyFile: string }, caFile: string): CertificateStore => {
  const s = new CertificateStore({ ...files, caFile }, { reloadIntervalMs: 60_000 });
  stores.push(s);
  return s;
};

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kv-podtls-'));
  const ca = await ThrowawayCa.create(dir);
  const other = await ThrowawayCa.create(path.join(dir, 'other'), 'another CA');
  const member = await ca.issue('member');
  const pod = await ca.issue('pod');
  const stranger = await other.issue('stranger');
  good = { certificates: store(pod, ca.caFile), clientCertAuth: true };
  wrongCa = { certificates: store(pod, other.caFile), clientCertAuth: true };
  foreignCert = { certificates: store(stranger, ca.caFile), clientCertAuth: true };
  server = new grpc.Server();
  server.addService(etcd.ClusterService, {
    memberList: (_call: unknown, done: (e: null, r: etcd.MemberListResponse) => void) =>
      done(null, etcd.MemberListResponse.fromPartial({ header: { clusterId: 0xc1n }, members: [{ ID: 0x1n, name: 'kv-0', peerURLs: ['https://kv-0:2380'], clientURLs: ['https://kv-0:2379'] }] })),
  } as unknown as grpc.UntypedServiceImplementation);
  const serverTls: PeerTls = { certificates: store(member, ca.caFile), clientCertAuth: true };
  port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', peerServerCredentials(serverTls), (e, p) => (e ? reject(e) : resolve(p))));
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  for (const s of stores) s.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('grpcPodBootstrapIo over mutual TLS', () => {
  it('lists the members over an https:// peer URL with the peer certificate', async () => {
    const list = await grpcPodBootstrapIo({ peer: good }).memberList(`https://localhost:${port}`, 5_000);
    expect(list).toEqual({ clusterId: 0xc1n, members: [{ id: 0x1n, name: 'kv-0', peerUrls: ['https://kv-0:2380'], clientUrls: ['https://kv-0:2379'], isLearner: false }] });
  });

  it('names --peer-trusted-ca-file when the peer\'s certificate does not verify', async () => {
    const error = await grpcPodBootstrapIo({ peer: wrongCa }).memberList(`https://localhost:${port}`, 5_000).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PodCallError);
    expect(error).toMatchObject({ side: 'peer', tlsFailure: true, url: `https://localhost:${port}` });
    expect((error as Error).message).toContain('--peer-trusted-ca-file');
  });

  it('names --peer-cert-file when the peer refuses this pod\'s certificate', async () => {
    await expect(grpcPodBootstrapIo({ peer: foreignCert }).memberList(`https://localhost:${port}`, 5_000)).rejects.toThrow('--peer-cert-file');
  });

  it('fails plainly (no TLS hint) when plaintext meets a TLS port', async () => {
    const error = await grpcPodBootstrapIo({ peer: good }).memberList(`http://localhost:${port}`, 2_000).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'PodCallError', tlsFailure: false });
    expect((error as Error).message).not.toContain('--peer');
  });

  it('reaches an https:// client URL with the client-side TLS it is given, naming --trusted-ca-file on failure', async () => {
    // The peer port speaks grpc-js, not the Admin service: the handshake is what is checked.
    const error = await grpcPodBootstrapIo({ clientTlsFor: () => ({ secureContext: () => wrongCa.certificates.secureContext() }) })
      .memberAdd(`https://localhost:${port}`, 'kv-3', 'https://kv-3:2380', 3_000)
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'PodCallError', side: 'client', tlsFailure: true });
    expect((error as Error).message).toContain('--trusted-ca-file');
  });
});

describe('describeCallError', () => {
  it('adds the flags only to TLS failures on https:// URLs', () => {
    expect(describeCallError(new Error('unable to verify the first certificate'), 'https://a:2379', 'client')).toContain('--cert-file/--key-file');
    expect(describeCallError(new Error('unable to verify the first certificate'), 'https://a:2380', 'peer')).toContain('--peer-cert-file/--peer-key-file');
    expect(describeCallError(new Error('getaddrinfo ENOTFOUND a'), 'https://a:2380', 'peer')).toBe('getaddrinfo ENOTFOUND a');
    expect(describeCallError(new Error('certificate rejected'), 'http://a:2380', 'peer')).toBe('certificate rejected');
  });
});
