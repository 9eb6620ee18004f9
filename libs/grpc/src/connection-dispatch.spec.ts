/**
 * One port, two protocols: the pure first-bytes rule, then a GrpcServer serving gRPC (our
 * client and @grpc/grpc-js) and HTTP/1.1 (node:http, raw sockets: pipelined requests, a
 * preface sent byte by byte, a silent connection) on the same port; and the call observer.
 */
import * as grpc from '@grpc/grpc-js';
import * as http from 'node:http';
import * as net from 'node:net';
import fc from 'fast-check';
import { etcd } from '@keyval/proto';
import { GrpcChannel } from './channel';
import { createClient } from './client';
import { HTTP2_PREFACE, protocolOf } from './connection-dispatch';
import { GrpcStatusError } from './grpc-status.error';
import type { MethodDefinition } from './method';
import { callTypeOf, type GrpcMethodObserver, type GrpcServerObserver } from './server-observer';
import { GrpcStatus } from './status';
import { startTestServer, type TestServer } from './testing/test-services';

const put = (key: string, value = ''): etcd.PutRequest => etcd.PutRequest.fromPartial({ key: Buffer.from(key), value: Buffer.from(value) });

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (s: string) => (body += s));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

/** Writes `chunks` to a raw TCP connection (each its own write, after the previous drained) and collects what comes back until the server closes. */
function rawExchange(port: number, chunks: readonly Buffer[], pauseMs = 0): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    let received = '';
    socket.setEncoding('latin1').on('data', (s: string) => (received += s));
    socket.on('error', reject);
    socket.on('close', () => resolve(received));
    socket.on('connect', async () => {
      for (const chunk of chunks) {
        socket.write(chunk);
        if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
      }
    });
  });
}

describe('protocolOf', () => {
  it('waits on a proper prefix of the preface, says http2 on the whole preface, http1 on the first differing byte', () => {
    expect(protocolOf(Buffer.alloc(0))).toBeUndefined();
    expect(protocolOf(HTTP2_PREFACE.subarray(0, 3))).toBeUndefined();
    expect(protocolOf(HTTP2_PREFACE.subarray(0, 23))).toBeUndefined();
    expect(protocolOf(HTTP2_PREFACE)).toBe('http2');
    expect(protocolOf(Buffer.concat([HTTP2_PREFACE, Buffer.from([0, 0, 0, 4])]))).toBe('http2');
    expect(protocolOf(Buffer.from('GET /metrics HTTP/1.1\r\n'))).toBe('http1');
    expect(protocolOf(Buffer.from('P'))).toBeUndefined();
    expect(protocolOf(Buffer.from('POST'))).toBe('http1');
    expect(protocolOf(Buffer.from('PRO'))).toBe('http1'); // PROPFIND
  });

  it('decides http2 exactly for buffers that start with the preface (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.boolean(), (tail, withPreface) => {
        const head = withPreface ? Buffer.concat([HTTP2_PREFACE, tail]) : Buffer.from(tail);
        const startsWithPreface = head.length >= 24 && head.subarray(0, 24).equals(HTTP2_PREFACE);
        const isProperPrefix = head.length < 24 && HTTP2_PREFACE.subarray(0, head.length).equals(head);
        const expected = startsWithPreface ? 'http2' : isProperPrefix ? undefined : 'http1';
        expect(protocolOf(head)).toBe(expected);
      }),
    );
  });
});

