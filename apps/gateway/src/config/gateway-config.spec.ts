import { DEFAULT_CONNECTION_LIMITS, DEFAULT_H2_SERVER_LIMITS } from '@keyval/grpc';
import { parseGatewayConfig, UsageError } from './gateway-config';

const base = ['--endpoints', '127.0.0.1:2379'];

describe('gateway flags: the client port limits', () => {
  it('defaults to the HTTP/2 server defaults', () => {
    expect(parseGatewayConfig(base)?.serverLimits).toEqual({ ...DEFAULT_H2_SERVER_LIMITS, ...DEFAULT_CONNECTION_LIMITS });
  });

  it('takes the same flags as the member, and KEYVAL_GATEWAY_* variables', () => {
    const config = parseGatewayConfig([...base, '--max-concurrent-streams', '100', '--grpc-keepalive-timeout', '10s', '--max-connections-per-ip', '5']);
    expect(config?.serverLimits).toMatchObject({ maxConcurrentStreams: 100, keepaliveTimeoutMs: 10_000, maxConnectionsPerAddress: 5 });
    process.env['KEYVAL_GATEWAY_IDLE_TIMEOUT'] = '1m';
    try {
      expect(parseGatewayConfig(base)?.serverLimits.idleTimeoutMs).toBe(60_000);
    } finally {
      delete process.env['KEYVAL_GATEWAY_IDLE_TIMEOUT'];
    }
  });

  it('refuses a limit out of range, naming the flag', () => {
    expect(() => parseGatewayConfig([...base, '--max-queued-control-frames', '1'])).toThrow(UsageError);
    expect(() => parseGatewayConfig([...base, '--max-queued-control-frames', '1'])).toThrow(/--max-queued-control-frames: expected 16 to/);
  });
});
