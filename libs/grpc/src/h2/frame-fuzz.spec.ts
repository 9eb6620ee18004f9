/**
 * A property-based frame fuzzer (fast-check) against the HTTP/2 server: random sequences of
 * frames — well-formed calls, plausible control frames and raw frames of any type, flags,
 * stream and payload — cut into random chunks. Whatever arrives, the connection must either
 * end with a GOAWAY (read before the close) or keep serving (our PING is answered and a fresh
 * call succeeds or is refused cleanly); the process must not crash; what the connection holds
 * stays within its limits; and once the client goes, nothing is left behind (no connection,
 * no call, no admitted slot).
 *
 * It runs for a bounded time in the default suite (FUZZ_TIME_MS, default 20 s; FUZZ_SEED
 * replays a failure as fast-check prints it).
 */
import fc from 'fast-check';
import type { GrpcServerOptions } from '../server';
import { putMessage, RawH2Client, requestFields } from '../testing/h2-frames';
import { startTestServer, type TestServer } from '../testing/test-services';
import { Flag, FrameType, FrameWriter, H2Error, Setting } from './frame';

const FUZZ_TIME_MS = Number(process.env['FUZZ_TIME_MS'] ?? 20_000);
const LIMITS: GrpcServerOptions = {
  maxConcurrentStreams: 8,
  maxHeaderListBytes: 2048,
  connectionWindowBytes: 256 * 1024,
  streamWindowBytes: 65_535,
  connectionSendBufferBytes: 256 * 1024,
  resetBurst: 50,
  keepaliveMinTimeMs: 0,
};

/** One step of the fuzzer, as data (so that a counterexample prints readably). */
type Step =
  | { readonly kind: 'headers'; readonly streamId: number; readonly endStream: boolean; readonly endHeaders: boolean; readonly path: string; readonly extra: readonly (readonly [string, string])[] }
  | { readonly kind: 'data'; readonly streamId: number; readonly endStream: boolean; readonly body: 'put' | 'prefix' | 'raw'; readonly raw: readonly number[] }
  | { readonly kind: 'settings'; readonly id: number; readonly value: number }
  | { readonly kind: 'ping'; readonly raw: readonly number[] }
  | { readonly kind: 'window'; readonly streamId: number; readonly increment: number }
  | { readonly kind: 'rst'; readonly streamId: number; readonly code: number }
  | { readonly kind: 'priority'; readonly streamId: number; readonly dependsOn: number }
  | { readonly kind: 'continuation'; readonly streamId: number; readonly endHeaders: boolean; readonly raw: readonly number[] }
  | { readonly kind: 'raw'; readonly type: number; readonly flags: number; readonly streamId: number; readonly raw: readonly number[] };

/** Stream ids as steps name them: NEXT opens a new stream (ids rise, as they must), LAST is the last opened. */
const NEXT = -1;
const LAST = -2;
// Mostly ids a client may use (HEADERS opening the next stream, other frames on the last one),
// so that runs get past the first error often enough; sometimes any id at all.
const someIds = fc.oneof(fc.constantFrom(1, 3, 5, 7, 9, 11, 13), fc.constantFrom(0, 2, 4, 0x7fff_ffff), fc.integer({ min: 0, max: 0x7fff_ffff }));
const openingIds = fc.oneof({ weight: 10, arbitrary: fc.constant(NEXT) }, { weight: 1, arbitrary: fc.constant(LAST) }, { weight: 2, arbitrary: someIds });
const streamIds = fc.oneof({ weight: 10, arbitrary: fc.constant(LAST) }, { weight: 1, arbitrary: fc.constant(NEXT) }, { weight: 2, arbitrary: someIds });
const mostly = (value: boolean): fc.Arbitrary<boolean> => fc.oneof({ weight: 6, arbitrary: fc.constant(value) }, { weight: 1, arbitrary: fc.constant(!value) });
const bytes = fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 48 });
const settingIds = fc.constantFrom(...Object.values(Setting).filter((v): v is number => typeof v === 'number'), 0x99);

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('headers' as const), streamId: openingIds, endStream: fc.boolean(), endHeaders: mostly(true), path: fc.constantFrom('/etcdserverpb.KV/Put', '/etcdserverpb.KV/Range', '/keyval.raft.v1.RaftTransport/Messages', '/nope/Nope'), extra: fc.oneof({ weight: 3, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: fc.array(fc.tuple(fc.constantFrom('x-a', 'te', 'connection', 'content-length', ':path', 'X-Up', 'grpc-timeout'), fc.constantFrom('1', 'trailers', 'gzip', 'a\nb', '597H', '')), { maxLength: 2 }) }) }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('data' as const), streamId: streamIds, endStream: fc.boolean(), body: fc.constantFrom('put' as const, 'prefix' as const, 'raw' as const), raw: bytes }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('settings' as const), id: settingIds, value: fc.oneof(fc.integer({ min: 0, max: 70_000 }), fc.integer({ min: 0, max: 0xffff_ffff })) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('ping' as const), raw: bytes }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('window' as const), streamId: streamIds, increment: fc.integer({ min: 0, max: 0x7fff_ffff }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('rst' as const), streamId: streamIds, code: fc.integer({ min: 0, max: 15 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('priority' as const), streamId: streamIds, dependsOn: streamIds }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('continuation' as const), streamId: streamIds, endHeaders: fc.boolean(), raw: bytes }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('raw' as const), type: fc.integer({ min: 0, max: 15 }), flags: fc.integer({ min: 0, max: 255 }), streamId: streamIds, raw: bytes }) },
);

