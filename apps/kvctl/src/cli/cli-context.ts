/**
 * What every kvctl command shares: the global flags (--endpoints or KEYVAL_ENDPOINTS, -o,
 * --timeout, --dial-timeout), validated once; the cluster client, created on first use and
 * closed when the command ends; and where output goes.
 */
import * as fs from 'node:fs';
import * as tls from 'node:tls';
import type { Command } from 'commander';
import { anyHttps, DEFAULT_ENDPOINTS, parseEndpoints } from '../client/endpoints';
import { type ClientTlsOptions, GrpcStatus, GrpcStatusError } from '@keyval/grpc';
import { KeyvalClient, NoLeaderError } from '../client/keyval-client';
import { OUTPUT_FORMATS, renderJson, renderTable } from '../output/format';
import type { OutputFormat } from '../output/format';
import { UsageError } from './cli-errors';
import { REASONS, outcomeOf } from '@keyval/outcome';

export interface GlobalOptions {
  readonly endpoints: readonly string[];
  readonly output: OutputFormat;
  /** Deadline of the command's cluster calls, ms. */
  readonly timeoutMs: number;
  /** An endpoint that does not accept a connection within this is unreachable, ms. */
  readonly dialTimeoutMs: number;
  /** TLS, as etcdctl: when --cacert, --cert, --insecure-skip-tls-verify or an https:// endpoint is given. */
  readonly tls: ClientTlsOptions | undefined;
}

interface RawGlobals {
  endpoints?: string;
  output?: string;
  timeout?: string;
  dialTimeout?: string;
  cacert?: string;
  cert?: string;
  key?: string;
  insecureSkipTlsVerify?: boolean;
}

/** The TLS of --cacert, --cert, --key and --insecure-skip-tls-verify (files read once: a command is short). */
function tlsOf(raw: RawGlobals): ClientTlsOptions | undefined {
  const https = raw.endpoints !== undefined && anyHttps(raw.endpoints);
  if (raw.cacert === undefined && raw.cert === undefined && raw.key === undefined && raw.insecureSkipTlsVerify !== true && !https) {
    return undefined;
  }
  if ((raw.cert === undefined) !== (raw.key === undefined)) {
    throw new UsageError('--cert and --key go together');
  }
  const read = (file: string, flag: string): Buffer => {
    try {
      return fs.readFileSync(file);
    } catch (error) {
      throw new UsageError(`${flag}: cannot read ${file}: ${(error as Error).message}`);
    }
  };
  let context: tls.SecureContext;
  try {
    context = tls.createSecureContext({
      ca: raw.cacert === undefined ? undefined : read(raw.cacert, '--cacert'),
      cert: raw.cert === undefined ? undefined : read(raw.cert, '--cert'),
      key: raw.key === undefined ? undefined : read(raw.key, '--key'),
    });
  } catch (error) {
    throw new UsageError(`--cert/--key/--cacert: ${(error as Error).message}`);
  }
  return { secureContext: () => context, verifyServer: raw.insecureSkipTlsVerify !== true };
}

/** Where a command writes (process streams, or buffers in tests). */
export interface CliIo {
  readonly stdout: { write(text: string): unknown; readonly isTTY?: boolean };
  readonly stderr: { write(text: string): unknown; readonly isTTY?: boolean };
}

/** Most milliseconds any timeout flag accepts (a day). */
const TIMEOUT_MAX_MS = 24 * 3600 * 1000;

/** Parses a duration flag: a whole number of ms, or with a unit (500ms, 5s, 2m). */
export function parseDurationMs(text: string, flag: string): number {
  const match = /^(\d+)(ms|s|m)?$/.exec(text.trim());
  const value = match === null ? NaN : Number(match[1]) * (match[2] === 's' ? 1000 : match[2] === 'm' ? 60_000 : 1);
  if (!Number.isSafeInteger(value) || value <= 0 || value > TIMEOUT_MAX_MS) {
    throw new UsageError(`${flag}: expected a duration such as 5000, 5s or 1m (at most a day), got ${JSON.stringify(text)}`);
  }
  return value;
}

/** Parses a whole-number flag within [min, max]. */
export function parseIntFlag(text: string, flag: string, min: number, max: number): number {
  const value = /^\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`${flag}: expected a whole number from ${min} to ${max}, got ${JSON.stringify(text)}`);
  }
  return value;
}

export class CliContext {
  private clientInstance: KeyvalClient | undefined;

  constructor(readonly io: CliIo) {}

  /** The validated global flags as `cmd` sees them. */
  globals(cmd: Command): GlobalOptions {
    const raw = cmd.optsWithGlobals<RawGlobals>();
    const output = raw.output ?? 'table';
    if (!(OUTPUT_FORMATS as readonly string[]).includes(output)) {
      throw new UsageError(`-o/--output: expected ${OUTPUT_FORMATS.join(', ')}, got ${JSON.stringify(output)}`);
    }
    return {
      endpoints: raw.endpoints === undefined ? [...DEFAULT_ENDPOINTS] : parseEndpoints(raw.endpoints),
      output: output as OutputFormat,
      timeoutMs: parseDurationMs(raw.timeout ?? '5000', '--timeout'),
      dialTimeoutMs: parseDurationMs(raw.dialTimeout ?? '2000', '--dial-timeout'),
      tls: tlsOf(raw),
    };
  }

  /** The cluster client for `cmd`'s flags (one per run). */
  client(cmd: Command, timeoutMs?: number): KeyvalClient {
    if (this.clientInstance === undefined) {
      const g = this.globals(cmd);
      this.clientInstance = new KeyvalClient({ endpoints: g.endpoints, timeoutMs: timeoutMs ?? g.timeoutMs, dialTimeoutMs: g.dialTimeoutMs, tls: g.tls });
    }
    return this.clientInstance;
  }

  out(text: string): void {
    this.io.stdout.write(text);
  }

  /** Prints `value` as JSON, or `rows` under `header` as a table, as -o says. */
  print(cmd: Command, value: unknown, header: readonly string[], rows: readonly (readonly string[])[]): void {
    this.out(this.globals(cmd).output === 'json' ? renderJson(value) : renderTable(header, rows));
  }

  /**
   * A clearer error for a failed command: a timeout or unavailability while the members that
   * answer know no leader becomes NoLeaderError.
   */
  async explain(error: unknown): Promise<unknown> {
    const client = this.clientInstance;
    const vague = error instanceof GrpcStatusError && (error.code === GrpcStatus.DEADLINE_EXCEEDED || (error.code === GrpcStatus.UNAVAILABLE && outcomeOf(error).reason !== REASONS.noLeader));
    if (client !== undefined && vague && (await client.noLeader())) {
      return new NoLeaderError(error);
    }
    return error;
  }

  close(): void {
    this.clientInstance?.close();
    this.clientInstance = undefined;
  }
}
