/**
 * The client-facing server's limits as command-line flags, the same on the member and the
 * gateway (each app gives its own environment-variable prefix and passes the defaults of
 * @keyval/grpc, whose limits these are: docs/security.md lists them). Times take milliseconds
 * or a Go-style duration as etcd's keepalive flags do ("2h", "20s", "1m30s", "500ms").
 */
import type { Command, Option } from 'commander';
import { UsageError } from './cli-values';

export interface ServerLimitFlag {
  /** The flag, e.g. --max-concurrent-streams. */
  readonly flag: string;
  /** The option of GrpcServer it sets. */
  readonly key: string;
  readonly unit: 'count' | 'bytes' | 'ms';
  readonly description: string;
}

export const SERVER_LIMIT_FLAGS: readonly ServerLimitFlag[] = [
  { flag: '--max-concurrent-streams', key: 'maxConcurrentStreams', unit: 'count', description: 'HTTP/2 streams per client connection (calls whose client reset them count until their handler ends)' },
  { flag: '--max-connections', key: 'maxConnections', unit: 'count', description: 'client connections in total; at the limit one still in its handshake makes room, else the new one is refused' },
  { flag: '--max-connections-per-ip', key: 'maxConnectionsPerAddress', unit: 'count', description: 'client connections from one IP address' },
  { flag: '--max-header-list-bytes', key: 'maxHeaderListBytes', unit: 'bytes', description: 'largest request header list (metadata); larger: RESOURCE_EXHAUSTED' },
  { flag: '--max-continuation-frames', key: 'maxContinuationFrames', unit: 'count', description: 'CONTINUATION frames after one HEADERS frame; more ends the connection (ENHANCE_YOUR_CALM)' },
  { flag: '--stream-window-bytes', key: 'streamWindowBytes', unit: 'bytes', description: 'HTTP/2 receive window of each stream' },
  { flag: '--connection-window-bytes', key: 'connectionWindowBytes', unit: 'bytes', description: 'HTTP/2 receive window of a connection: the request bytes one connection can make the server hold' },
  { flag: '--stream-reset-burst', key: 'resetBurst', unit: 'count', description: 'streams a connection may reset, or have refused, at once...' },
  { flag: '--stream-reset-rate', key: 'resetRatePerSecond', unit: 'count', description: '...and per second after that; beyond it the connection ends (ENHANCE_YOUR_CALM)' },
  { flag: '--max-queued-control-frames', key: 'maxQueuedControlFrames', unit: 'count', description: 'PING/SETTINGS acknowledgements and resets queued for a client that does not read, before it is cut off' },
  { flag: '--stream-send-buffer-bytes', key: 'streamSendBufferBytes', unit: 'bytes', description: 'response bytes queued on one stream before a streaming handler waits' },
  { flag: '--connection-send-buffer-bytes', key: 'connectionSendBufferBytes', unit: 'bytes', description: 'response bytes queued on one connection: above it new streams are refused, and reading stops while the socket is that far behind' },
  { flag: '--handshake-timeout', key: 'handshakeTimeoutMs', unit: 'ms', description: 'time for a new connection to finish TLS, the HTTP/2 preface and SETTINGS' },
  { flag: '--request-headers-timeout', key: 'requestHeadersTimeoutMs', unit: 'ms', description: 'time for a request header block, once started, to be complete' },
  { flag: '--request-body-timeout', key: 'requestBodyTimeoutMs', unit: 'ms', description: 'time for a unary request to arrive whole after its headers (0: none)' },
  { flag: '--idle-timeout', key: 'idleTimeoutMs', unit: 'ms', description: 'a client connection without calls, or whose calls make no progress, this long is closed (0: never)' },
  { flag: '--grpc-keepalive-interval', key: 'keepaliveIntervalMs', unit: 'ms', description: 'after this long without a frame from a client, the server pings it (0: never)' },
  { flag: '--grpc-keepalive-timeout', key: 'keepaliveTimeoutMs', unit: 'ms', description: 'a ping unanswered, or bytes a client has not taken, for this long closes its connection' },
  { flag: '--grpc-keepalive-min-time', key: 'keepaliveMinTimeMs', unit: 'ms', description: 'pings from a client closer together than this (with no response data between) are strikes; the third closes the connection' },
  { flag: '--goaway-grace', key: 'goawayGraceMs', unit: 'ms', description: 'after the server says GOAWAY, how long a client has to close before its socket is destroyed' },
];

