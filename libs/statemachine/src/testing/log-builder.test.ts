/**
 * Test helpers (not a test file: jest runs *.spec.ts): a builder of Raft log entries carrying
 * encoded commands, and small conveniences for bytes.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ConfChangeType, Entry, LogIndex, NodeId, Term } from '@keyval/raft';
import { EntryType, encodeConfChangeEntry } from '@keyval/raft';
import type { ClientId, Command, SessionHeader, WriteRequest } from '../command-types';
import { encodeCommand } from '../codec/command-codec';
import type { DeleteRangeRequest, PutRequest, TxnRequest } from '../kv-types';

/** Bytes of a string. */
export function b(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text, 'utf8'));
}

/** String of bytes. */
export function s(bytes: Uint8Array | undefined): string {
  return bytes === undefined ? '<undefined>' : Buffer.from(bytes).toString('utf8');
}

/** A fresh temporary directory under os.tmpdir(). */
export async function tempDir(prefix: string): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), `keyval-sm-${prefix}-`));
}

export async function removeDir(dir: string): Promise<void> {
  await fs.rm(dir, { recursive: true, force: true });
}

/** Builds consecutive entries: index from 1, a term, and a log clock for command timestamps. */
export class LogBuilder {
  private nextIndex = 1;
  term = 1;
  /** The timestamp the next command carries. */
  timeMs = 1_000;

  constructor(firstIndex = 1) {
    this.nextIndex = firstIndex;
  }

  get lastIndex(): number {
    return this.nextIndex - 1;
  }

  raw(type: EntryType, data: Uint8Array): Entry {
    return { index: this.nextIndex++ as LogIndex, term: this.term as Term, type, data };
  }

  command(op: WriteRequest, session?: SessionHeader): Entry {
    const command: Command = session === undefined ? { timestampMs: this.timeMs, op } : { timestampMs: this.timeMs, session, op };
    return this.raw(EntryType.Normal, encodeCommand(command));
  }

  put(key: string, value: string, options: Partial<Omit<PutRequest, 'key' | 'value'>> = {}, session?: SessionHeader): Entry {
    return this.command({ type: 'put', request: { key: b(key), value: b(value), ...options } }, session);
  }

  del(key: string, rangeEnd?: string, options: Partial<Omit<DeleteRangeRequest, 'key' | 'rangeEnd'>> = {}, session?: SessionHeader): Entry {
    return this.command({ type: 'deleteRange', request: { key: b(key), ...(rangeEnd !== undefined && { rangeEnd: b(rangeEnd) }), ...options } }, session);
  }

  txn(request: TxnRequest, session?: SessionHeader): Entry {
    return this.command({ type: 'txn', request }, session);
  }

  compact(revision: number, session?: SessionHeader): Entry {
    return this.command({ type: 'compact', request: { revision } }, session);
  }

  noop(): Entry {
    return this.command({ type: 'noop' });
  }

  /** The empty entry a new leader appends. */
  empty(): Entry {
    return this.raw(EntryType.Normal, new Uint8Array(0));
  }

  confChange(type: ConfChangeType, nodeId: bigint, context: Uint8Array, voters: bigint[], learners: bigint[] = []): Entry {
    const data = encodeConfChangeEntry({
      change: { type, nodeId: nodeId as NodeId, context },
      config: { voters: voters as NodeId[], learners: learners as NodeId[] },
    });
    return this.raw(EntryType.ConfChange, data);
  }
}

/** A session header. */
export function session(clientId: ClientId, seq: number): SessionHeader {
  return { clientId, seq };
}
