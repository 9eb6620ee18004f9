/**
 * The `grpc-timeout` header: at most 8 ASCII digits then a unit, H(ours), M(inutes),
 * S(econds), m(illis), u(micros) or n(anos). A call's deadline is its arrival time plus it.
 * The header's full range reaches 99,999,999 hours; a timer takes at most 2^31-1 ms (about
 * 24.8 days), so longer timeouts are clamped to that: every deadline derived from one can be
 * timed without overflowing.
 */
import { GrpcStatusError } from './grpc-status.error';
import { GrpcStatus } from './status';

const UNIT_MS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 0.001, n: 0.000_001 };
const TIMEOUT_PATTERN = /^([0-9]{1,8})([HMSmun])$/;
/** Largest value the header may carry. */
const TIMEOUT_VALUE_MAX = 99_999_999;
/** Longest timeout parsed, ms: the longest delay a Node timer takes. */
export const GRPC_TIMEOUT_MS_MAX = 0x7fff_ffff;

/**
 * Parses a `grpc-timeout` value into milliseconds (fractional for u and n), clamped to
 * GRPC_TIMEOUT_MS_MAX. Throws GrpcStatusError(INTERNAL) for a malformed value, as gRPC
 * servers do.
 */
export function parseGrpcTimeout(value: string): number {
  const match = TIMEOUT_PATTERN.exec(value);
  if (match === null) {
    throw new GrpcStatusError(GrpcStatus.INTERNAL, `malformed grpc-timeout header ${JSON.stringify(value.slice(0, 32))}`);
  }
  return Math.min(GRPC_TIMEOUT_MS_MAX, Number(match[1]) * (UNIT_MS[match[2] as string] as number));
}

/**
 * Formats a timeout of `ms` milliseconds (> 0) with the finest unit that fits 8 digits,
 * rounding up so the server never sees a shorter timeout than the client keeps.
 */
export function formatGrpcTimeout(ms: number): string {
  if (!(ms > 0) || !Number.isFinite(ms)) {
    throw new RangeError(`timeout ${ms} ms is not a positive finite number`);
  }
  for (const unit of ['u', 'm', 'S', 'M', 'H'] as const) {
    const value = Math.ceil(ms / (UNIT_MS[unit] as number));
    if (value <= TIMEOUT_VALUE_MAX) {
      return `${value}${unit}`;
    }
  }
  return `${TIMEOUT_VALUE_MAX}H`;
}
