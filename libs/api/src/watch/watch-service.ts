/**
 * etcd's Watch service (`etcdserverpb.Watch/Watch`) on a member: each call is a WatchStream
 * over the member's WatchHub. Watches are served from the member's own applied state (no
 * forwarding): any member answers, and a watch resumed elsewhere from the revision after the
 * last one seen gets every later event once (a member not there yet waits for it).
 *
 * Responses are written as bytes the stream encoded (watch-encoder.ts), so the method's
 * response codec passes them through.
 */
import type { Clock } from '@keyval/cluster';
import { GrpcStatus, GrpcStatusError } from '@keyval/grpc';
import type { BidiStreamingHandler, MessageCodec, MethodDefinition } from '@keyval/grpc';
import { BinaryWriter, etcd } from '@keyval/proto';
import { ETCD_MESSAGES } from '../api.errors';
import { readUntil } from '../read-until';
import type { HeaderContext } from '../etcd-response';
import type { WatchHub } from './watch-hub';
import { WatchResponseEncoder } from './watch-encoder';
import { WatchStream } from './watch-stream';
import type { WatchStreamOptions } from './watch-stream';

/** Responses the stream encoded itself. */
const ENCODED: MessageCodec<Buffer> = {
  encode(message: Buffer, writer: BinaryWriter = new BinaryWriter()): BinaryWriter {
    return writer.raw(message);
  },
  decode(input: Uint8Array): Buffer {
    return Buffer.from(input);
  },
};

const WATCH_METHOD = etcd.WatchDefinition.methods.watch;

/** etcd's Watch service with pre-encoded responses. */
export const WATCH_SERVICE = {
  fullName: etcd.WatchDefinition.fullName,
  methods: {
    watch: { name: WATCH_METHOD.name, requestType: WATCH_METHOD.requestType, requestStream: true, responseType: ENCODED, responseStream: true } as MethodDefinition<etcd.WatchRequest, Buffer, true, true>,
  },
} as const;

export const DEFAULT_WATCH_STREAM_OPTIONS: WatchStreamOptions = {
  fragmentBytes: 1.5 * 1024 * 1024,
  softLimitBytes: 4 * 1024 * 1024,
  progressIntervalMs: 10 * 60 * 1000,
  queueBytesMax: 8 * 1024 * 1024,
  queueHardBytesMax: 64 * 1024 * 1024,
  watchersMax: 10_000,
};

export interface WatchServiceOptions {
  readonly stream: WatchStreamOptions;
  readonly clock: Clock;
  /** Aborted when the server shuts down: streams end with UNAVAILABLE so clients go elsewhere. */
  readonly shutdown?: AbortSignal;
}

export class WatchService {
  private readonly encoder: WatchResponseEncoder;
  private readonly streams = new Set<WatchStream>();

  constructor(
    private readonly hub: WatchHub,
    context: () => HeaderContext,
    private readonly options: WatchServiceOptions,
  ) {
    this.encoder = new WatchResponseEncoder(context);
  }

  /** Streams open now (metrics). */
  get streamCount(): number {
    return this.streams.size;
  }

  readonly implementation: { readonly watch: BidiStreamingHandler<etcd.WatchRequest, Buffer> } = {
    watch: async (requests, call) => {
      let failure: GrpcStatusError | undefined;
      const stopped = new AbortController();
      const transport = {
        write: (bytes: Buffer) => call.write(bytes),
        fail: (error: GrpcStatusError) => {
          failure ??= error;
          stopped.abort();
        },
      };
      const stream = new WatchStream(this.hub, transport, this.encoder, this.options.stream, this.options.clock);
      this.streams.add(stream);
      const onShutdown = (): void => transport.fail(new GrpcStatusError(GrpcStatus.UNAVAILABLE, ETCD_MESSAGES.stopped));
      this.options.shutdown?.addEventListener('abort', onShutdown);
      try {
        await readUntil(requests, stopped.signal, (request) => stream.handle(request));
      } finally {
        this.options.shutdown?.removeEventListener('abort', onShutdown);
        stream.close();
        this.streams.delete(stream);
      }
      if (failure !== undefined) {
        throw failure;
      }
      // The client half-closed its side: etcd ends the stream too.
    },
  };
}