const opening: fc.Arbitrary<Step> = fc.record({
  kind: fc.constant('headers' as const),
  streamId: fc.constant(NEXT),
  endStream: fc.constant(false),
  endHeaders: fc.constant(true),
  path: fc.constantFrom('/etcdserverpb.KV/Put', '/keyval.raft.v1.RaftTransport/Messages'),
  extra: fc.constant([]),
});

const scenario = fc.record({
  // Most scenarios start with a well-formed call's headers, so that stream frames have a stream.
  steps: fc.tuple(fc.option(opening, { freq: 5, nil: undefined }), fc.array(step, { minLength: 1, maxLength: 24 })).map(([first, rest]) => (first === undefined ? rest : [first, ...rest])),
  cuts: fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 8 }),
});

/** The stream ids a scenario has used, to resolve NEXT and LAST. */
interface Ids {
  /** The highest client stream id a HEADERS frame opened (NEXT follows it). */
  last: number;
  /** The highest client (odd) stream id any frame named: a fresh call must go above it. */
  touched: number;
}

function resolve(ids: Ids, streamId: number): number {
  if (streamId === NEXT) {
    ids.last = ids.last < 0x7fff_fffb ? ids.last + 2 : ids.last;
    return ids.last;
  }
  return streamId === LAST ? Math.max(1, ids.last) : streamId;
}

function writeStep(out: FrameWriter, client: RawH2Client, ids: Ids, raw: Step): void {
  const s = 'streamId' in raw ? { ...raw, streamId: resolve(ids, raw.streamId) } : raw;
  if (s.kind === 'headers' && s.streamId % 2 === 1) {
    ids.last = Math.max(ids.last, s.streamId);
  }
  if ('streamId' in s && s.streamId % 2 === 1) {
    // Any frame on an idle stream can close it (a malformed PRIORITY resets it with FRAME_SIZE_ERROR).
    ids.touched = Math.max(ids.touched, s.streamId);
  }
  switch (s.kind) {
    case 'headers':
      out.frame(FrameType.HEADERS, (s.endStream ? Flag.END_STREAM : 0) | (s.endHeaders ? Flag.END_HEADERS : 0), s.streamId, client.encoder.encode(requestFields(s.path, s.extra.flat())));
      break;
    case 'data':
      out.frame(FrameType.DATA, s.endStream ? Flag.END_STREAM : 0, s.streamId, s.body === 'put' ? putMessage('k', 'v') : s.body === 'prefix' ? Buffer.from([0, 0, 0x01, 0, 0]) : Buffer.from(s.raw));
      break;
    case 'settings':
      out.frameWith(FrameType.SETTINGS, 0, 0, 6, (b, at) => (b.writeUInt16BE(s.id, at), b.writeUInt32BE(s.value >>> 0, at + 2)));
      break;
    case 'ping':
      out.frame(FrameType.PING, 0, 0, Buffer.concat([Buffer.from(s.raw), Buffer.alloc(8)]).subarray(0, 8));
      break;
    case 'window':
      out.frameWith(FrameType.WINDOW_UPDATE, 0, s.streamId, 4, (b, at) => b.writeUInt32BE(s.increment, at));
      break;
    case 'rst':
      out.frameWith(FrameType.RST_STREAM, 0, s.streamId, 4, (b, at) => b.writeUInt32BE(s.code, at));
      break;
    case 'priority':
      out.frameWith(FrameType.PRIORITY, 0, s.streamId, 5, (b, at) => (b.writeUInt32BE(Math.max(0, s.dependsOn), at), (b[at + 4] = 15)));
      break;
    case 'continuation':
      out.frame(FrameType.CONTINUATION, s.endHeaders ? Flag.END_HEADERS : 0, s.streamId, Buffer.from(s.raw));
      break;
    case 'raw':
      out.frame(s.type, s.flags, s.streamId, Buffer.from(s.raw));
      break;
  }
}

