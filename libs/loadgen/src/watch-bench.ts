/**
 * `npm run bench:watch`: watch fan-out. Starts a 3-member cluster on loopback (KeyVal, or
 * etcd with --target etcd|both), opens `--watchers` watchers (default 1,000) on one prefix,
 * spread over `--streams` watch streams (default 10) on the three members in turn, then puts
 * to that prefix at `--rate` writes/s (default 5,000) for `--duration` seconds (default 20)
 * from `--writers` concurrent clients on the leader (`--watch-on leader|followers` puts the
 * watch streams on those members only), and prints:
 * - writes/s achieved, and events delivered per second (all watchers together);
 * - the delay from a put being sent to its event reaching a watcher (p50, p99, max), measured
 *   on one watcher of each stream (each put carries its send time);
 * - events still missing 10 s after the last put (0 means every watcher got every event).
 *
 * The watch side only counts most events (a light walk over the response bytes), so the
 * benchmark process itself keeps up. Options: --target keyval|etcd|both, --watchers N,
 * --streams N, --rate N, --duration S, --writers N, --value-bytes N (at least 8),
 * --watch-on all|leader|followers.
 */
import * as os from 'node:os';
import { GrpcChannel, bidiStreamingCall, createClient, installLeanAsyncResourceBind } from '@keyval/grpc';
import type { MessageCodec, MethodDefinition } from '@keyval/grpc';
import { BinaryReader, BinaryWriter, etcd, mvcc } from '@keyval/proto';
import { targetsOf, wholeNumber } from './bench-args';
import { findLeader, startCluster } from './bench-cluster';
import { LatencyRecorder } from './latency';

interface WatchBenchArgs {
  targets: ('keyval' | 'etcd')[];
  watchers: number;
  streams: number;
  rate: number;
  durationMs: number;
  writers: number;
  valueBytes: number;
  watchOn: 'all' | 'leader' | 'followers';
}

function parseArgs(argv: readonly string[]): WatchBenchArgs {
  const args: WatchBenchArgs = { targets: ['keyval'], watchers: 1000, streams: 10, rate: 5000, durationMs: 20_000, writers: 64, valueBytes: 64, watchOn: 'all' };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[++i];
    switch (flag) {
      case '--target':
        args.targets = targetsOf(value);
        break;
      case '--watchers':
        args.watchers = wholeNumber(flag, value, 1);
        break;
      case '--streams':
        args.streams = wholeNumber(flag, value, 1);
        break;
      case '--rate':
        args.rate = wholeNumber(flag, value, 1);
        break;
      case '--duration':
        args.durationMs = wholeNumber(flag, value, 1) * 1000;
        break;
      case '--writers':
        args.writers = wholeNumber(flag, value, 1);
        break;
      case '--value-bytes':
        args.valueBytes = wholeNumber(flag, value, 8);
        break;
      case '--watch-on':
        if (value !== 'all' && value !== 'leader' && value !== 'followers') throw new Error(`--watch-on takes all, leader or followers, not ${JSON.stringify(value)}`);
        args.watchOn = value;
        break;
      default:
        throw new Error(`unknown flag ${String(flag)} (flags: --target keyval|etcd|both --watchers N --streams N --rate N --duration S --writers N --value-bytes N --watch-on all|leader|followers)`);
    }
  }
  return args;
}

/** Watch responses left as bytes: the benchmark walks them itself. */
const RAW: MessageCodec<Buffer> = {
  encode: (message: Buffer, writer: BinaryWriter = new BinaryWriter()) => writer.raw(message),
  decode: (input: Uint8Array) => Buffer.from(input.buffer, input.byteOffset, input.byteLength),
};
const WATCH: MethodDefinition<etcd.WatchRequest, Buffer, true, true> = { name: 'Watch', requestType: etcd.WatchRequest, responseType: RAW, requestStream: true, responseStream: true };
const WATCH_PATH = '/etcdserverpb.Watch/Watch';

/** Events of a WatchResponse, and its watch id, without decoding them. */
function scanResponse(bytes: Buffer): { watchId: bigint; created: boolean; events: Uint8Array[] } {
  const reader = new BinaryReader(bytes);
  let watchId = 0n;
  let created = false;
  const events: Uint8Array[] = [];
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    const field = tag >>> 3;
    if (field === 2) {
      watchId = BigInt(reader.int64().toString());
    } else if (field === 3) {
      created = reader.bool();
    } else if (field === 11) {
      events.push(reader.bytes());
    } else {
      reader.skip(tag & 7);
    }
  }
  return { watchId, created, events };
}