describe('GrpcServer with an HTTP/1.1 listener on the same port', () => {
  let test: TestServer;
  let channel: GrpcChannel;
  const seen: string[] = [];

  beforeAll(async () => {
    test = await startTestServer({
      handshakeTimeoutMs: 300,
      http1: (req, res) => {
        seen.push(`${req.method} ${req.url}`);
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(`you asked for ${req.url}\n`);
      },
    });
    channel = new GrpcChannel(test.address);
  });

  afterAll(async () => {
    channel.close();
    await test.server.shutdown(1000);
  });

  it('answers gRPC (our client and @grpc/grpc-js) and HTTP/1.1 GETs on one port', async () => {
    const kv = createClient(etcd.KVDefinition, channel);
    expect((await kv.put(put('a', 'b'))).prevKv?.value.toString()).toBe('b');
    const r = await get(test.port, '/metrics');
    expect(r).toEqual({ status: 200, body: 'you asked for /metrics\n' });
    const grpcJs = new etcd.KVClient(test.address, grpc.credentials.createInsecure());
    try {
      const response = await new Promise<etcd.PutResponse>((resolve, reject) => grpcJs.put(put('c', 'd'), (error, res) => (error === null ? resolve(res) : reject(error))));
      expect(response.prevKv?.value.toString()).toBe('d');
    } finally {
      grpcJs.close();
    }
  });

  it('serves pipelined HTTP/1.1 requests on one connection, in order', async () => {
    const reply = await rawExchange(test.port, [Buffer.from('GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')]);
    expect(reply.indexOf('you asked for /one')).toBeGreaterThan(0);
    expect(reply.indexOf('you asked for /two')).toBeGreaterThan(reply.indexOf('you asked for /one'));
  });

  it('reads a request line and an HTTP/2 preface that arrive a few bytes at a time', async () => {
    const line = Buffer.from('GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const reply = await rawExchange(test.port, [line.subarray(0, 1), line.subarray(1, 2), line.subarray(2)], 20);
    expect(reply).toContain('you asked for /slow');
    // The preface in three pieces, then an empty SETTINGS frame: the server answers with its
    // own SETTINGS (type 4) once it has the whole preface.
    const settings = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);
    const socket = net.connect(test.port, '127.0.0.1');
    const frames: Buffer[] = [];
    await new Promise<void>((resolve) => socket.on('connect', () => resolve()));
    socket.on('data', (b: Buffer) => frames.push(b));
    for (const piece of [HTTP2_PREFACE.subarray(0, 2), HTTP2_PREFACE.subarray(2, 20), HTTP2_PREFACE.subarray(20), settings]) {
      socket.write(piece);
      await new Promise((r) => setTimeout(r, 20));
    }
    const deadline = Date.now() + 2000;
    while (Buffer.concat(frames).length < 9 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    socket.destroy();
    expect(Buffer.concat(frames)[3]).toBe(4);
  });

  it('closes a connection that stays silent past handshakeTimeoutMs, reaching neither side', async () => {
    const before = seen.length;
    const started = Date.now();
    const reply = await rawExchange(test.port, []);
    expect(reply).toBe('');
    // Not at once: the sweep that enforces the 300 ms deadline runs periodically and dates
    // connections from its own coarse clock, so the close comes a little before or after.
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    expect(seen.length).toBe(before);
  });
});

describe('GrpcServer without an HTTP/1.1 listener', () => {
  it('takes every connection as HTTP/2, so an HTTP/1.1 client gets GOAWAY', async () => {
    const test = await startTestServer();
    try {
      const reply = await rawExchange(test.port, [Buffer.from('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n')]);
      expect(reply).not.toContain('HTTP/1.1 200');
      expect(reply).toContain('preface'); // the GOAWAY's debug text
    } finally {
      await test.server.shutdown(1000);
    }
  });
});

describe('GrpcServer observer', () => {
  it('is asked once per method and hears started/handled once per call with the status', async () => {
    const events: string[] = [];
    const asked: string[] = [];
    const observer: GrpcServerObserver = {
      method(service: string, method: MethodDefinition): GrpcMethodObserver {
        asked.push(`${service}/${method.name}:${callTypeOf(method)}`);
        return {
          started: () => events.push(`start ${method.name}`),
          handled: (code, elapsedMs) => {
            expect(elapsedMs).toBeGreaterThanOrEqual(0);
            events.push(`done ${method.name} ${GrpcStatus[code]}`);
          },
        };
      },
    };
    const test = await startTestServer({ observer });
    const channel = new GrpcChannel(test.address);
    try {
      expect(asked).toContain('etcdserverpb.KV/Put:unary');
      expect(asked).toContain('etcdserverpb.Maintenance/Snapshot:server_stream');
      expect(asked).toContain('keyval.raft.v1.RaftTransport/Messages:bidi_stream');
      const kv = createClient(etcd.KVDefinition, channel);
      await kv.put(put('x', 'y'));
      await expect(kv.put(put('fail', '5:nope'))).rejects.toBeInstanceOf(GrpcStatusError);
      await expect(kv.put(put('slow'), { timeoutMs: 100 })).rejects.toBeInstanceOf(GrpcStatusError);
      const deadline = Date.now() + 2000;
      while (events.filter((e) => e.startsWith('done')).length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(events.slice(0, 4)).toEqual(['start Put', 'done Put OK', 'start Put', 'done Put NOT_FOUND']);
      expect(events.filter((e) => e === 'done Put DEADLINE_EXCEEDED' || e === 'done Put CANCELLED').length).toBeGreaterThanOrEqual(1);
      expect(events.filter((e) => e.startsWith('start')).length).toBe(events.filter((e) => e.startsWith('done')).length);
    } finally {
      channel.close();
      await test.server.shutdown(1000);
    }
  });
});

describe('GrpcServer HTTP/1.1 side: request timeout and shutdown', () => {
  /** A raw connection, open and kept; resolves with it once connected. */
  function openRaw(port: number): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.on('error', reject);
      socket.on('connect', () => resolve(socket));
    });
  }
  const closed = (socket: net.Socket): Promise<number> => {
    const started = Date.now();
    return new Promise((resolve) => socket.on('close', () => resolve(Date.now() - started)));
  };

  it('closes a connection whose request head does not arrive within requestHeadersTimeoutMs', async () => {
    const test = await startTestServer({ requestHeadersTimeoutMs: 400, http1: (_req, res) => res.end('ok') });
    try {
      const socket = await openRaw(test.port);
      const gone = closed(socket);
      socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\n'); // never the blank line
      const ms = await gone;
      expect(ms).toBeGreaterThanOrEqual(300);
      expect(ms).toBeLessThan(5_000);
    } finally {
      await test.server.shutdown(1000);
    }
  });

  it('shutdown closes idle keep-alive and undecided connections at once, and a busy one after its response', async () => {
    let release: (() => void) | undefined;
    const test = await startTestServer({
      http1: (req, res) => {
        if (req.url === '/slow') {
          release = () => res.end('slow done');
          return;
        }
        res.end('ok');
      },
    });
    const agent = new http.Agent({ keepAlive: true });
    const getWith = (path: string): Promise<{ body: string; connection: string | undefined }> =>
      new Promise((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port: test.port, path, agent }, (res) => {
            let body = '';
            res.setEncoding('utf8').on('data', (s: string) => (body += s));
            res.on('end', () => resolve({ body, connection: res.headers.connection }));
          })
          .on('error', reject);
      });
    try {
      // An idle keep-alive connection (as Node 20's default agent leaves one)...
      expect((await getWith('/fast')).body).toBe('ok');
      // ...one that has sent nothing yet...
      const silent = await openRaw(test.port);
      const silentGone = closed(silent);
      // ...and one waiting for its response.
      const slow = getWith('/slow');
      while (release === undefined) await new Promise((r) => setTimeout(r, 5));
      const started = Date.now();
      const shutdown = test.server.shutdown(10_000);
      await silentGone;
      await new Promise((r) => setTimeout(r, 100));
      release();
      expect(await slow).toEqual({ body: 'slow done', connection: 'close' });
      await shutdown;
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      agent.destroy();
      test.server.forceClose();
    }
  });
});
