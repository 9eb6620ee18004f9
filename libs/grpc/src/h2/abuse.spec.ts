/**
 * The HTTP/2 abuse suite: every attack of issue 16's table, and the RFC 9113 / RFC 7541
 * conformance classes, against a server in a process of its own (`../testing/abuse-target`)
 * at the production limits (only the timeouts shortened, so that the suite takes seconds).
 * Each case asserts three things:
 *
 *   1. the server's exact answer (GOAWAY or RST_STREAM and its code, or the gRPC status);
 *   2. the server's peak resident set during the attack stays within RSS_BOUND_BYTES of what
 *      it was before (the kernel's high-water mark, so no spike between polls is missed);
 *   3. a normal client's Put succeeds while the attack runs, and right after it.
 *
 * h2spec, the usual conformance tool, is not packaged for Debian and its Go modules cannot be
 * fetched here, so the conformance classes are written out below (docs/security.md).
 */
import { fork, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import { etcd, raftpb } from '@keyval/proto';
import { frameBytes } from '../framing';
import { GrpcChannel } from '../channel';
import { createClient } from '../client';
import type { GrpcServerOptions } from '../server';
import type { TargetMessage, TargetRequest } from '../testing/abuse-target';
import { ended, FrameCollector, putMessage, RawH2Client, rangeMessage, requestFields } from '../testing/h2-frames';
import { CONNECTION_PREFACE, DEFAULT_FRAME_BYTES, Flag, FrameType, H2Error, Setting } from './frame';

/** How far the server's resident set may rise during one attack. */
const RSS_BOUND_BYTES = 128 * 1024 * 1024;
const ROOT = path.resolve(__dirname, '..', '..', '..', '..');

/** Production limits, timeouts shortened (docs/security.md has the defaults). */
const TARGET_OPTIONS: GrpcServerOptions = {
  maxReceiveMessageBytes: 2 * 1024 * 1024,
  maxSendMessageBytes: 64 * 1024 * 1024,
  handshakeTimeoutMs: 3000, // not shorter: on a loaded machine a normal client may take that long
  requestHeadersTimeoutMs: 1500,
  requestBodyTimeoutMs: 1500,
  idleTimeoutMs: 4000, // longer than the handshake timeout, so silent connections meet that one first
  keepaliveTimeoutMs: 1500,
  goawayGraceMs: 500,
};

type Stats = Extract<TargetMessage, { kind: 'stats' }>;

/** The server process, and what it tells. */
class AbuseTarget {
  readonly warnings: string[] = [];
  exitCode: number | null | undefined;
  private readonly waiting = new Map<string, (message: TargetMessage) => void>();

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {
    child.on('message', (message: TargetMessage) => {
      if (message.kind === 'warning') {
        this.warnings.push(`${message.name}: ${message.message}`);
      }
      this.waiting.get(message.kind)?.(message);
    });
    child.on('exit', (code) => (this.exitCode = code));
  }

  static async start(options: GrpcServerOptions): Promise<AbuseTarget> {
    const child = fork(path.join(__dirname, '..', 'testing', 'abuse-target.ts'), [JSON.stringify(options)], {
      execArgv: ['-r', path.join(ROOT, 'test', 'crash', 'ts-register.js')],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const port = await new Promise<number>((resolve, reject) => {
      child.once('message', (message: TargetMessage) => (message.kind === 'listening' ? resolve(message.port) : reject(new Error(message.kind))));
      child.once('exit', (code) => reject(new Error(`the abuse target exited with ${code}`)));
    });
    return new AbuseTarget(child, port);
  }

  async stats(): Promise<Stats> {
    return (await this.ask({ kind: 'stats' }, 'stats')) as Stats;
  }

  async resetPeak(): Promise<number> {
    return ((await this.ask({ kind: 'reset-peak' }, 'peak-reset')) as Extract<TargetMessage, { kind: 'peak-reset' }>).rssBytes;
  }

  stop(): void {
    if (this.exitCode === undefined) {
      this.child.send({ kind: 'stop' } satisfies TargetRequest);
    }
  }

  private ask(request: TargetRequest, answer: string): Promise<TargetMessage> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the abuse target did not answer ${request.kind}`)), 5000);
      this.waiting.set(answer, (message) => {
        clearTimeout(timer);
        this.waiting.delete(answer);
        resolve(message);
      });
      this.child.send(request);
    });
  }
}

let target: AbuseTarget;
/** Each case's rise of the peak resident set, printed at the end. */
const peaks: [string, number][] = [];
let addressSuffix = 10;
const clients: RawH2Client[] = [];

/** An attacker's connection, from a loopback address of its own (the normal client is on 127.0.0.1). */
async function attacker(options: Parameters<typeof RawH2Client.connect>[1] = {}): Promise<RawH2Client> {
  const client = await RawH2Client.connect(target.port, { localAddress: nextAddress(), ...options });
  clients.push(client);
  return client;
}

function nextAddress(): string {
  addressSuffix = addressSuffix >= 250 ? 10 : addressSuffix + 1;
  return `127.0.0.${addressSuffix}`;
}

/** A normal client's Put (a fresh connection, so no attack on a shared one can affect it). */
async function normalPut(): Promise<void> {
  const channel = new GrpcChannel(`127.0.0.1:${target.port}`);
  try {
    const kv = createClient(etcd.KVDefinition, channel);
    const response = await kv.put(etcd.PutRequest.fromPartial({ key: Buffer.from('normal'), value: Buffer.from('client') }), { timeoutMs: 5000 });
    expect(response.prevKv?.value.toString()).toBe('client');
  } finally {
    channel.close();
  }
}

/**
 * Runs `attack` while a normal client puts every 100 ms; then one more Put, and the peak RSS
 * check. The attack's own assertions (the server's answer) are inside it.
 */
async function underAttack(attack: () => Promise<void>): Promise<void> {
  const before = await target.resetPeak();
  let attacking = true;
  const normal = (async (): Promise<number> => {
    let puts = 0;
    do {
      await normalPut();
      puts += 1;
      await new Promise((resolve) => setTimeout(resolve, 100));
    } while (attacking);
    return puts;
  })();
  try {
    await attack();
  } finally {
    attacking = false;
  }
  expect(await normal).toBeGreaterThanOrEqual(1);
  await normalPut();
  const stats = await target.stats();
  peaks.push([expect.getState().currentTestName ?? '?', stats.peakRssBytes - before]);
  expect(stats.peakRssBytes - before).toBeLessThan(RSS_BOUND_BYTES);
  expect(target.exitCode).toBeUndefined();
}

async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Lets the event loop turn (so a flood written in a loop does not only fill this process's buffers). */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A Range that takes `delayMs` and answers `bytes` of value. */
const slowRange = (delayMs: number, bytes: number): Buffer => rangeMessage({ key: Buffer.from('delay'), rangeEnd: Buffer.from(String(delayMs)), limit: BigInt(bytes) });

beforeAll(async () => {
  target = await AbuseTarget.start(TARGET_OPTIONS);
  await normalPut(); // warm up before the first baseline
}, 30_000);

afterEach(() => {
  clients.splice(0).forEach((client) => client.close());
});

afterAll(() => {
  target.stop();
  const largest = [...peaks].sort((a, b) => b[1] - a[1]).slice(0, 8);
  console.log(`largest rises of the server's peak RSS (bound ${RSS_BOUND_BYTES >> 20} MiB):\n${largest.map(([name, bytes]) => `  ${(bytes / 2 ** 20).toFixed(1).padStart(6)} MiB  ${name}`).join('\n')}`);
});

jest.setTimeout(60_000);

describe('HTTP/2 abuse: the attacks of issue 16', () => {
  it('Rapid Reset: streams opened and reset at once end the connection (ENHANCE_YOUR_CALM) after the reset budget', async () => {
    await underAttack(async () => {
      for (let round = 0; round < 3; round++) {
        const client = await attacker();
        let id = 1;
        while (!client.closed && id < 200_000) {
          client.send((out) => {
            for (let i = 0; i < 100; i++, id += 2) {
              out.frame(FrameType.HEADERS, Flag.END_HEADERS, id, client.encoder.encode(requestFields('/etcdserverpb.KV/Range')));
              out.frame(FrameType.DATA, Flag.END_STREAM, id, slowRange(50, 100));
              out.frameWith(FrameType.RST_STREAM, 0, id, 4, (b, at) => b.writeUInt32BE(H2Error.CANCEL, at));
            }
          });
          await turn();
        }
        await client.closedWithin(10_000);
        expect(client.goaway()).toMatchObject({ code: H2Error.ENHANCE_YOUR_CALM, reason: expect.stringMatching(/reset or refused/) });
        // The server gave up after the burst and what the rate refilled meanwhile (the client, behind, sent more).
        expect(client.goaway()?.lastStreamId).toBeLessThan(2 * 8000);
      }
    });
  });

  it('CONTINUATION flood: endless empty CONTINUATION frames end the connection after 8 (ENHANCE_YOUR_CALM)', async () => {
    await underAttack(async () => {
      const client = await attacker();
      client.send((out) => out.frame(FrameType.HEADERS, 0, 1, client.encoder.encode(requestFields())));
      for (let batch = 0; batch < 1000 && !client.closed; batch++) {
        client.send((out) => {
          for (let i = 0; i < 1000; i++) {
            out.frame(FrameType.CONTINUATION, 0, 1);
          }
        });
        await turn();
      }
      await client.closedWithin();
      expect(client.goaway()).toMatchObject({ code: H2Error.ENHANCE_YOUR_CALM, reason: expect.stringMatching(/over 8 CONTINUATION frames/) });
    });
  });

  it('CONTINUATION flood with bytes: a header block past twice the header list limit ends the connection', async () => {
    await underAttack(async () => {
      const client = await attacker();
      client.send((out) => {
        out.frame(FrameType.HEADERS, 0, 1, client.encoder.encode(requestFields()));
        for (let i = 0; i < 4; i++) {
          out.frame(FrameType.CONTINUATION, 0, 1, Buffer.alloc(DEFAULT_FRAME_BYTES, 0x40));
        }
      });
      await client.closedWithin();
      expect(client.goaway()).toMatchObject({ code: H2Error.ENHANCE_YOUR_CALM, reason: expect.stringMatching(/header block on stream 1 is over/) });
    });
  });

  it('200 Range requests never read: the server stops reading, then drops the connection it cannot write to', async () => {
    await underAttack(async () => {
      const client = await attacker({ settings: [[Setting.INITIAL_WINDOW_SIZE, 0x7fff_ffff]] });
      client.openConnectionWindow();
      client.pauseReading();
      let id = 1;
      for (let i = 0; i < 2000 && !client.closed; i++, id += 2) {
        if (!client.send((out) => {
          out.frame(FrameType.HEADERS, Flag.END_HEADERS, id, client.encoder.encode(requestFields('/etcdserverpb.KV/Range')));
          out.frame(FrameType.DATA, Flag.END_STREAM, id, slowRange(1, 256 * 1024));
        })) {
          await new Promise((resolve) => setTimeout(resolve, 10)); // our own buffers are full: the server has stopped reading
        }
        if (i % 20 === 0) {
          await turn();
        }
      }
      // The server takes none of our bytes and we none of its: after the keepalive timeout it cuts the connection.
      // (A client that does not read does not see the end either, until it reads again.)
      await waitFor(async () => (await target.stats()).connections.total === 0, 'the server to drop the connection', 15_000);
      client.resumeReading();
      await client.closedWithin(15_000);
    });
  });

  it('200 Range requests with a window of 0, then more: refused beyond the send buffer (REFUSED_STREAM), then ENHANCE_YOUR_CALM', async () => {
    await underAttack(async () => {
      const client = await attacker({ settings: [[Setting.INITIAL_WINDOW_SIZE, 0]] });
      let id = 1;
      for (; id < 2 * 5000 && !client.closed; id += 2) {
        client.send((out) => {
          out.frame(FrameType.HEADERS, Flag.END_HEADERS, id, client.encoder.encode(requestFields('/etcdserverpb.KV/Range')));
          out.frame(FrameType.DATA, Flag.END_STREAM, id, slowRange(1, 128 * 1024));
        });
        if (id === 399) {
          await new Promise((resolve) => setTimeout(resolve, 300)); // the first 200 answered and queued
        } else if (id % 40 === 1) {
          await turn();
        }
      }
      await client.closedWithin(10_000);
      expect(client.frames.some((f) => f.type === FrameType.RST_STREAM && f.payload.readUInt32BE(0) === H2Error.REFUSED_STREAM)).toBe(true);
      expect(client.goaway()?.code).toBe(H2Error.ENHANCE_YOUR_CALM);
    });
  });

  it('150 streams of 2 MiB request bodies past the window: FLOW_CONTROL_ERROR once the connection window is used', async () => {
    await underAttack(async () => {
      const client = await attacker();
      const prefix = Buffer.from([0, 0, 0x20, 0, 0]); // a 2 MiB message
      const chunk = Buffer.alloc(DEFAULT_FRAME_BYTES, 0x61);
      for (let id = 1; id < 300; id += 2) {
        client.request(id);
        client.data(id, prefix, false);
      }
      for (let round = 0; round < 128 && !client.closed; round++) {
        client.send((out) => {
          for (let id = 1; id < 300; id += 2) {
            out.frame(FrameType.DATA, 0, id, chunk);
          }
        });
        await turn();
      }
      await client.closedWithin();
      expect(client.goaway()).toMatchObject({ code: H2Error.FLOW_CONTROL_ERROR, reason: expect.stringMatching(/window/) });
    });
  });

  it('150 streams of 2 MiB request bodies within the windows: the server holds at most its connection window, then resets them (CANCEL)', async () => {
    await underAttack(async () => {
      const client = await attacker();
      const prefix = Buffer.from([0, 0, 0x20, 0, 0]);
      for (let id = 1; id < 300; id += 2) {
        client.request(id);
        client.data(id, prefix, false);
      }
      // Send as much as the server's windows allow: 16 MiB on the connection.
      let sent = 0;
      for (let id = 1; sent < 16 * 1024 * 1024 - 300 * 5 - 150 * 1024; id = id >= 299 ? 1 : id + 2) {
        client.data(id, Buffer.alloc(8 * 1024, 0x61), false);
        sent += 8 * 1024;
        if (id === 1) {
          await turn();
        }
      }
      await client.until((frames) => frames.filter((f) => f.type === FrameType.RST_STREAM).length === 150, 10_000);
      expect(new Set(client.frames.filter((f) => f.type === FrameType.RST_STREAM).map((f) => f.payload.readUInt32BE(0)))).toEqual(new Set([H2Error.CANCEL]));
      expect(client.closed).toBe(false);
    });
  });

  it('1,000 silent TCP connections: the next client still gets in, and the silent ones are closed (SETTINGS_TIMEOUT)', async () => {
    await underAttack(async () => {
      const before = (await target.stats()).connections;
      const sockets: net.Socket[] = [];
      const closed = new Set<net.Socket>();
      const timedOut = new Set<net.Socket>();
      for (let i = 0; i < 1050; i++) {
        // 105 from each of 10 addresses: over the per-address limit, and 1050 in all.
        const socket = net.connect({ port: target.port, host: '127.0.0.1', localAddress: `127.0.1.${10 + (i % 10)}` });
        const frames = new FrameCollector();
        socket.on('error', () => undefined);
        socket.on('data', (chunk: Buffer) => {
          frames.push(chunk);
          if (frames.frames.some((f) => f.type === FrameType.GOAWAY && f.payload.readUInt32BE(4) === H2Error.SETTINGS_TIMEOUT)) {
            timedOut.add(socket);
          }
        });
        socket.on('close', () => closed.add(socket));
        sockets.push(socket);
      }
      let most = 0;
      await waitFor(async () => {
        most = Math.max(most, (await target.stats()).connections.total);
        return closed.size === sockets.length;
      }, 'every silent connection to be closed', 30_000);
      expect(most).toBeLessThanOrEqual(1000);
      // Each silent connection was refused at accept, evicted for a newer one, or timed out with GOAWAY.
      const after = (await target.stats()).connections;
      expect(timedOut.size + (after.refused - before.refused) + (after.evicted - before.evicted)).toBe(sockets.length);
      expect(timedOut.size).toBeGreaterThan(0);
      await waitFor(async () => (await target.stats()).connections.total === 0, 'the slots to be free');
    });
  });

  it('a client that keeps its socket open after our GOAWAY (FIN-WAIT-2) loses it after the grace period', async () => {
    await underAttack(async () => {
      const socket = net.connect({ port: target.port, host: '127.0.0.1', localAddress: nextAddress(), allowHalfOpen: true });
      socket.on('error', () => undefined);
      socket.resume();
      const gotEnd = new Promise((resolve) => socket.once('end', resolve));
      socket.write(Buffer.concat([CONNECTION_PREFACE, Buffer.from([0, 0, 0, FrameType.SETTINGS, 0, 0, 0, 0, 0])]));
      await gotEnd; // idle timeout: GOAWAY and FIN; we do not close our side
      await waitFor(async () => (await target.stats()).connections.total === 0, 'the server to free the slot');
      socket.destroy();
    });
  });

  it('a connection whose one open stream makes no progress is closed (GOAWAY NO_ERROR)', async () => {
    await underAttack(async () => {
      const client = await attacker();
      client.request(1, '/keyval.raft.v1.RaftTransport/Messages');
      await client.closedWithin(10_000);
      expect(client.goaway()).toMatchObject({ code: H2Error.NO_ERROR, reason: expect.stringMatching(/no progress/) });
    });
  });

  it('PING flood, never read: GOAWAY ENHANCE_YOUR_CALM (too_many_pings), delivered rather than a reset', async () => {
    await underAttack(async () => {
      const client = await attacker();
      client.pauseReading();
      for (let i = 0; i < 200; i++) {
        client.send((out) => {
          for (let j = 0; j < 100; j++) {
            out.frame(FrameType.PING, 0, 0, Buffer.alloc(8, j));
          }
        });
      }
      // The server gives up on us, and we read only after it has closed: the GOAWAY is there to read.
      await waitFor(async () => (await target.stats()).connections.total === 0, 'the server to close the connection');
      client.resumeReading();
      await client.closedWithin(10_000);
      expect(client.goaway()).toMatchObject({ code: H2Error.ENHANCE_YOUR_CALM, reason: expect.stringMatching(/too_many_pings/) });
    });
  });

  it('SETTINGS flood, never read: GOAWAY ENHANCE_YOUR_CALM once too many acknowledgements wait, delivered rather than a reset', async () => {
    await underAttack(async () => {
      const client = await attacker();
      client.pauseReading();
      const flood = Buffer.alloc(9 * 4096);
      for (let at = 0; at < flood.length; at += 9) {
        flood[at + 3] = FrameType.SETTINGS;
      }
      // Until the kernel's buffers both ways are full and the server has given up.
      for (let i = 0; i < 2000 && client.socket.write(flood); i++) {
        await turn();
      }
      await waitFor(async () => (await target.stats()).connections.total === 0, 'the server to close the connection');
      client.resumeReading();
      await client.closedWithin(10_000);
      expect(client.goaway()).toMatchObject({ code: H2Error.ENHANCE_YOUR_CALM, reason: expect.stringMatching(/control frames/) });
    });
  });

  it.each(['597H', '99999999H', '2147484S', '35792M'])('grpc-timeout %s (over 2^31-1 ms) is clamped: the Put succeeds, no timer overflows', async (timeout) => {
    await underAttack(async () => {
      const client = await attacker();
      client.headers(1, requestFields('/etcdserverpb.KV/Put', ['grpc-timeout', timeout]));
      client.data(1, putMessage('k', 'v'));
      await client.until(ended(1));
      expect(client.lastField(1, 'grpc-status')).toBe('0');
    });
    expect(target.warnings.filter((w) => w.startsWith('TimeoutOverflowWarning'))).toEqual([]);
  });
});

/** A malformed request: the answer is RST_STREAM PROTOCOL_ERROR on its stream, and the connection goes on. */
const MALFORMED: readonly (readonly [string, readonly string[]])[] = [
  ['a connection-specific header (connection)', [...requestFields(), 'connection', 'keep-alive']],
  ['transfer-encoding', [...requestFields(), 'transfer-encoding', 'chunked']],
  ['upgrade', [...requestFields(), 'upgrade', 'h2c']],
  ['te other than trailers', [':method', 'POST', ':scheme', 'http', ':path', '/etcdserverpb.KV/Put', 'content-type', 'application/grpc', 'te', 'gzip']],
  ['CR in a value', [...requestFields(), 'x-a', 'a\rb']],
  ['LF in a value', [...requestFields(), 'x-a', 'a\nb']],
  ['NUL in a value', [...requestFields(), 'x-a', 'a\0b']],
  ['a value with a leading space', [...requestFields(), 'x-a', ' a']],
  ['an upper-case name', [...requestFields(), 'X-Upper', 'a']],
  ['a name with a space', [...requestFields(), 'x a', 'a']],
  ['an empty name', [...requestFields(), '', 'a']],
  ['no :path', [':method', 'POST', ':scheme', 'http', 'content-type', 'application/grpc']],
  ['an empty :path', [':method', 'POST', ':scheme', 'http', ':path', '', 'content-type', 'application/grpc']],
  ['no :scheme', [':method', 'POST', ':path', '/etcdserverpb.KV/Put', 'content-type', 'application/grpc']],
  ['no :method', [':scheme', 'http', ':path', '/etcdserverpb.KV/Put', 'content-type', 'application/grpc']],
  ['an unknown pseudo-header', [...requestFields().slice(0, 8), ':custom', 'x', ...requestFields().slice(8)]],
  ['a response pseudo-header (:status)', [':status', '200', ...requestFields()]],
  ['a repeated pseudo-header', [':method', 'POST', ...requestFields()]],
  ['a pseudo-header after a regular field', [...requestFields().slice(2), ':method', 'POST']],
  ['a content-length that is not a number', [...requestFields(), 'content-length', '1x']],
];

describe('HTTP/2 abuse: RFC 9113 §8 request checks (stream errors)', () => {
  it.each(MALFORMED)('%s: RST_STREAM PROTOCOL_ERROR', async (_name, fields) => {
    await underAttack(async () => {
      const client = await attacker();
      client.headers(1, fields);
      client.data(1, putMessage('k', 'v'));
      await client.until(ended(1));
      expect(client.rstCode(1)).toBe(H2Error.PROTOCOL_ERROR);
      client.call(3, putMessage('k', 'v'));
      await client.until(ended(3));
      expect(client.lastField(3, 'grpc-status')).toBe('0');
    });
  });

  it.each([
    ['more DATA than content-length', '3', putMessage('k', 'v')],
    ['less DATA than content-length', '100', putMessage('k', 'v')],
  ])('%s: RST_STREAM PROTOCOL_ERROR', async (_name, length, body) => {
    await underAttack(async () => {
      const client = await attacker();
      client.headers(1, [...requestFields(), 'content-length', length]);
      client.data(1, body);
      await client.until(ended(1));
      expect(client.rstCode(1)).toBe(H2Error.PROTOCOL_ERROR);
    });
  });

  it('a matching content-length is served', async () => {
    await underAttack(async () => {
      const client = await attacker();
      const body = putMessage('k', 'v');
      client.headers(1, [...requestFields(), 'content-length', String(body.length)]);
      client.data(1, body);
      await client.until(ended(1));
      expect(client.lastField(1, 'grpc-status')).toBe('0');
    });
  });

  it.each(['application/grpcfoo', 'application/json', 'application/grpc+'])('content-type %s: HTTP 415, trailers-only', async (type) => {
    await underAttack(async () => {
      const client = await attacker();
      client.headers(1, [':method', 'POST', ':scheme', 'http', ':path', '/etcdserverpb.KV/Put', 'content-type', type, 'te', 'trailers']);
      client.data(1, putMessage('k', 'v'));
      await client.until(ended(1));
      expect(client.lastField(1, ':status')).toBe('415');
      expect(client.lastField(1, 'grpc-status')).toBe('13');
    });
  });

  it('content-type application/grpc+proto is served', async () => {
    await underAttack(async () => {
      const client = await attacker();
      client.headers(1, [':method', 'POST', ':scheme', 'http', ':path', '/etcdserverpb.KV/Put', 'content-type', 'application/grpc+proto', 'te', 'trailers']);
      client.data(1, putMessage('k', 'v'));
      await client.until(ended(1));
      expect(client.lastField(1, 'grpc-status')).toBe('0');
    });
  });

  it.each([
    ['trailers with a pseudo-header', [':path', '/x'], true, H2Error.PROTOCOL_ERROR],
    ['trailers without END_STREAM', ['x-t', 'a'], false, H2Error.PROTOCOL_ERROR],
  ] as const)('%s: RST_STREAM PROTOCOL_ERROR', async (_name, trailers, endStream, code) => {
    await underAttack(async () => {
      const client = await attacker();
      client.request(1);
      client.data(1, putMessage('k', 'v'), false);
      client.headers(1, trailers, endStream);
      await client.until(ended(1));
      expect(client.rstCode(1)).toBe(code);
    });
  });

  it('trailers that end the request are accepted', async () => {
    await underAttack(async () => {
      const client = await attacker();
      client.request(1);
      client.data(1, putMessage('k', 'v'), false);
      client.headers(1, ['x-t', 'a'], true);
      await client.until(ended(1));
      expect(client.lastField(1, 'grpc-status')).toBe('0');
    });
  });
});

/** A frame that breaks the protocol: the answer is RST_STREAM (stream error) or GOAWAY (connection error) with the code. */
type Violation = readonly [name: string, act: (client: RawH2Client) => void, answer: 'rst' | 'goaway', code: H2Error];

const open1 = (client: RawH2Client): void => client.request(1, '/keyval.raft.v1.RaftTransport/Messages');
const VIOLATIONS: readonly Violation[] = [
  // §5.1, §5.1.1: stream states and identifiers
  ['HEADERS with a decreasing stream id', (c) => (c.call(5, putMessage('k', 'v')), c.call(3, putMessage('k', 'v'))), 'goaway', H2Error.PROTOCOL_ERROR],
  ['HEADERS with an even stream id', (c) => c.request(2), 'goaway', H2Error.PROTOCOL_ERROR],
  ['DATA on an idle stream', (c) => c.data(7, Buffer.alloc(1)), 'goaway', H2Error.PROTOCOL_ERROR],
  ['RST_STREAM on an idle stream', (c) => c.rst(7), 'goaway', H2Error.PROTOCOL_ERROR],
  ['WINDOW_UPDATE on an idle stream', (c) => c.windowUpdate(7, 1), 'goaway', H2Error.PROTOCOL_ERROR],
  // (a handler that takes its time keeps the stream half-closed, not closed, while the frame arrives)
  ['DATA after END_STREAM (half-closed remote)', (c) => (c.call(1, putMessage('stubborn', '500')), c.data(1, Buffer.alloc(1))), 'rst', H2Error.STREAM_CLOSED],
  ['HEADERS after END_STREAM (half-closed remote)', (c) => (c.call(1, putMessage('stubborn', '500')), c.headers(1, ['x-t', 'a'], true)), 'rst', H2Error.STREAM_CLOSED],
  // §5.3.1: a stream cannot depend on itself
  ['PRIORITY depending on its own stream', (c) => (open1(c), c.send((out) => out.frameWith(FrameType.PRIORITY, 0, 1, 5, (b, at) => (b.writeUInt32BE(1, at), (b[at + 4] = 16))))), 'rst', H2Error.PROTOCOL_ERROR],
  [
    'HEADERS with a priority on its own stream',
    (c) => {
      const block = c.encoder.encode(requestFields());
      c.send((out) => out.frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.PRIORITY, 1, Buffer.concat([Buffer.from([0, 0, 0, 1, 16]), block])));
    },
    'rst',
    H2Error.PROTOCOL_ERROR,
  ],
  // §4.2, §6: frame sizes and fields
  ['a frame over SETTINGS_MAX_FRAME_SIZE', (c) => c.send((out) => out.frame(FrameType.PING, 0, 0, Buffer.alloc(DEFAULT_FRAME_BYTES + 1))), 'goaway', H2Error.FRAME_SIZE_ERROR],
  ['HEADERS on stream 0', (c) => c.headers(0), 'goaway', H2Error.PROTOCOL_ERROR],
  ['DATA on stream 0', (c) => c.data(0, Buffer.alloc(1)), 'goaway', H2Error.PROTOCOL_ERROR],
  ['DATA padding longer than the frame', (c) => (open1(c), c.send((out) => out.frame(FrameType.DATA, Flag.PADDED, 1, Buffer.from([5, 1, 2])))), 'goaway', H2Error.PROTOCOL_ERROR],
  ['HEADERS padding longer than the frame', (c) => c.send((out) => out.frame(FrameType.HEADERS, Flag.PADDED | Flag.END_HEADERS, 1, Buffer.from([9, 0x82]))), 'goaway', H2Error.PROTOCOL_ERROR],
  ['PRIORITY of 4 bytes', (c) => (open1(c), c.send((out) => out.frame(FrameType.PRIORITY, 0, 1, Buffer.alloc(4)))), 'rst', H2Error.FRAME_SIZE_ERROR],
  ['PRIORITY on stream 0', (c) => c.send((out) => out.frame(FrameType.PRIORITY, 0, 0, Buffer.alloc(5))), 'goaway', H2Error.PROTOCOL_ERROR],
  ['RST_STREAM of 3 bytes', (c) => (open1(c), c.send((out) => out.frame(FrameType.RST_STREAM, 0, 1, Buffer.alloc(3)))), 'goaway', H2Error.FRAME_SIZE_ERROR],
  ['RST_STREAM on stream 0', (c) => c.send((out) => out.frame(FrameType.RST_STREAM, 0, 0, Buffer.alloc(4))), 'goaway', H2Error.PROTOCOL_ERROR],
  ['SETTINGS on a stream', (c) => c.send((out) => out.frame(FrameType.SETTINGS, 0, 1, Buffer.alloc(0))), 'goaway', H2Error.PROTOCOL_ERROR],
  ['SETTINGS of 5 bytes', (c) => c.send((out) => out.frame(FrameType.SETTINGS, 0, 0, Buffer.alloc(5))), 'goaway', H2Error.FRAME_SIZE_ERROR],
  ['SETTINGS ACK with a payload', (c) => c.send((out) => out.frame(FrameType.SETTINGS, Flag.END_STREAM, 0, Buffer.alloc(6))), 'goaway', H2Error.FRAME_SIZE_ERROR],
  ['SETTINGS_ENABLE_PUSH of 2', (c) => c.send((out) => out.frameWith(FrameType.SETTINGS, 0, 0, 6, (b, at) => (b.writeUInt16BE(Setting.ENABLE_PUSH, at), b.writeUInt32BE(2, at + 2)))), 'goaway', H2Error.PROTOCOL_ERROR],
  ['SETTINGS_INITIAL_WINDOW_SIZE over 2^31-1', (c) => c.send((out) => out.frameWith(FrameType.SETTINGS, 0, 0, 6, (b, at) => (b.writeUInt16BE(Setting.INITIAL_WINDOW_SIZE, at), b.writeUInt32BE(0x8000_0000, at + 2)))), 'goaway', H2Error.FLOW_CONTROL_ERROR],
  ['SETTINGS_MAX_FRAME_SIZE under 16384', (c) => c.send((out) => out.frameWith(FrameType.SETTINGS, 0, 0, 6, (b, at) => (b.writeUInt16BE(Setting.MAX_FRAME_SIZE, at), b.writeUInt32BE(100, at + 2)))), 'goaway', H2Error.PROTOCOL_ERROR],
  ['PING of 7 bytes', (c) => c.send((out) => out.frame(FrameType.PING, 0, 0, Buffer.alloc(7))), 'goaway', H2Error.FRAME_SIZE_ERROR],
  ['PING on a stream', (c) => c.send((out) => out.frame(FrameType.PING, 0, 1, Buffer.alloc(8))), 'goaway', H2Error.PROTOCOL_ERROR],
  ['GOAWAY on a stream', (c) => c.send((out) => out.frame(FrameType.GOAWAY, 0, 1, Buffer.alloc(8))), 'goaway', H2Error.PROTOCOL_ERROR],
  ['WINDOW_UPDATE of 3 bytes', (c) => c.send((out) => out.frame(FrameType.WINDOW_UPDATE, 0, 0, Buffer.alloc(3))), 'goaway', H2Error.FRAME_SIZE_ERROR],
  ['WINDOW_UPDATE of 0 on a stream', (c) => (open1(c), c.windowUpdate(1, 0)), 'rst', H2Error.PROTOCOL_ERROR],
  ['WINDOW_UPDATE of 0 on the connection', (c) => c.windowUpdate(0, 0), 'goaway', H2Error.PROTOCOL_ERROR],
  ['a stream window past 2^31-1', (c) => (open1(c), c.windowUpdate(1, 0x7fff_ffff)), 'rst', H2Error.FLOW_CONTROL_ERROR],
  ['the connection window past 2^31-1', (c) => c.windowUpdate(0, 0x7fff_ffff), 'goaway', H2Error.FLOW_CONTROL_ERROR],
  ['PUSH_PROMISE from a client', (c) => c.send((out) => out.frame(FrameType.PUSH_PROMISE, Flag.END_HEADERS, 1, Buffer.alloc(4))), 'goaway', H2Error.PROTOCOL_ERROR],
  ['CONTINUATION without HEADERS', (c) => c.send((out) => out.frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, Buffer.alloc(1))), 'goaway', H2Error.PROTOCOL_ERROR],
  ['a header block interrupted by another frame', (c) => c.send((out) => (out.frame(FrameType.HEADERS, 0, 1, c.encoder.encode(requestFields())), out.frame(FrameType.PING, 0, 0, Buffer.alloc(8)))), 'goaway', H2Error.PROTOCOL_ERROR],
  ['CONTINUATION on another stream', (c) => c.send((out) => (out.frame(FrameType.HEADERS, 0, 1, c.encoder.encode(requestFields())), out.frame(FrameType.CONTINUATION, Flag.END_HEADERS, 3))), 'goaway', H2Error.PROTOCOL_ERROR],
  // RFC 7541: malformed header blocks are connection errors of type COMPRESSION_ERROR
  ['HPACK: indexed field 0', (c) => hpack(c, [0x80]), 'goaway', H2Error.COMPRESSION_ERROR],
  ['HPACK: index beyond the tables', (c) => hpack(c, [0xff, 0x80, 0x01]), 'goaway', H2Error.COMPRESSION_ERROR],
  ['HPACK: an integer over 2^31-1', (c) => hpack(c, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]), 'goaway', H2Error.COMPRESSION_ERROR],
  ['HPACK: a truncated string', (c) => hpack(c, [0x40, 0x05, 0x61]), 'goaway', H2Error.COMPRESSION_ERROR],
  ['HPACK: Huffman padding that is not all ones', (c) => hpack(c, [0x40, 0x81, 0x00, 0x01, 0x61]), 'goaway', H2Error.COMPRESSION_ERROR],
  ['HPACK: Huffman EOS in a string', (c) => hpack(c, [0x40, 0x84, 0xff, 0xff, 0xff, 0xff, 0x01, 0x61]), 'goaway', H2Error.COMPRESSION_ERROR],
  ['HPACK: a table size update over the setting', (c) => hpack(c, [0x3f, 0xe2, 0x1f]), 'goaway', H2Error.COMPRESSION_ERROR],
  ['HPACK: a table size update after a field', (c) => hpack(c, [0x82, 0x20]), 'goaway', H2Error.COMPRESSION_ERROR],
];

