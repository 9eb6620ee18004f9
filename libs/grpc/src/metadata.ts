/**
 * Call metadata: the custom HTTP/2 headers (or trailers) of a call. Keys are lowercase
 * `[0-9a-z_.-]`; values are printable ASCII, except under keys ending in `-bin`, whose values
 * are bytes sent as base64. Reserved headers (pseudo-headers, `grpc-*`, `content-type`, `te`)
 * are not metadata.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';

const KEY_PATTERN = /^[0-9a-z_.-]+$/;
const ASCII_VALUE_PATTERN = /^[\x20-\x7e]*$/;
/** Most entries accepted in one Metadata: HTTP/2 header lists are bounded too. */
export const METADATA_ENTRIES_MAX = 256;

function isReserved(key: string): boolean {
  return key.startsWith(':') || key.startsWith('grpc-') || key === 'content-type' || key === 'te' || key === 'host' || key === 'connection';
}

function checkEntry(key: string, value: string | Buffer): void {
  if (!KEY_PATTERN.test(key)) {
    throw new TypeError(`metadata key ${JSON.stringify(key)} is not lowercase [0-9a-z_.-]`);
  }
  if (isReserved(key)) {
    throw new TypeError(`metadata key ${JSON.stringify(key)} is reserved by gRPC`);
  }
  const binary = key.endsWith('-bin');
  if (binary !== Buffer.isBuffer(value)) {
    throw new TypeError(`metadata key ${JSON.stringify(key)} takes ${binary ? 'a Buffer (it ends in -bin)' : 'a string'}`);
  }
  if (!binary && !ASCII_VALUE_PATTERN.test(value as string)) {
    throw new TypeError(`metadata value for ${JSON.stringify(key)} is not printable ASCII`);
  }
}

/** An ordered multimap of metadata entries. */
export class Metadata {
  private readonly entries = new Map<string, (string | Buffer)[]>();
  private count = 0;

  /** Builds metadata from a plain object; array values become repeated entries. */
  static from(record: Readonly<Record<string, string | Buffer | readonly (string | Buffer)[]>>): Metadata {
    const metadata = new Metadata();
    for (const [key, value] of Object.entries(record)) {
      for (const one of Array.isArray(value) ? (value as readonly (string | Buffer)[]) : [value as string | Buffer]) {
        metadata.add(key, one);
      }
    }
    return metadata;
  }

  /**
   * Reads the metadata of received headers or trailers, skipping reserved ones and stopping
   * at METADATA_ENTRIES_MAX. Comma-joined repeated values stay joined (as HTTP allows);
   * a malformed `-bin` value decodes to what base64 can make of it.
   */
  static fromHeaders(headers: IncomingHttpHeaders): Metadata {
    const metadata = new Metadata();
    for (const key of Object.keys(headers)) {
      const raw = headers[key];
      if (raw === undefined || isReserved(key) || !KEY_PATTERN.test(key)) {
        continue;
      }
      for (const value of Array.isArray(raw) ? raw : [raw]) {
        if (metadata.count >= METADATA_ENTRIES_MAX) {
          return metadata;
        }
        metadata.push(key, key.endsWith('-bin') ? Buffer.from(value, 'base64') : value);
      }
    }
    return metadata;
  }

  /** Appends a value. Throws TypeError for a malformed or reserved key or a bad value. */
  add(key: string, value: string | Buffer): this {
    checkEntry(key, value);
    if (this.count >= METADATA_ENTRIES_MAX) {
      throw new RangeError(`metadata holds at most ${METADATA_ENTRIES_MAX} entries`);
    }
    this.push(key, value);
    return this;
  }

  /** Replaces every value of `key` with `value`. */
  set(key: string, value: string | Buffer): this {
    this.remove(key);
    return this.add(key, value);
  }

  remove(key: string): void {
    this.count -= this.entries.get(key)?.length ?? 0;
    this.entries.delete(key);
  }

  /** The first text value of `key`, or undefined (also for `-bin` keys). */
  get(key: string): string | undefined {
    const first = this.entries.get(key)?.[0];
    return typeof first === 'string' ? first : undefined;
  }

  /** The first binary value of a `-bin` key, or undefined. */
  getBinary(key: string): Buffer | undefined {
    const first = this.entries.get(key)?.[0];
    return Buffer.isBuffer(first) ? first : undefined;
  }

  getAll(key: string): readonly (string | Buffer)[] {
    return this.entries.get(key) ?? [];
  }

  keys(): string[] {
    return [...this.entries.keys()];
  }

  get size(): number {
    return this.count;
  }

  /** Adds the entries to outgoing headers: repeated text values joined by commas, bytes as base64. */
  writeTo(headers: OutgoingHttpHeaders): OutgoingHttpHeaders {
    for (const [key, values] of this.entries) {
      headers[key] = wireValue(values);
    }
    return headers;
  }

  /** Appends the entries to a flat header list [name, value, …], as `writeTo` writes them. */
  writeToFields(fields: string[]): string[] {
    for (const [key, values] of this.entries) {
      fields.push(key, wireValue(values));
    }
    return fields;
  }

  private push(key: string, value: string | Buffer): void {
    const list = this.entries.get(key);
    if (list === undefined) {
      this.entries.set(key, [value]);
    } else {
      list.push(value);
    }
    this.count += 1;
  }
}

/** The header value of an entry's values: text as it is, bytes as base64, repeats joined by commas. */
function wireValue(values: readonly (string | Buffer)[]): string {
  return values.map((v) => (typeof v === 'string' ? v : v.toString('base64'))).join(',');
}

/**
 * Percent-encodes a `grpc-message`: its UTF-8 bytes outside printable ASCII, and '%', become
 * `%XX`, as the gRPC protocol requires.
 */
export function encodeGrpcMessage(message: string): string {
  if (/^[\x20-\x24\x26-\x7e]*$/.test(message)) {
    return message;
  }
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Decodes a percent-encoded `grpc-message`; a malformed `%` sequence is kept as it is. */
export function decodeGrpcMessage(encoded: string): string {
  if (!encoded.includes('%')) {
    return encoded;
  }
  const bytes: number[] = [];
  for (let i = 0; i < encoded.length; i++) {
    const hexPair = encoded.slice(i + 1, i + 3);
    if (encoded[i] === '%' && /^[0-9a-fA-F]{2}$/.test(hexPair)) {
      bytes.push(parseInt(hexPair, 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(encoded[i] as string, 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}