const PREFIX = Buffer.from('fan/');
const PREFIX_END = Buffer.from('fan0');

async function runTarget(target: 'keyval' | 'etcd', args: WatchBenchArgs): Promise<void> {
  const cluster = await startCluster(target);
  const channels: GrpcChannel[] = [];
  try {
    const leader = await findLeader(cluster.endpoints);
    const delays = new LatencyRecorder();
    let delivered = 0;
    const origin = performance.timeOrigin;
    // Watch streams, round-robin over the members chosen; the first watcher of each is sampled.
    const members = args.watchOn === 'all' ? cluster.endpoints : args.watchOn === 'leader' ? [leader] : cluster.endpoints.filter((e) => e !== leader);
    const streams = Array.from({ length: args.streams }, (_, s) => {
      const endpoint = members[s % members.length] as string;
      const channel = new GrpcChannel(endpoint, { maxReceiveMessageBytes: 64 << 20 });
      channels.push(channel);
      return bidiStreamingCall(channel, WATCH_PATH, WATCH, {});
    });
    const created = new Set<string>();
    const reading = streams.map(async (call, s) => {
      let sampled: bigint | undefined;
      for await (const response of call.responses) {
        const { watchId, created: isCreated, events } = scanResponse(response);
        if (isCreated) {
          created.add(`${s}/${watchId}`);
          sampled ??= watchId;
          continue;
        }
        delivered += events.length;
        if (watchId === sampled) {
          const now = origin + performance.now();
          for (const event of events) {
            const value = mvcc.Event.decode(event).kv?.value;
            if (value !== undefined && value.length >= 8) delays.record(now - value.readDoubleLE(0));
          }
        }
      }
    });
    for (let w = 0; w < args.watchers; w++) {
      const call = streams[w % streams.length];
      await call?.send({ requestUnion: { $case: 'createRequest', value: etcd.WatchCreateRequest.fromPartial({ key: PREFIX, rangeEnd: PREFIX_END }) } });
    }
    while (created.size < args.watchers) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // Writers, paced to the rate together.
    const writerChannel = new GrpcChannel(leader);
    channels.push(writerChannel);
    const kv = createClient(etcd.KVDefinition, writerChannel);
    const started = performance.now();
    const interval = 1000 / args.rate;
    let next = 0;
    let writes = 0;
    const deadline = started + args.durationMs;
    await Promise.all(
      Array.from({ length: args.writers }, async (_, w) => {
        for (;;) {
          const slot = started + next * interval;
          next++;
          if (slot >= deadline) return;
          const wait = slot - performance.now();
          if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
          const value = Buffer.alloc(args.valueBytes);
          value.writeDoubleLE(origin + performance.now(), 0);
          await kv.put({ key: Buffer.from(`fan/${w}`), value, lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false }, { timeoutMs: 10_000 });
          writes++;
        }
      }),
    );
    const writeSeconds = (performance.now() - started) / 1000;
    const expected = writes * args.watchers;
    const drainDeadline = performance.now() + 10_000;
    while (delivered < expected && performance.now() < drainDeadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const seconds = (performance.now() - started) / 1000;
    const f = (n: number): string => n.toFixed(1);
    process.stdout.write(
      `${target.padEnd(6)} ${args.watchers} watchers / ${args.streams} streams: ${Math.round(writes / writeSeconds)} writes/s, ${Math.round(delivered / seconds)} events/s delivered; ` +
        `delay p50 ${f(delays.quantile(0.5))} ms, p99 ${f(delays.quantile(0.99))} ms, max ${f(delays.quantile(1))} ms; missing after 10 s: ${expected - delivered} of ${expected}\n`,
    );
    streams.forEach((call) => call.cancel());
    await Promise.allSettled(reading);
  } finally {
    channels.forEach((channel) => channel.close());
    await cluster.stop();
  }
}

async function main(): Promise<void> {
  installLeanAsyncResourceBind();
  const args = parseArgs(process.argv.slice(2));
  process.stdout.write(`watch fan-out: ${args.watchers} watchers on one prefix, ${args.rate} writes/s for ${args.durationMs / 1000} s, ${args.valueBytes}-byte values; ${os.cpus().length} cores, Node ${process.version}\n`);
  for (const target of args.targets) {
    await runTarget(target, args);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:watch: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
