import { GrpcStatusError } from './grpc-status.error';
import { GrpcStatus } from './status';
import { formatGrpcTimeout, GRPC_TIMEOUT_MS_MAX, parseGrpcTimeout } from './timeout';

describe('grpc-timeout', () => {
  it.each([
    ['1H', 3_600_000],
    ['2M', 120_000],
    ['3S', 3_000],
    ['250m', 250],
    ['1500u', 1.5],
    ['2000000n', 2],
    ['0m', 0],
    ['2147483S', 2_147_483_000],
    ['596H', 2_145_600_000],
  ])('parses %s as %d ms', (value, ms) => {
    expect(parseGrpcTimeout(value)).toBeCloseTo(ms, 9);
  });

  it.each(['597H', '2147484S', '99999999S', '99999999H', '35792M'])('clamps %s, over 2^31-1 ms, to what a timer takes', (value) => {
    expect(parseGrpcTimeout(value)).toBe(GRPC_TIMEOUT_MS_MAX);
  });

  it.each(['', '5', 'm', '123456789m', '-5m', '5 m', '5x', '1.5S', '5mm'])('refuses %j with INTERNAL', (value) => {
    let caught: unknown;
    try {
      parseGrpcTimeout(value);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(GrpcStatusError);
    expect((caught as GrpcStatusError).code).toBe(GrpcStatus.INTERNAL);
  });

  it.each([
    [0.001, '1u'],
    [1.5, '1500u'],
    [5_000, '5000000u'],
    [100_000, '100000m'],
    [1e9, '1000000S'],
    [1e12, '16666667M'],
  ])('formats %d ms as %s, never shorter (beyond what a timer takes: clamped)', (ms, value) => {
    expect(formatGrpcTimeout(ms)).toBe(value);
    expect(parseGrpcTimeout(value)).toBeGreaterThanOrEqual(Math.min(ms, GRPC_TIMEOUT_MS_MAX));
  });

  it('refuses to format a timeout that is not positive', () => {
    expect(() => formatGrpcTimeout(0)).toThrow(RangeError);
    expect(() => formatGrpcTimeout(Number.NaN)).toThrow(RangeError);
  });
});
