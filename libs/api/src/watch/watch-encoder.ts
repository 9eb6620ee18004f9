/**
 * Watch responses, encoded straight to protobuf bytes. One commit's events usually go to many
 * watchers; each event is encoded once (with and without its previous record) and copied into
 * every response that carries it, so a response costs its header, its watch id and a copy of
 * each event's bytes (protobuf fields may come in any order, and repeated message fields are
 * just their entries one after the other).
 *
 * Responses carrying events are split as etcd splits them:
 * - a watcher that asked for fragments gets responses under `fragmentBytes` (etcd's
 *   --max-request-bytes), every part but the last marked `fragment`; a single larger event
 *   goes alone;
 * - for the others, a batch of several revisions (a commit, a catch-up read) larger than
 *   `softLimitBytes` is split between revisions (never inside one), so no response grows
 *   without bound.
 */
import { etcd, mvcc } from '@keyval/proto';
import { BinaryWriter } from '@keyval/proto';
import type { KeyEvent } from '@keyval/statemachine';
import { kvToWire } from '../etcd-response';
import type { HeaderContext } from '../etcd-response';
import { header } from '../etcd-response';

/** Field tags of WatchResponse (field number << 3 | wire type). */
const TAG = { header: 0x0a, watchId: 0x10, created: 0x18, canceled: 0x20, compactRevision: 0x28, cancelReason: 0x32, fragment: 0x38, event: 0x5a } as const;

/** A response without events. */
export interface ControlResponse {
  readonly watchId: bigint;
  readonly created?: boolean;
  readonly canceled?: boolean;
  readonly compactRevision?: number;
  readonly cancelReason?: string;
}

/** Encoded events by event object: shared by every watcher a commit goes to. */
const withPrev = new WeakMap<KeyEvent, Uint8Array>();
const withoutPrev = new WeakMap<KeyEvent, Uint8Array>();

/** The mvccpb.Event bytes of an event (its previous record only when asked and known). */
export function encodedEvent(event: KeyEvent, prevKv: boolean): Uint8Array {
  const cache = prevKv && event.prev !== undefined ? withPrev : withoutPrev;
  let bytes = cache.get(event);
  if (bytes === undefined) {
    const message: mvcc.Event = {
      type: event.type === 'put' ? mvcc.Event_EventType.PUT : mvcc.Event_EventType.DELETE,
      kv: kvToWire(event.kv),
      prevKv: prevKv && event.prev !== undefined ? kvToWire(event.prev) : undefined,
    };
    bytes = mvcc.Event.encode(message).finish();
    cache.set(event, bytes);
  }
  return bytes;
}

function varintBytes(value: number): number {
  let bytes = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    bytes++;
  }
  return bytes;
}

/** Bytes an event takes inside a response (tag, length, message). */
function eventFieldBytes(event: Uint8Array): number {
  return 1 + varintBytes(event.byteLength) + event.byteLength;
}

