/**
 * Typed clients over a GrpcChannel, built at run time from a service definition:
 *
 *     const kv = createClient(etcd.KVDefinition, new GrpcChannel('127.0.0.1:2379'));
 *     const response = await kv.put(etcd.PutRequest.fromPartial({ key, value }), { timeoutMs: 1000 });
 *
 * Unary methods return a promise; server-streaming methods an async iterable of responses
 * (reading it drives the flow control; breaking out of the loop cancels the call);
 * bidirectional methods a BidiCall (send requests, end them, read the responses). Client-only
 * streams are not supported and throw UNIMPLEMENTED. Every failure is a GrpcStatusError.
 */
import type { CallOptions } from './client-call';
import type { GrpcChannel } from './channel';
import { GrpcStatusError } from './grpc-status.error';
import { MessageQueue } from './message-queue';
import { methodPath, type MethodDefinition, type ServiceDefinition } from './method';
import { GrpcStatus } from './status';

export type UnaryClientMethod<Req, Res> = (request: Req, options?: CallOptions) => Promise<Res>;
export type ServerStreamingClientMethod<Req, Res> = (request: Req, options?: CallOptions) => AsyncIterable<Res>;

/** A bidirectional call: requests go out with `send`, responses come in through `responses`. */
export interface BidiCall<Req, Res> {
  /** Sends a request; resolves when the stream can take more; rejects once the call ended. */
  send(message: Req): Promise<void>;
  /** Half-closes: no more requests (responses go on until the server ends the call). */
  end(): void;
  /** Ends the call now (CANCELLED). */
  cancel(details?: string): void;
  /** The responses; ends with the call (rejecting with its status unless OK). Iterate once. */
  readonly responses: AsyncIterable<Res>;
}

export type BidiStreamingClientMethod<Req, Res> = (options?: CallOptions) => BidiCall<Req, Res>;

export type ClientMethodFor<M> =
  M extends MethodDefinition<infer Req, infer Res, false, false>
    ? UnaryClientMethod<Req, Res>
    : M extends MethodDefinition<infer Req, infer Res, false, true>
      ? ServerStreamingClientMethod<Req, Res>
      : M extends MethodDefinition<infer Req, infer Res, true, true>
        ? BidiStreamingClientMethod<Req, Res>
        : never;

export type ServiceClient<S extends ServiceDefinition> = {
  readonly [K in keyof S['methods']]: ClientMethodFor<S['methods'][K]>;
};

/** Sends one unary call on `channel`. */
export function unaryCall<Req, Res>(
  channel: GrpcChannel,
  path: string,
  method: MethodDefinition<Req, Res>,
  request: Req,
  options: CallOptions = {},
): Promise<Res> {
  return new Promise<Res>((resolve, reject) => {
    let response: Res | undefined;
    const sink = {
      responseStream: false,
      onMessage: (message: Res): void => {
        response = message;
      },
      onEnd: (error: GrpcStatusError | undefined): void => {
        if (error === undefined) {
          resolve(response as Res);
        } else {
          reject(error);
        }
      },
    };
    try {
      channel.startCall(path, method.requestType, method.responseType, request, options, sink);
    } catch (error) {
      reject(error);
    }
  });
}

/** Sends one server-streaming call on `channel`; the call starts when iteration starts. */
export function serverStreamingCall<Req, Res>(
  channel: GrpcChannel,
  path: string,
  method: MethodDefinition<Req, Res>,
  request: Req,
  options: CallOptions = {},
): AsyncIterable<Res> {
  return {
    [Symbol.asyncIterator]: (): AsyncIterator<Res> => {
      let call: { pause(): void; resume(): void; cancel(details?: string): void } | undefined;
      const queue = new MessageQueue<Res>(
        channel.responseQueueMessagesMax,
        () => call?.pause(),
        () => call?.resume(),
      );
      const sink = {
        responseStream: true,
        onMessage: (message: Res): void => queue.push(message),
        onEnd: (error: GrpcStatusError | undefined): void => (error === undefined ? queue.end() : queue.fail(error)),
      };
      try {
        call = channel.startCall(path, method.requestType, method.responseType, request, options, sink);
      } catch (error) {
        queue.fail(error);
      }
      const iterator = queue[Symbol.asyncIterator]();
      return {
        next: () => iterator.next(),
        return: () => {
          call?.cancel('the client stopped reading the responses');
          return (iterator.return as () => Promise<IteratorResult<Res>>)();
        },
      };
    },
  };
}

/**
 * Starts a bidirectional call on `channel` at once. Responses are buffered up to the
 * channel's response queue, then the stream is paused until they are read.
 */
export function bidiStreamingCall<Req, Res>(channel: GrpcChannel, path: string, method: MethodDefinition<Req, Res>, options: CallOptions = {}): BidiCall<Req, Res> {
  let call: { pause(): void; resume(): void; cancel(details?: string): void; send(message: Req): Promise<void>; closeSend(): void } | undefined;
  const queue = new MessageQueue<Res>(
    channel.responseQueueMessagesMax,
    () => call?.pause(),
    () => call?.resume(),
  );
  let startError: unknown;
  try {
    call = channel.startCall(path, method.requestType, method.responseType, undefined, options, {
      responseStream: true,
      onMessage: (message: Res): void => queue.push(message),
      onEnd: (error: GrpcStatusError | undefined): void => (error === undefined ? queue.end() : queue.fail(error)),
    });
  } catch (error) {
    startError = error;
    queue.fail(error);
  }
  return {
    send: (message) => (call === undefined ? Promise.reject(startError) : call.send(message)),
    end: () => call?.closeSend(),
    cancel: (details) => call?.cancel(details),
    responses: {
      [Symbol.asyncIterator]: (): AsyncIterator<Res> => {
        const iterator = queue[Symbol.asyncIterator]();
        return {
          next: () => iterator.next(),
          return: () => {
            call?.cancel('the client stopped reading the responses');
            return (iterator.return as () => Promise<IteratorResult<Res>>)();
          },
        };
      },
    },
  };
}

/** A client object with one method per method of `service`. */
export function createClient<S extends ServiceDefinition>(service: S, channel: GrpcChannel): ServiceClient<S> {
  const client: Record<string, unknown> = {};
  for (const [key, method] of Object.entries(service.methods)) {
    const path = methodPath(service, method);
    if (method.requestStream && method.responseStream) {
      client[key] = (options?: CallOptions) => bidiStreamingCall(channel, path, method, options);
    } else if (method.requestStream) {
      client[key] = (): never => {
        throw new GrpcStatusError(GrpcStatus.UNIMPLEMENTED, `${path}: client-only request streams are not supported by the lean client`);
      };
    } else if (method.responseStream) {
      client[key] = (request: unknown, options?: CallOptions) => serverStreamingCall(channel, path, method, request, options);
    } else {
      client[key] = (request: unknown, options?: CallOptions) => unaryCall(channel, path, method, request, options);
    }
  }
  return client as ServiceClient<S>;
}
