/**
 * TLS on our server and client: mutual TLS with a throwaway CA (libs/ops), the clients that
 * must be refused (no certificate, one from another CA, an expired one), certificates re-read
 * when their files change while running connections keep working, ALPN (h2 for gRPC, http/1.1
 * handed to another server), and the handshake timeout.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { etcd } from '@keyval/proto';
import { GrpcChannel } from '../channel';
import { createClient } from '../client';
import { GrpcStatusError } from '../grpc-status.error';
import { GrpcStatus } from '../status';
import { startTestServer, type TestServer } from '../testing/test-services';
import { CertificateStore } from './certificate-store';
import { ThrowawayCa } from './throwaway-pki';

let dir: string;
let ca: ThrowawayCa;
let otherCa: ThrowawayCa;
let serverFiles: { certFile: string; keyFile: string };
let serverStore: CertificateStore;
let test: TestServer;
/** Requests the HTTP/1.1 side answered, and whether each came over TLS. */
const http1Requests: { url: string | undefined; encrypted: boolean }[] = [];
const tlsErrors: string[] = [];

function clientStore(files: { certFile: string; keyFile: string }, caFile = ca.caFile): CertificateStore {
  return new CertificateStore({ ...files, caFile }, { reloadIntervalMs: 60_000 });
}

async function put(channel: GrpcChannel, value = 'v'): Promise<string | undefined> {
  const kv = createClient(etcd.KVDefinition, channel);
  const response = await kv.put(etcd.PutRequest.fromPartial({ key: Buffer.from('tls'), value: Buffer.from(value) }), { timeoutMs: 3000 });
  return response.prevKv?.value.toString();
}

async function refused(channel: GrpcChannel): Promise<GrpcStatusError> {
  try {
    await put(channel);
  } catch (error) {
    return error as GrpcStatusError;
  } finally {
    channel.close();
  }
  throw new Error('the call was not refused');
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyval-tls-'));
  ca = await ThrowawayCa.create(dir);
  otherCa = await ThrowawayCa.create(path.join(dir, 'other'), 'another CA');
  serverFiles = await ca.issue('server');
  serverStore = new CertificateStore({ ...serverFiles, caFile: ca.caFile }, { reloadIntervalMs: 50 });
  test = await startTestServer({
    handshakeTimeoutMs: 500,
    http1: (request, response) => {
      http1Requests.push({ url: request.url, encrypted: request.socket instanceof tls.TLSSocket });
      response.end('ok');
    },
    tls: {
      certificates: serverStore,
      clientCertAuth: true,
      onError: (error) => tlsErrors.push(error.message),
    },
  });
});

