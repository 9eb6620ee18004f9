/**
 * Raw passthrough: service definitions whose codecs leave messages as bytes. The gateway
 * serves and calls etcd's services with them, so a request travels from client to member
 * without being decoded and encoded again (the gateway only reads the `serializable` flag of
 * a Range request, see `rangeIsSerializable`).
 */
import type { MessageCodec, MethodDefinition, ServiceDefinition } from '@keyval/grpc';
import { BinaryReader, BinaryWriter } from '@keyval/proto';

/**
 * Bytes in, bytes out. `decode` copies: the frame decoder hands out views of the HTTP/2
 * chunk, and the gateway keeps a request across retries.
 */
export const RAW_CODEC: MessageCodec<Buffer> = {
  encode(message: Buffer, writer: BinaryWriter = new BinaryWriter()): BinaryWriter {
    return writer.raw(message);
  },
  decode(input: Uint8Array): Buffer {
    return Buffer.from(input);
  },
};

/** A method of `S` with raw codecs, keeping its streaming shape. */
export type RawMethod<M extends MethodDefinition> = MethodDefinition<Buffer, Buffer, M['requestStream'], M['responseStream']>;

/** `S` with raw codecs on every method (same full name, so the same HTTP/2 paths). */
export interface RawService<S extends ServiceDefinition> extends ServiceDefinition {
  readonly fullName: S['fullName'];
  readonly methods: { readonly [K in keyof S['methods']]: RawMethod<S['methods'][K]> };
}

/** The raw twin of a generated service definition. */
export function rawService<S extends ServiceDefinition>(service: S): RawService<S> {
  const methods: Record<string, MethodDefinition<Buffer, Buffer>> = {};
  for (const [key, method] of Object.entries(service.methods)) {
    methods[key] = {
      name: method.name,
      requestType: RAW_CODEC,
      responseType: RAW_CODEC,
      requestStream: method.requestStream,
      responseStream: method.responseStream,
    };
  }
  return { fullName: service.fullName, methods } as unknown as RawService<S>;
}

/** etcd's RangeRequest field number of `serializable` (rpc.proto). */
const RANGE_SERIALIZABLE_FIELD = 7;
/** Protobuf wire type of a varint. */
const WIRE_VARINT = 0;

/**
 * Reads the `serializable` flag of an encoded etcd RangeRequest without decoding the rest
 * (the last occurrence wins, as protobuf says). Throws on bytes that are not protobuf; the
 * caller then forwards the request to the leader, whose member answers the error.
 */
export function rangeIsSerializable(request: Uint8Array): boolean {
  const reader = new BinaryReader(request);
  let serializable = false;
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    const field = tag >>> 3;
    const wireType = tag & 7;
    if (field === RANGE_SERIALIZABLE_FIELD && wireType === WIRE_VARINT) {
      serializable = reader.bool();
    } else {
      reader.skip(wireType);
    }
  }
  return serializable;
}