/** The wire bytes of `steps`, encoded in order with the client's HPACK state, and the highest client stream id they name. */
function encode(steps: readonly Step[], client: RawH2Client): { bytes: Buffer; lastId: number } {
  const chunks: Buffer[] = [];
  const out = new FrameWriter();
  const ids: Ids = { last: -1, touched: -1 };
  for (const s of steps) {
    writeStep(out, client, ids, s);
  }
  out.flush({ write: (chunk: Buffer) => chunks.push(Buffer.from(chunk)) });
  return { bytes: Buffer.concat(chunks), lastId: Math.max(ids.last, ids.touched) };
}

/** Writes `bytes` in pieces of the sizes in `cuts` (cycled), each on its own turn. */
async function writeInPieces(client: RawH2Client, bytes: Buffer, cuts: readonly number[]): Promise<void> {
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const size = cuts[i % cuts.length] as number;
    client.socket.write(bytes.subarray(at, at + size));
    at += size;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('HTTP/2 frame fuzzer', () => {
  let test: TestServer;
  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown): void => {
    uncaught.push(error);
  };

  beforeAll(async () => {
    test = await startTestServer(LIMITS);
    process.on('uncaughtException', onUncaught);
  });

  afterAll(async () => {
    process.off('uncaughtException', onUncaught);
    await test.server.shutdown(500);
  });

  it(`ends every connection with a GOAWAY or keeps serving it, and leaves nothing behind (${FUZZ_TIME_MS} ms)`, async () => {
    const seed = process.env['FUZZ_SEED'] === undefined ? undefined : Number(process.env['FUZZ_SEED']);
    const outcomes = { goaway: 0, serving: 0 };
    await fc.assert(
      fc.asyncProperty(scenario, async ({ steps, cuts }) => {
        const client = await RawH2Client.connect(test.port);
        try {
          // The client acknowledges the server's SETTINGS by itself: let that happen before the pieces, not inside one.
          await client.until((frames) => frames.some((f) => f.type === FrameType.SETTINGS && f.flags === 0));
          const { bytes, lastId } = encode(steps, client);
          await writeInPieces(client, bytes, cuts);
          const probe = Buffer.from('fuzzprob');
          client.send((out) => out.frame(FrameType.PING, 0, 0, probe));
          await waitFor(() => client.closed || client.frames.some((f) => f.type === FrameType.PING && (f.flags & Flag.END_STREAM) !== 0 && f.payload.equals(probe)), 'the PING answer or the end');
          if (client.closed) {
            expect(client.goaway()).toBeDefined();
            outcomes.goaway += 1;
          } else {
            const stats = test.server.connectionStats();
            for (const connection of stats) {
              expect(connection.streams + connection.busyClosed).toBeLessThanOrEqual(LIMITS.maxConcurrentStreams as number);
              expect(connection.receiveWindowLeft).toBeGreaterThanOrEqual(0);
              expect(connection.receiveWindowLeft).toBeLessThanOrEqual(LIMITS.connectionWindowBytes as number);
              expect(connection.queuedSendBytes).toBeLessThanOrEqual(4 * 1024 * 1024);
            }
            const id = Math.max(1, lastId + 2) > 0x7fff_ffff ? undefined : Math.max(1, lastId + 2); // undefined: no id left
            if (id !== undefined) {
              await freshCall(client, id);
            }
            outcomes.serving += 1;
          }
        } finally {
          client.close();
        }
        // Nothing left behind: no connection, no call, no slot.
        await waitFor(() => test.server.connectionCounts.total === 0 && test.server.activeCalls === 0, 'the server to let go of the connection');
        expect(uncaught).toEqual([]);
      }),
      { interruptAfterTimeLimit: FUZZ_TIME_MS, numRuns: 1_000_000, seed, markInterruptAsFailure: false },
    );
    console.log(`frame fuzzer: ${outcomes.goaway + outcomes.serving} runs, ${outcomes.goaway} ended with GOAWAY, ${outcomes.serving} still serving`);
    // Both outcomes occur: the fuzzer reaches past the first error as well as into it.
    expect(outcomes.goaway).toBeGreaterThan(0);
    expect(outcomes.serving).toBeGreaterThan(0);
  }, FUZZ_TIME_MS + 60_000);
});

/** A fresh call above every id the fuzzer used: answered, refused with REFUSED_STREAM, or the connection ends with GOAWAY. */
async function freshCall(client: RawH2Client, id: number): Promise<void> {
  client.call(id, putMessage('after', 'fuzz'));
  // Its response headers at least (the fuzzer may have set our window to 0, holding the body).
  await waitFor(() => client.closed || client.frames.some((f) => f.streamId === id && (f.type === FrameType.RST_STREAM || f.type === FrameType.HEADERS)), 'the fresh call to be answered');
  if (client.closed) {
    expect(client.goaway()).toBeDefined();
  } else if (client.rstCode(id) !== undefined) {
    expect(client.rstCode(id)).toBe(H2Error.REFUSED_STREAM);
  } else {
    expect(client.headersOf(id)[0]).toEqual(expect.arrayContaining([':status', '200']));
  }
}
