/**
 * Client ids as bytes: the key of a session in memory, in RocksDB and in snapshots.
 *
 *     uint64 id:  0x00 | 8 bytes big-endian   (byte order = numeric order)
 *     string id:  0x01 | UTF-8 bytes (1..MAX_CLIENT_ID_BYTES)
 */
import type { ClientId } from '../command-types';

/** Longest string client id, in UTF-8 bytes. */
export const MAX_CLIENT_ID_BYTES = 256;

const KIND_U64 = 0x00;
const KIND_STRING = 0x01;

/** Checks a client id; throws RangeError for a negative/oversized bigint or a bad string. */
export function checkClientId(clientId: ClientId): void {
  if (typeof clientId === 'bigint') {
    if (clientId < 0n || clientId > 0xffff_ffff_ffff_ffffn) {
      throw new RangeError(`client id ${clientId} is not a uint64`);
    }
    return;
  }
  const bytes = Buffer.byteLength(clientId, 'utf8');
  if (bytes === 0 || bytes > MAX_CLIENT_ID_BYTES) {
    throw new RangeError(`string client id must be 1..${MAX_CLIENT_ID_BYTES} UTF-8 bytes, got ${bytes}`);
  }
}

/** The canonical byte form of a client id. */
export function encodeClientId(clientId: ClientId): Buffer {
  checkClientId(clientId);
  if (typeof clientId === 'bigint') {
    const out = Buffer.allocUnsafe(9);
    out[0] = KIND_U64;
    out.writeBigUInt64BE(clientId, 1);
    return out;
  }
  return Buffer.concat([Buffer.of(KIND_STRING), Buffer.from(clientId, 'utf8')]);
}

/** Inverse of encodeClientId; undefined when the bytes are not a valid client id. */
export function decodeClientId(bytes: Uint8Array): ClientId | undefined {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.length === 9 && view[0] === KIND_U64) {
    return view.readBigUInt64BE(1);
  }
  if (view.length >= 2 && view.length <= MAX_CLIENT_ID_BYTES + 1 && view[0] === KIND_STRING) {
    const text = view.subarray(1).toString('utf8');
    return Buffer.from(text, 'utf8').equals(view.subarray(1)) ? text : undefined;
  }
  return undefined;
}

/** A map key for a client id (latin1 of its byte form: same order as the bytes). */
export function clientKey(clientId: ClientId): string {
  if (typeof clientId === 'string' && clientId.length <= MAX_CLIENT_ID_BYTES && clientId.length > 0 && Buffer.byteLength(clientId, 'utf8') === clientId.length) {
    // ASCII: its UTF-8 bytes are its characters, so the latin1 of the byte form is this (the
    // apply hot path: one string per command instead of two buffers).
    return '\u0001' + clientId;
  }
  return encodeClientId(clientId).toString('latin1');
}

/** A printable client id for messages. */
export function describeClientId(clientId: ClientId): string {
  return typeof clientId === 'bigint' ? clientId.toString() : JSON.stringify(clientId);
}