function hpack(client: RawH2Client, block: readonly number[]): void {
  client.send((out) => out.frame(FrameType.HEADERS, Flag.END_HEADERS, 1, Buffer.from(block)));
}

describe('HTTP/2 abuse: RFC 9113 §4-§6 and RFC 7541 violations', () => {
  it('DATA past a stream window (a request stream paused because its handler does not read): RST_STREAM FLOW_CONTROL_ERROR', async () => {
    await underAttack(async () => {
      const client = await attacker();
      client.request(1, '/keyval.raft.v1.RaftTransport/Messages');
      // The handler stops reading at the first batch (cluster id 9): 32 more wait, then the stream is paused.
      const batch = frameBytes(raftpb.MessageBatch.encode(raftpb.MessageBatch.fromPartial({ clusterId: 9n, sequence: 1n })).finish());
      client.data(1, Buffer.concat(Array.from({ length: 64 }, () => batch)), false);
      client.data(1, Buffer.alloc(1024 * 1024 + 1024), false);
      await client.until((frames) => frames.some((f) => f.type === FrameType.RST_STREAM && f.streamId === 1));
      expect(client.rstCode(1)).toBe(H2Error.FLOW_CONTROL_ERROR);
      expect(client.goaway()).toBeUndefined();
    });
  });

  it.each(VIOLATIONS)('%s', async (_name, act, answer, code) => {
    await underAttack(async () => {
      const client = await attacker();
      await client.until((frames) => frames.some((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.END_STREAM) !== 0));
      act(client);
      if (answer === 'goaway') {
        await client.closedWithin();
        expect(client.goaway()?.code).toBe(code);
      } else {
        await client.until((frames) => frames.some((f) => f.type === FrameType.RST_STREAM && f.payload.readUInt32BE(0) === code));
        expect(client.goaway()).toBeUndefined();
      }
    });
  });
});
