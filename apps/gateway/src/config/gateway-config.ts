/**
 * The gateway's command line: `--endpoints` (the members to start from) and
 * `--listen-client-urls` (where clients connect), plus tuning flags, each with a
 * KEYVAL_GATEWAY_* environment variable equivalent (flags win). Bad input is a UsageError;
 * main() prints it and exits 2.
 */
import { Command, CommanderError, Option } from 'commander';
import { UsageError, commaList, parseListenUrl, positiveInt } from '@keyval/ops';
import type { ListenUrl } from '@keyval/ops';

export { UsageError };
export type { ListenUrl };
import { authorityOf } from '@keyval/gateway-core';

export interface GatewayConfig {
  /** Member client addresses to start from (host:port). */
  readonly endpoints: readonly string[];
  readonly listenClientUrls: readonly ListenUrl[];
  readonly listenMetricsUrls: readonly ListenUrl[];
  readonly serializableReads: 'spread' | 'leader';
  readonly requestTimeoutMs: number;
  readonly maxInflight: number;
  readonly maxSessions: number;
  readonly statusIntervalMs: number;
  readonly memberListIntervalMs: number;
  readonly connectionsPerMember: number;
  /** Batches of writes in flight to a member at once; 0: every write is its own call. */
  readonly writeBatches: number;
  readonly writeBatchMax: number;
  readonly maxRequestBytes: number;
  readonly shutdownGraceMs: number;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
}

/** Environment variable of a flag: --listen-client-urls → KEYVAL_GATEWAY_LISTEN_CLIENT_URLS. */
export function envName(flag: string): string {
  return `KEYVAL_GATEWAY_${flag.replace(/^--/, '').replace(/-/g, '_').toUpperCase()}`;
}

const list = commaList;


function program(): Command {
  const opt = (flags: string, description: string, defaultValue?: string): Option => {
    const long = /--[a-z-]+/.exec(flags)?.[0] ?? flags;
    const o = new Option(flags, description).env(envName(long));
    return defaultValue === undefined ? o : o.default(defaultValue);
  };
  return new Command('keyval-gateway')
    .description('The KeyVal gateway: one stable etcd v3 endpoint that sends every request to the right member (writes and linearizable reads to the leader), retrying writes exactly once.')
    .addOption(opt('--endpoints <members>', 'comma-separated member client addresses to start from (host:port or http://host:port); the rest are discovered'))
    .addOption(opt('--listen-client-urls <urls>', 'comma-separated URLs to serve clients on', 'http://127.0.0.1:23790'))
    .addOption(opt('--listen-metrics-urls <urls>', 'comma-separated extra URLs serving /metrics, /health, /readyz, /livez and /version over HTTP (the client URLs serve them too)', ''))
    .addOption(opt('--serializable-reads <where>', '"spread" serializable reads over the members, or send them to the "leader"', 'spread'))
    .addOption(opt('--request-timeout <ms>', 'deadline of a request that brings none, ms', '5000'))
    .addOption(opt('--max-inflight <n>', 'requests in flight beyond which new ones are refused RESOURCE_EXHAUSTED', '10000'))
    .addOption(opt('--max-sessions <n>', 'exactly-once sessions the gateway keeps for writes that bring none (one write in flight each)', '1024'))
    .addOption(opt('--status-interval <ms>', 'how often every member is asked who leads, ms', '150'))
    .addOption(opt('--member-list-interval <ms>', 'how often the member list is refreshed, ms', '1000'))
    .addOption(opt('--upstream-connections <n>', 'HTTP/2 connections to each member', '2'))
    .addOption(opt('--write-batches <n>', 'batches of writes in flight to the leader at once (writes arriving meanwhile go together in the next); 0 sends every write as its own call', '1'))
    .addOption(opt('--write-batch-max <n>', 'most writes in one batch', '256'))
    .addOption(opt('--max-request-bytes <bytes>', 'largest client request accepted', String(2 * 1024 * 1024)))
    .addOption(opt('--shutdown-grace <ms>', 'on SIGTERM, how long requests in flight may take to finish, ms', '10000'))
    .addOption(opt('--log-level <level>', 'debug, info, warn or error', 'info'))
    .exitOverride()
    .configureOutput({ writeErr: () => undefined, writeOut: (s) => process.stdout.write(s) })
    .allowExcessArguments(false);
}

type Raw = Record<string, string | undefined>;

/**
 * Parses argv (without node and script; the environment supplies what flags leave out).
 * Returns undefined when --help printed and the process should exit 0. Throws UsageError.
 */
export function parseGatewayConfig(argv: readonly string[]): GatewayConfig | undefined {
  const cmd = program();
  try {
    cmd.parse([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return undefined;
      throw new UsageError(error.message.replace(/^error: /, ''));
    }
    throw error;
  }
  return resolve(cmd.opts<Raw>());
}

function resolve(raw: Raw): GatewayConfig {
  const s = (k: string): string => String(raw[k] ?? '');
  if (raw['endpoints'] === undefined || list(s('endpoints')).length === 0) {
    throw new UsageError(`--endpoints is required (or ${envName('--endpoints')}): the members' client addresses, e.g. 127.0.0.1:2379,127.0.0.1:22379`);
  }
  const endpoints = list(s('endpoints')).map((e) => {
    const authority = authorityOf(e);
    if (authority === undefined) {
      throw new UsageError(`--endpoints: ${JSON.stringify(e)} is not host:port or http://host:port`);
    }
    return authority;
  });
  const listenClientUrls = list(s('listenClientUrls')).map((u) => parseListenUrl(u, '--listen-client-urls'));
  if (listenClientUrls.length === 0) throw new UsageError('--listen-client-urls: give at least one URL');
  const serializableReads = s('serializableReads');
  if (serializableReads !== 'spread' && serializableReads !== 'leader') {
    throw new UsageError(`--serializable-reads: expected "spread" or "leader", got ${JSON.stringify(serializableReads)}`);
  }
  const logLevel = s('logLevel');
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) {
    throw new UsageError(`--log-level: expected debug, info, warn or error, got ${JSON.stringify(logLevel)}`);
  }
  return {
    endpoints: [...new Set(endpoints)],
    listenClientUrls,
    listenMetricsUrls: list(s('listenMetricsUrls')).map((u) => parseListenUrl(u, '--listen-metrics-urls')),
    serializableReads,
    requestTimeoutMs: positiveInt(s('requestTimeout'), '--request-timeout', 3_600_000),
    maxInflight: positiveInt(s('maxInflight'), '--max-inflight', 1_000_000),
    maxSessions: positiveInt(s('maxSessions'), '--max-sessions', 10_000),
    statusIntervalMs: positiveInt(s('statusInterval'), '--status-interval', 60_000),
    memberListIntervalMs: positiveInt(s('memberListInterval'), '--member-list-interval', 600_000),
    connectionsPerMember: positiveInt(s('upstreamConnections'), '--upstream-connections', 64),
    writeBatches: s('writeBatches') === '0' ? 0 : positiveInt(s('writeBatches'), '--write-batches', 64),
    writeBatchMax: positiveInt(s('writeBatchMax'), '--write-batch-max', 4_096),
    maxRequestBytes: positiveInt(s('maxRequestBytes'), '--max-request-bytes', 64 * 1024 * 1024),
    shutdownGraceMs: positiveInt(s('shutdownGrace'), '--shutdown-grace', 600_000),
    logLevel: logLevel as GatewayConfig['logLevel'],
  };
}
