/**
 * The harness the conformance suite runs on: a factory of fresh state machines (one per
 * implementation) and helpers to apply entries and unpack results.
 */
import type { ApplyResult } from '../command-types';
import type { CommandRejectedError } from '../errors';
import type { CompactResponse, DeleteRangeResponse, KeyValue, LeaseGrantResponse, LeaseRevokeResponse, PutResponse, RangeResponse, TxnResponse } from '../kv-types';
import type { StateMachineLimits } from '../limits';
import type { StateMachine } from '../state-machine';
import { removeDir, s, tempDir } from './log-builder.test';

export interface StateMachineFactory {
  readonly name: string;
  /** A fresh, empty machine with its own directories. */
  create(limits?: Partial<StateMachineLimits>): Promise<StateMachine>;
  /** A machine that starts from what `machine` left on disk (after closing it), if durable. */
  reopen?(machine: StateMachine): Promise<StateMachine>;
  /** Closes every machine created and removes their directories. */
  cleanup(): Promise<void>;
}

/** Tracks machines and temporary directories for cleanup. */
export class Resources {
  private readonly machines: StateMachine[] = [];
  private readonly dirs: string[] = [];

  async dir(prefix: string): Promise<string> {
    const dir = await tempDir(prefix);
    this.dirs.push(dir);
    return dir;
  }

  track<T extends StateMachine>(machine: T): T {
    this.machines.push(machine);
    return machine;
  }

  async cleanup(): Promise<void> {
    for (const machine of this.machines.splice(0)) {
      await machine.close().catch(() => undefined);
    }
    for (const dir of this.dirs.splice(0)) {
      await removeDir(dir);
    }
  }
}

/** Unpacks a write response of the given type, failing the test otherwise. */
export function response(result: ApplyResult | undefined, type: 'put'): PutResponse;
export function response(result: ApplyResult | undefined, type: 'deleteRange'): DeleteRangeResponse;
export function response(result: ApplyResult | undefined, type: 'txn'): TxnResponse;
export function response(result: ApplyResult | undefined, type: 'compact'): CompactResponse;
export function response(result: ApplyResult | undefined, type: 'leaseGrant'): LeaseGrantResponse;
export function response(result: ApplyResult | undefined, type: 'leaseRevoke'): LeaseRevokeResponse;
export function response(
  result: ApplyResult | undefined,
  type: 'put' | 'deleteRange' | 'txn' | 'compact' | 'leaseGrant' | 'leaseRevoke',
): PutResponse | DeleteRangeResponse | TxnResponse | CompactResponse | LeaseGrantResponse | LeaseRevokeResponse {
  if (result?.kind !== 'response' || result.response.type !== type) {
    throw new Error(`expected a ${type} response, got ${describe(result)}`);
  }
  return result.response.response;
}

/** Unpacks a rejection, failing the test otherwise. */
export function rejection(result: ApplyResult | undefined): CommandRejectedError {
  if (result?.kind !== 'rejected') {
    throw new Error(`expected a rejection, got ${describe(result)}`);
  }
  return result.error;
}

function describe(result: ApplyResult | undefined): string {
  if (result === undefined) {
    return 'nothing';
  }
  return result.kind === 'rejected' ? `rejected ${result.error.code}: ${result.error.message}` : result.kind === 'response' ? `${result.response.type} response` : result.kind;
}

/** A kv as plain, comparable text. */
export function kvText(kv: KeyValue | undefined): string {
  return kv === undefined ? '-' : `${s(kv.key)}=${s(kv.value)}@c${kv.createRevision}/m${kv.modRevision}/v${kv.version}`;
}

/** A range response as plain, comparable data. */
export function rangeText(res: RangeResponse): { revision: number; count: number; more: boolean; kvs: string[] } {
  return { revision: res.header.revision, count: res.count, more: res.more, kvs: res.kvs.map(kvText) };
}

/** Every key of a machine, as text. */
export async function dump(machine: StateMachine): Promise<{ revision: number; count: number; more: boolean; kvs: string[] }> {
  return rangeText(await machine.range({ key: Uint8Array.of(0), rangeEnd: Uint8Array.of(0) }));
}
