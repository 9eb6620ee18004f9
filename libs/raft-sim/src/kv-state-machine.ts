/**
 * The replicated state machine of the simulation: a small key-value map with put, delete and
 * compare-and-swap, encoded in entry payloads; reads go through ReadIndex and never enter the
 * log. Each member applies committed entries in order; an image (snapshot) captures the map,
 * the applied index and term, the configuration at that index and the ids of applied client
 * operations (so an acknowledged write can be found in the final state: `lost=N`).
 *
 * `chainDigest` folds every applied entry (index, term, payload hash) into one number: two
 * members at the same applied index with equal chain digests applied the same entries.
 */
import { EntryType, decodeConfChangeEntry } from '@keyval/raft';
import type { Entry, LogIndex, MembershipConfig, Term } from '@keyval/raft';
import { hashData, hashInts, hashString } from './hash';

/** A write as clients issue it; `opId` identifies the client operation. */
export type KvCommand =
  | { readonly kind: 'put'; readonly opId: string; readonly key: string; readonly value: string }
  | { readonly kind: 'delete'; readonly opId: string; readonly key: string }
  | { readonly kind: 'cas'; readonly opId: string; readonly key: string; readonly expected: string | null; readonly newValue: string | null };

/** What applying a command produced. `succeeded` is false only for a cas whose comparison failed. */
export interface ApplyResult {
  readonly opId: string;
  readonly succeeded: boolean;
}

/** An immutable snapshot of the state machine at `index`. */
export interface SmImage {
  readonly index: LogIndex;
  readonly term: Term;
  readonly config: MembershipConfig;
  readonly kv: readonly (readonly [string, string])[];
  readonly ops: readonly string[];
  readonly chainDigest: number;
}

/** Largest command payload the simulation writes (keys and values are short). */
export const MAX_COMMAND_BYTES = 512;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class CommandDecodeError extends Error {
  constructor(detail: string) {
    super(`malformed kv command: ${detail}`);
    this.name = 'CommandDecodeError';
  }
}

export function encodeCommand(command: KvCommand): Uint8Array {
  const data = encoder.encode(JSON.stringify(command));
  if (data.byteLength > MAX_COMMAND_BYTES) {
    throw new RangeError(`command of ${data.byteLength} bytes exceeds ${MAX_COMMAND_BYTES}`);
  }
  return data;
}

export function decodeCommand(data: Uint8Array): KvCommand {
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(data));
  } catch (error) {
    throw new CommandDecodeError(error instanceof Error ? error.message : String(error));
  }
  if (typeof parsed !== 'object' || parsed === null) {
    throw new CommandDecodeError('not an object');
  }
  const c = parsed as Record<string, unknown>;
  if (typeof c['opId'] !== 'string' || typeof c['key'] !== 'string') {
    throw new CommandDecodeError('missing opId or key');
  }
  if (c['kind'] === 'put' && typeof c['value'] === 'string') {
    return parsed as KvCommand;
  }
  if (c['kind'] === 'delete') {
    return parsed as KvCommand;
  }
  if (c['kind'] === 'cas' && isValue(c['expected']) && isValue(c['newValue'])) {
    return parsed as KvCommand;
  }
  throw new CommandDecodeError(`bad command ${decoder.decode(data)}`);
}

function isValue(v: unknown): v is string | null {
  return v === null || typeof v === 'string';
}

export const EMPTY_IMAGE: SmImage = {
  index: 0 as LogIndex,
  term: 0 as Term,
  config: { voters: [], learners: [] },
  kv: [],
  ops: [],
  chainDigest: 0,
};

export class KvStateMachine {
  private readonly kv = new Map<string, string>();
  private readonly ops = new Set<string>();
  appliedIndex: LogIndex = 0 as LogIndex;
  appliedTerm: Term = 0 as Term;
  config: MembershipConfig = EMPTY_IMAGE.config;
  chainDigest = 0;

  constructor(image: SmImage = EMPTY_IMAGE) {
    this.restore(image);
  }

  /** Replaces the whole state with `image`. */
  restore(image: SmImage): void {
    this.kv.clear();
    for (const [k, v] of image.kv) {
      this.kv.set(k, v);
    }
    this.ops.clear();
    for (const op of image.ops) {
      this.ops.add(op);
    }
    this.appliedIndex = image.index;
    this.appliedTerm = image.term;
    this.config = image.config;
    this.chainDigest = image.chainDigest;
  }

  get(key: string): string | null {
    return this.kv.get(key) ?? null;
  }

  hasApplied(opId: string): boolean {
    return this.ops.has(opId);
  }

  /**
   * Applies the next committed entry (index must be appliedIndex + 1). Returns the command's
   * result, or undefined for no-ops and configuration entries. `duplicate` is set when the
   * same client operation was already applied (a client never re-sends a possibly-applied
   * write, so that is a bug).
   */
  apply(entry: Entry): { result: ApplyResult | undefined; duplicate: boolean } {
    if (entry.index !== this.appliedIndex + 1) {
      throw new RangeError(`apply ${entry.index} after ${this.appliedIndex}`);
    }
    this.appliedIndex = entry.index;
    this.appliedTerm = entry.term;
    this.chainDigest = hashInts(this.chainDigest, entry.index, entry.term, hashData(entry.data));
    if (entry.type === EntryType.ConfChange) {
      this.config = decodeConfChangeEntry(entry.data).config;
      return { result: undefined, duplicate: false };
    }
    if (entry.data.byteLength === 0) {
      return { result: undefined, duplicate: false };
    }
    const command = decodeCommand(entry.data);
    const duplicate = this.ops.has(command.opId);
    this.ops.add(command.opId);
    return { result: { opId: command.opId, succeeded: this.execute(command) }, duplicate };
  }

  private execute(command: KvCommand): boolean {
    switch (command.kind) {
      case 'put':
        this.kv.set(command.key, command.value);
        return true;
      case 'delete':
        this.kv.delete(command.key);
        return true;
      case 'cas': {
        if (this.get(command.key) !== command.expected) {
          return false;
        }
        if (command.newValue === null) {
          this.kv.delete(command.key);
        } else {
          this.kv.set(command.key, command.newValue);
        }
        return true;
      }
    }
  }

  /** An immutable image of the current state. */
  image(): SmImage {
    return {
      index: this.appliedIndex,
      term: this.appliedTerm,
      config: this.config,
      kv: [...this.kv.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)),
      ops: [...this.ops],
      chainDigest: this.chainDigest,
    };
  }

  /** A digest of the map's contents (order-independent of insertion). */
  contentDigest(): number {
    let h = 0x811c9dc5;
    for (const [k, v] of [...this.kv.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      h = hashString(v, hashString(k, h));
    }
    return h;
  }
}
