/**
 * Small helpers over the lean etcd KV client for the integration tests: string keys, prefix
 * ranges, reading back what was acknowledged, and capturing a call's gRPC failure.
 */
import { GrpcStatusError, statusName } from '@keyval/grpc';
import type { GrpcStatus } from '@keyval/grpc';
import { etcd } from '@keyval/proto';
import type { TestMember } from './member-process';

export function bytes(text: string): Buffer {
  return Buffer.from(text, 'utf8');
}

/** The range_end that makes `[prefix, end)` every key starting with `prefix` (etcd's GetPrefixRangeEnd). */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/** A call's gRPC failure, and how long it took to fail. */
export interface CallFailure {
  readonly error: GrpcStatusError;
  readonly code: GrpcStatus;
  readonly codeName: string;
  readonly elapsedMs: number;
}

/** Awaits `call`, which must fail with a GrpcStatusError; throws if it succeeded or failed otherwise. */
export async function grpcFailure(call: Promise<unknown>): Promise<CallFailure> {
  const started = performance.now();
  try {
    await call;
  } catch (error) {
    if (error instanceof GrpcStatusError) {
      return { error, code: error.code, codeName: statusName(error.code), elapsedMs: Math.round(performance.now() - started) };
    }
    throw error;
  }
  throw new Error('the call succeeded, but a gRPC error was expected');
}

/** Every key and value under `prefix`, read from `member` (linearizable unless `serializable`). */
export async function readPrefix(member: TestMember, prefix: string, options: { serializable?: boolean; timeoutMs?: number } = {}): Promise<Map<string, string>> {
  const key = bytes(prefix);
  const request = etcd.RangeRequest.fromPartial({ key, rangeEnd: prefixEnd(key), serializable: options.serializable ?? false });
  const response = await member.kv().range(request, { timeoutMs: options.timeoutMs ?? 5_000 });
  return new Map(response.kvs.map((kv) => [kv.key.toString('utf8'), kv.value.toString('utf8')]));
}

/** The acknowledged writes missing from `found` (or found with another value), as "key=value" lines. */
export function missingWrites(acknowledged: ReadonlyMap<string, string>, found: ReadonlyMap<string, string>): string[] {
  const missing: string[] = [];
  for (const [key, value] of acknowledged) {
    if (found.get(key) !== value) {
      missing.push(`${key}=${value} (found ${String(found.get(key))})`);
    }
  }
  return missing;
}

/** Every key under `prefix` with its value and version (how many times it was written since created). */
export async function readPrefixVersions(member: TestMember, prefix: string, timeoutMs = 5_000): Promise<Map<string, { value: string; version: bigint }>> {
  const key = bytes(prefix);
  const response = await member.kv().range(etcd.RangeRequest.fromPartial({ key, rangeEnd: prefixEnd(key) }), { timeoutMs });
  return new Map(response.kvs.map((kv) => [kv.key.toString('utf8'), { value: kv.value.toString('utf8'), version: kv.version }]));
}