/** Milliseconds, or a Go-style duration: one or more of <number><h|m|s|ms|us|µs|ns>. */
export function parseDurationMs(value: string, flag: string): number {
  if (/^\d+$/.test(value)) {
    return Number(value);
  }
  const unitMs: Readonly<Record<string, number>> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, µs: 0.001, ns: 0.000_001 };
  const part = /(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/gy;
  let total = 0;
  let at = 0;
  for (let match = part.exec(value); match !== null; match = part.exec(value)) {
    total += Number(match[1]) * (unitMs[match[2] as string] as number);
    at = part.lastIndex;
  }
  if (value.length === 0 || at !== value.length) {
    throw new UsageError(`${flag}: expected milliseconds or a duration like 2h, 20s, 1m30s or 500ms, got ${JSON.stringify(value)}`);
  }
  return Math.round(total);
}

/** The option key commander gives a flag (--max-connections-per-ip → maxConnectionsPerIp). */
function optionKey(flag: string): string {
  return flag.replace(/^--/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/**
 * Adds every server limit flag to `command`. `makeOption` builds an option as the app does
 * (with its environment variable); `defaults` holds the value of each limit by key.
 */
export function addServerLimitFlags(command: Command, makeOption: (flags: string, description: string, defaultValue?: string) => Option, defaults: Readonly<Record<string, number>>): Command {
  for (const { flag, key, unit, description } of SERVER_LIMIT_FLAGS) {
    const value = defaults[key];
    if (value === undefined) {
      throw new Error(`no default for the server limit ${key}`);
    }
    const placeholder = unit === 'ms' ? '<ms|duration>' : unit === 'bytes' ? '<bytes>' : '<n>';
    command.addOption(makeOption(`${flag} ${placeholder}`, `${description}${unit === 'ms' ? ', ms' : ''}`, String(value)));
  }
  return command;
}

/** What a range check throws for a limit out of range (GrpcServer's LimitOutOfRangeError has these fields). */
interface OutOfRange {
  readonly limit: string;
  readonly min: number;
  readonly max: number;
}

/**
 * The limits as parsed options hold them, by GrpcServer key, checked by `check` (the server's
 * own range check). Throws UsageError naming the flag.
 */
export function parseServerLimits(raw: Readonly<Record<string, unknown>>, check: (limits: Record<string, number>) => void): Record<string, number> {
  const limits = readServerLimits(raw);
  try {
    check(limits);
  } catch (error) {
    const limit = (error as Partial<OutOfRange>).limit;
    const flag = SERVER_LIMIT_FLAGS.find((f) => f.key === limit);
    if (flag === undefined) {
      throw error;
    }
    const { min, max } = error as OutOfRange;
    throw new UsageError(`${flag.flag}: expected ${min} to ${max}${flag.unit === 'ms' ? ' ms' : ''}, got ${limits[flag.key]}`);
  }
  return limits;
}

function readServerLimits(raw: Readonly<Record<string, unknown>>): Record<string, number> {
  const limits: Record<string, number> = {};
  for (const { flag, key, unit } of SERVER_LIMIT_FLAGS) {
    const value = String(raw[optionKey(flag)] ?? '');
    if (unit === 'ms') {
      limits[key] = parseDurationMs(value, flag);
    } else if (/^\d+$/.test(value) && Number.isSafeInteger(Number(value))) {
      limits[key] = Number(value);
    } else {
      throw new UsageError(`${flag}: expected a whole number, got ${JSON.stringify(value)}`);
    }
  }
  return limits;
}