/** Writes `value` (a non-negative safe integer) as a varint at `at`; returns the next offset. */
function putVarint(out: Buffer, at: number, value: number): number {
  while (value >= 0x80) {
    out[at++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  out[at++] = value;
  return at;
}

export class WatchResponseEncoder {
  /** The header field of the last revision encoded, reused while the context is the same. */
  private header: { revision: number; context: HeaderContext; field: Uint8Array } | undefined;

  constructor(private readonly context: () => HeaderContext) {}

  /** A response without events, its header at `revision`. */
  control(fields: ControlResponse, revision: number): Buffer {
    const out = new BinaryWriter();
    out.raw(this.headerField(revision));
    if (fields.watchId !== 0n) out.uint32(TAG.watchId).int64(fields.watchId);
    if (fields.created === true) out.uint32(TAG.created).bool(true);
    if (fields.canceled === true) out.uint32(TAG.canceled).bool(true);
    if (fields.compactRevision !== undefined && fields.compactRevision !== 0) out.uint32(TAG.compactRevision).int64(fields.compactRevision);
    if (fields.cancelReason !== undefined && fields.cancelReason !== '') out.uint32(TAG.cancelReason).string(fields.cancelReason);
    return Buffer.from(out.finish());
  }

  /** A progress response of one watcher (no events). */
  progress(watchId: bigint, revision: number): Buffer {
    return this.control({ watchId }, revision);
  }

  /**
   * The responses carrying `events` (revision order) for one watcher, split as the module
   * comment says, each with its header at `revision`. Watch ids are the stream's (≥ 0).
   */
  events(watchId: bigint, events: readonly KeyEvent[], revision: number, options: { prevKv: boolean; fragment: boolean; fragmentBytes: number; softLimitBytes: number }): Buffer[] {
    const encoded = events.map((e) => encodedEvent(e, options.prevKv));
    const header = this.headerField(revision);
    const id = Number(watchId);
    const base = header.byteLength + (id === 0 ? 0 : 1 + varintBytes(id));
    const total = encoded.reduce((sum, e) => sum + eventFieldBytes(e), base);
    if (options.fragment) {
      return total < options.fragmentBytes || encoded.length < 2 ? [this.assemble(header, id, encoded, false)] : this.fragments(header, id, encoded, base, options.fragmentBytes);
    }
    if (total <= options.softLimitBytes) {
      return [this.assemble(header, id, encoded, false)];
    }
    return this.byRevision(header, id, events, encoded, base, options.softLimitBytes);
  }

  /** etcd's sendFragments: as many events per part as stay under the limit. */
  private fragments(header: Uint8Array, id: number, encoded: readonly Uint8Array[], base: number, limit: number): Buffer[] {
    const out: Buffer[] = [];
    let at = 0;
    while (at < encoded.length) {
      let size = base + 2; // the fragment flag
      const part: Uint8Array[] = [];
      while (at < encoded.length) {
        const bytes = eventFieldBytes(encoded[at] as Uint8Array);
        if (part.length > 0 && size + bytes >= limit) {
          break;
        }
        part.push(encoded[at] as Uint8Array);
        size += bytes;
        at++;
      }
      out.push(this.assemble(header, id, part, at < encoded.length));
    }
    return out;
  }

  /** Splits between revisions so each response stays under `limit` (one revision may exceed it). */
  private byRevision(header: Uint8Array, id: number, events: readonly KeyEvent[], encoded: readonly Uint8Array[], base: number, limit: number): Buffer[] {
    const out: Buffer[] = [];
    let part: Uint8Array[] = [];
    let size = base;
    let i = 0;
    while (i < events.length) {
      const rev = (events[i] as KeyEvent).kv.modRevision;
      let j = i;
      let bytes = 0;
      while (j < events.length && (events[j] as KeyEvent).kv.modRevision === rev) {
        bytes += eventFieldBytes(encoded[j] as Uint8Array);
        j++;
      }
      if (part.length > 0 && size + bytes > limit) {
        out.push(this.assemble(header, id, part, false));
        part = [];
        size = base;
      }
      part.push(...encoded.slice(i, j));
      size += bytes;
      i = j;
    }
    out.push(this.assemble(header, id, part, false));
    return out;
  }

  /** One response: header field, watch id, fragment flag, events, in one buffer. */
  private assemble(header: Uint8Array, id: number, events: readonly Uint8Array[], fragment: boolean): Buffer {
    let size = header.byteLength + (id === 0 ? 0 : 1 + varintBytes(id)) + (fragment ? 2 : 0);
    for (const event of events) {
      size += eventFieldBytes(event);
    }
    const out = Buffer.allocUnsafe(size);
    out.set(header, 0);
    let at = header.byteLength;
    if (id !== 0) {
      out[at++] = TAG.watchId;
      at = putVarint(out, at, id);
    }
    if (fragment) {
      out[at++] = TAG.fragment;
      out[at++] = 1;
    }
    for (const event of events) {
      out[at++] = TAG.event;
      at = putVarint(out, at, event.byteLength);
      out.set(event, at);
      at += event.byteLength;
    }
    return out;
  }

  /** The encoded header field (tag, length, ResponseHeader) at `revision`. */
  private headerField(revision: number): Uint8Array {
    const context = this.context();
    const cached = this.header;
    if (cached !== undefined && cached.revision === revision && cached.context.raftTerm === context.raftTerm && cached.context.memberId === context.memberId && cached.context.clusterId === context.clusterId) {
      return cached.field;
    }
    const out = new BinaryWriter();
    out.uint32(TAG.header).bytes(etcd.ResponseHeader.encode(header(revision, context)).finish());
    const field = out.finish();
    this.header = { revision, context, field };
    return field;
  }
}
