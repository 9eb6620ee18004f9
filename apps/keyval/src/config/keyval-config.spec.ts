import { DEFAULT_CONNECTION_LIMITS, DEFAULT_H2_SERVER_LIMITS } from '@keyval/grpc';
import { SERVER_LIMIT_FLAGS } from '@keyval/ops';
import { parseKeyvalConfig, UsageError } from './keyval-config';

describe('keyval flags: the client port limits', () => {
  it('defaults to the HTTP/2 server defaults', () => {
    expect(parseKeyvalConfig([])?.serverLimits).toEqual({ ...DEFAULT_H2_SERVER_LIMITS, ...DEFAULT_CONNECTION_LIMITS });
  });

  it('has every limit flag, each setting its limit', () => {
    for (const { flag, key, unit } of SERVER_LIMIT_FLAGS) {
      const value = unit === 'ms' ? '3s' : unit === 'bytes' ? '100000' : '20';
      const limits = parseKeyvalConfig([flag, value])?.serverLimits as unknown as Record<string, number>;
      expect([flag, limits[key]]).toEqual([flag, unit === 'ms' ? 3000 : Number(value)]);
    }
  });

  it('takes etcd-style durations and KEYVAL_* variables', () => {
    const config = parseKeyvalConfig(['--grpc-keepalive-interval', '2h0m0s']);
    expect(config?.serverLimits.keepaliveIntervalMs).toBe(7_200_000);
    process.env['KEYVAL_MAX_CONCURRENT_STREAMS'] = '64';
    try {
      expect(parseKeyvalConfig([])?.serverLimits.maxConcurrentStreams).toBe(64);
    } finally {
      delete process.env['KEYVAL_MAX_CONCURRENT_STREAMS'];
    }
  });

  it.each([
    ['--max-concurrent-streams', '0', /--max-concurrent-streams: expected 1 to/],
    ['--stream-window-bytes', '100', /--stream-window-bytes: expected 65535 to/],
    ['--idle-timeout', 'soon', /--idle-timeout: expected milliseconds or a duration/],
    ['--max-connections-per-ip', 'many', /--max-connections-per-ip: expected a whole number/],
  ])('refuses %s %s, naming the flag', (flag, value, message) => {
    expect(() => parseKeyvalConfig([flag, value])).toThrow(UsageError);
    expect(() => parseKeyvalConfig([flag, value])).toThrow(message);
  });
});