afterAll(async () => {
  await test.server.shutdown(500);
  serverStore.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('TLS', () => {
  it('serves a client with a certificate from the CA (mutual TLS, ALPN h2)', async () => {
    const store = clientStore(await ca.issue('client'));
    const channel = new GrpcChannel(`https://${test.address}`, { tls: { secureContext: () => store.secureContext() } });
    expect(await put(channel, 'mutual')).toBe('mutual');
    channel.close();
    store.close();
  });

  it('refuses a client without a certificate', async () => {
    const noCert = tls.createSecureContext({ ca: fs.readFileSync(ca.caFile) });
    const error = await refused(new GrpcChannel(`https://${test.address}`, { tls: { secureContext: () => noCert } }));
    expect(error.code).toBe(GrpcStatus.UNAVAILABLE);
    expect(error.details).toMatch(/certificate required|alert/i);
  });

  it('refuses a client whose certificate another CA signed', async () => {
    const store = clientStore(await otherCa.issue('stranger'));
    const error = await refused(new GrpcChannel(`https://${test.address}`, { tls: { secureContext: () => store.secureContext() } }));
    expect(error.code).toBe(GrpcStatus.UNAVAILABLE);
    expect(tlsErrors.some((message) => /client certificate refused: unable to (get local issuer|verify)/.test(message))).toBe(true);
    store.close();
  });

  it('refuses a client whose certificate has expired', async () => {
    const store = clientStore(await ca.issue('expired', { notBefore: new Date(Date.now() - 10 * 86_400_000), days: 2 }));
    const error = await refused(new GrpcChannel(`https://${test.address}`, { tls: { secureContext: () => store.secureContext() } }));
    expect(error.code).toBe(GrpcStatus.UNAVAILABLE);
    expect(tlsErrors.some((message) => /client certificate refused: certificate has expired/.test(message))).toBe(true);
    store.close();
  });

  it('refuses, on the client, a server whose certificate another CA signed; unless told not to verify', async () => {
    const store = clientStore(await ca.issue('client2'), otherCa.caFile);
    const error = await refused(new GrpcChannel(`https://${test.address}`, { tls: { secureContext: () => store.secureContext() } }));
    expect(error.details).toMatch(/self.signed|unable to verify|certificate/i);
    const insecure = new GrpcChannel(`https://${test.address}`, { tls: { secureContext: () => store.secureContext(), verifyServer: false } });
    expect(await put(insecure, 'skip')).toBe('skip');
    insecure.close();
    store.close();
  });

  it('re-reads its certificate when the files change: new connections get it, a running one keeps working', async () => {
    const store = clientStore(await ca.issue('client3'));
    const serialOf = (channel: GrpcChannel): Promise<string> =>
      new Promise((resolve, reject) => {
        const socket = tls.connect({ host: '127.0.0.1', port: test.port, secureContext: store.secureContext(), ALPNProtocols: ['h2'] }, () => {
          resolve(socket.getPeerCertificate().serialNumber);
          socket.destroy();
        });
        socket.on('error', reject);
        void channel;
      });
    const running = new GrpcChannel(`https://${test.address}`, { tls: { secureContext: () => store.secureContext() } });
    expect(await put(running, 'before')).toBe('before');
    const before = await serialOf(running);
    const generation = serverStore.current.generation;
    const renewed = await ca.issue('server-renewed');
    fs.copyFileSync(renewed.keyFile, serverFiles.keyFile); // key first: for a moment the pair does not match
    fs.copyFileSync(renewed.certFile, serverFiles.certFile);
    const deadline = Date.now() + 5000;
    while (serverStore.current.generation === generation && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(serverStore.current.generation).toBeGreaterThan(generation);
    expect(await serialOf(running)).not.toBe(before);
    expect(await put(running, 'after')).toBe('after'); // the connection opened before the change
    running.close();
    store.close();
  });

  it('serves HTTP/1.1 over TLS: chosen by ALPN ("h2" and "http/1.1" offered), or without ALPN by the first bytes', async () => {
    const store = clientStore(await ca.issue('client4'));
    const exchange = (alpn: string[] | undefined, url: string): Promise<{ body: string; alpn: string | false }> =>
      new Promise((resolve, reject) => {
        const socket = tls.connect({ host: '127.0.0.1', port: test.port, secureContext: store.secureContext(), ...(alpn === undefined ? {} : { ALPNProtocols: alpn }) }, () => {
          socket.write(`GET ${url} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`);
        });
        const chunks: Buffer[] = [];
        socket.on('data', (chunk: Buffer) => chunks.push(chunk));
        socket.on('end', () => resolve({ body: Buffer.concat(chunks).toString(), alpn: socket.alpnProtocol ?? false }));
        socket.on('error', reject);
      });
    const byAlpn = await exchange(['http/1.1'], '/health');
    expect(byAlpn.alpn).toBe('http/1.1');
    expect(byAlpn.body).toMatch(/^HTTP\/1.1 200 OK[\s\S]*ok$/);
    const byFirstBytes = await exchange(undefined, '/metrics');
    expect(byFirstBytes.alpn).toBe(false);
    expect(byFirstBytes.body).toMatch(/^HTTP\/1.1 200 OK[\s\S]*ok$/);
    expect(http1Requests).toEqual([
      { url: '/health', encrypted: true },
      { url: '/metrics', encrypted: true },
    ]);
    store.close();
  });

  it('drops a connection that does not finish its TLS handshake in time', async () => {
    const socket = net.connect(test.port, '127.0.0.1');
    socket.on('error', () => undefined);
    socket.resume();
    await new Promise((resolve) => socket.once('close', resolve));
    expect(tlsErrors.some((message) => /no TLS handshake within 500 ms/.test(message))).toBe(true);
    const deadline = Date.now() + 3000;
    while (test.server.connectionCounts.total > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(test.server.connectionCounts.total).toBe(0);
  });
});
