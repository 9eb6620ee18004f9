/**
 * The member's command line: etcd's flag names (so etcd users feel at home), each with a
 * KEYVAL_* environment variable equivalent (flags win). Bad input is a UsageError; main()
 * prints it and exits 2.
 */
import { Command, CommanderError, Option } from 'commander';
import { checkLimits, type ConnectionLimits, DEFAULT_CONNECTION_LIMITS, DEFAULT_H2_SERVER_LIMITS, type H2ServerLimits } from '@keyval/grpc';
import { UsageError, addServerLimitFlags, checkCertificateFlags, parseListenUrl, parseListenUrls, parseServerLimits, parseTlsPolicy, positiveInt } from '@keyval/ops';
import type { TlsPolicyFlags } from '@keyval/ops';
import type { ListenUrl } from '@keyval/ops';
import { CompactionRetentionError, PodIdentityError, parseCompactionRetention, parseGoDuration, podIdentity, resolveQuotaBackendBytes } from '@keyval/cluster';
import type { AutoCompactionOptions, PodIdentity, PodSettings } from '@keyval/cluster';

export { UsageError };

/** A listen URL split for listening (see @keyval/ops). */
export type UrlHostPort = ListenUrl;

export interface KeyvalConfig {
  readonly name: string;
  readonly dataDir: string;
  readonly listenClientUrls: readonly UrlHostPort[];
  readonly advertiseClientUrls: readonly string[];
  readonly listenPeerUrl: UrlHostPort;
  readonly initialAdvertisePeerUrls: readonly string[];
  readonly initialCluster: readonly { name: string; peerUrls: string[] }[];
  readonly initialClusterState: 'new' | 'existing';
  readonly initialClusterToken: string;
  readonly heartbeatMs: number;
  readonly electionMs: number;
  readonly tickMs: number;
  readonly listenMetricsUrls: readonly UrlHostPort[];
  readonly maxRequestBytes: number;
  readonly maxTxnOps: number;
  readonly snapshotCount: number;
  readonly snapshotCatchupEntries: number;
  readonly leaseReads: boolean;
  readonly requestTimeoutMs: number;
  readonly learnerPromoteLag: number;
  readonly autoPromoteLearners: boolean;
  /** --auto-compaction-mode/--auto-compaction-retention; undefined when the retention is 0. */
  readonly autoCompaction: AutoCompactionOptions | undefined;
  /** --quota-backend-bytes, resolved (0 given: etcd's 2 GiB default). */
  readonly quotaBackendBytes: number;
  /** --experimental-watch-progress-notify-interval, ms. */
  readonly watchProgressNotifyIntervalMs: number;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** --verify-data: check the data dir offline, print a report, exit. */
  readonly verifyData: boolean;
  /** The client port's HTTP/2 limits (--max-concurrent-streams, --idle-timeout, ...: docs/security.md). */
  readonly serverLimits: H2ServerLimits & ConnectionLimits;
  /** TLS for clients (--cert-file, --key-file, --trusted-ca-file, --client-cert-auth): served on https:// client URLs. */
  readonly clientTls: TlsSide | undefined;
  /** TLS between members (--peer-cert-file, ...): used when the peer URLs are https://. */
  readonly peerTls: TlsSide | undefined;
  /** --tls-min-version and --cipher-suites, for both. */
  readonly tlsPolicy: TlsPolicyFlags;
  /**
   * --pod-name given: the member runs in a Kubernetes StatefulSet pod; its name, advertised
   * URLs and initial cluster above are derived from it (libs/cluster pod-identity.ts), and
   * whether it bootstraps, resumes or joins is decided at start (pod-bootstrap.ts).
   */
  readonly pod?: PodIdentity;
}

/** One side's certificate files, as etcd's flags name them. */
export interface TlsSide {
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string | undefined;
  /** Refuse connections without a certificate the CA bundle verifies. */
  readonly clientCertAuth: boolean;
}


function parseInitialCluster(value: string): { name: string; peerUrls: string[] }[] {
  const byName = new Map<string, string[]>();
  for (const part of value.split(',').map((p) => p.trim()).filter((p) => p.length > 0)) {
    const eq = part.indexOf('=');
    if (eq <= 0) {
      throw new UsageError(`--initial-cluster: ${JSON.stringify(part)} is not name=url`);
    }
    const name = part.slice(0, eq);
    const url = parseListenUrl(part.slice(eq + 1), '--initial-cluster').url;
    byName.set(name, [...(byName.get(name) ?? []), url]);
  }
  if (byName.size === 0) {
    throw new UsageError('--initial-cluster names no member');
  }
  return [...byName].map(([name, peerUrls]) => ({ name, peerUrls }));
}

/** The largest tick length (ms, at most 10) that divides the heartbeat interval. */
export function tickFor(heartbeatMs: number): number {
  for (let t = Math.min(10, heartbeatMs); t > 1; t--) {
    if (heartbeatMs % t === 0) return t;
  }
  return 1;
}

function program(): Command {
  const env = (flag: string): string => `KEYVAL_${flag.replace(/-/g, '_').toUpperCase()}`;
  const opt = (flags: string, description: string, defaultValue?: string): Option => {
    const long = /--([a-z-]+)/.exec(flags)?.[1] ?? flags;
    const o = new Option(flags, description).env(env(long));
    return defaultValue === undefined ? o : o.default(defaultValue);
  };
  const command = new Command('keyval')
    .description('A KeyVal member: a Raft-replicated key-value store serving the etcd v3 API.')
    .addOption(opt('--name <name>', 'human-readable name of this member', 'default'))
    .addOption(opt('--data-dir <path>', 'directory for the write-ahead log, the database and snapshots (default: data/<name>)'))
    .addOption(opt('--listen-client-urls <urls>', 'comma-separated URLs to serve clients on', 'http://127.0.0.1:2379'))
    .addOption(opt('--advertise-client-urls <urls>', 'client URLs to tell the rest of the cluster (default: --listen-client-urls)'))
    .addOption(opt('--listen-peer-urls <url>', 'URL to serve peers on', 'http://127.0.0.1:2380'))
    .addOption(opt('--initial-advertise-peer-urls <urls>', 'peer URLs to tell the rest of the cluster (default: --listen-peer-urls)'))
    .addOption(opt('--initial-cluster <members>', 'initial members, name=peer-url,... (ignored once the data dir exists)'))
    .addOption(opt('--initial-cluster-state <state>', '"new" to bootstrap a cluster, "existing" to join one', 'new'))
    .addOption(opt('--initial-cluster-token <token>', 'a token distinguishing this cluster during bootstrap', 'keyval-cluster'))
    .addOption(opt('--heartbeat-interval <ms>', 'time between leader heartbeats, ms', '50'))
    .addOption(opt('--election-timeout <ms>', 'election timeout, ms (randomized up to twice that)', '150'))
    .addOption(opt('--listen-metrics-urls <urls>', 'comma-separated extra URLs serving /metrics, /health, /readyz, /livez and /version over HTTP (the client URLs serve them too)', ''))
    .addOption(opt('--max-request-bytes <bytes>', 'largest client request accepted', String(1.5 * 1024 * 1024)))
    .addOption(opt('--max-txn-ops <n>', 'most operations in one txn', '128'))
    .addOption(opt('--snapshot-count <n>', 'applied entries between two snapshots', '10000'))
    .addOption(opt('--snapshot-catchup-entries <n>', 'entries kept behind a snapshot for slow followers', '5000'))
    .addOption(opt('--lease-reads', 'serve linearizable reads under the leader lease (no heartbeat round per read)'))
    .addOption(opt('--request-timeout <ms>', 'deadline of a client request that brings none, ms', '5000'))
    .addOption(opt('--learner-promote-lag <entries>', 'a learner within this many entries of the leader counts as caught up', '1000'))
    .addOption(opt('--no-auto-promote-learners', 'do not promote caught-up learners automatically (use kvctl member promote)'))
    .addOption(opt('--auto-compaction-mode <mode>', '"periodic" (keep the history of the last retention period) or "revision" (keep the last retention revisions)', 'periodic'))
    .addOption(opt('--auto-compaction-retention <retention>', 'periodic: hours as a number or a duration (30m, 1h30m); revision: a number of revisions; 0 never compacts', '0'))
    .addOption(opt('--quota-backend-bytes <bytes>', 'raise a NOSPACE alarm (and refuse the writes that add data) when the database would exceed this size on disk; 0 is etcd\'s default, 2 GiB (above 8 GiB a warning is logged)', '0'))
    .addOption(opt('--experimental-watch-progress-notify-interval <duration>', 'how often watchers that asked for progress notifications hear the revision when nothing changed (etcd\'s flag)', '10m'))
    .addOption(opt('--log-level <level>', 'debug, info, warn or error', 'info'))
    .addOption(opt('--verify-data', 'check the data dir offline (checksums, structure), print a report and exit'))
    .addOption(opt('--cert-file <path>', 'certificate served to clients on https:// client URLs (re-read when the file changes); also presented when forwarding to another member'))
    .addOption(opt('--key-file <path>', 'key of --cert-file'))
    .addOption(opt('--trusted-ca-file <path>', 'CA bundle that verifies client certificates, which it then requires (as etcd 3.4 does; also verifies other members on https:// client URLs)'))
    .addOption(opt('--client-cert-auth', 'refuse clients without a certificate signed by --trusted-ca-file'))
    .addOption(opt('--peer-cert-file <path>', 'certificate between members (server and client), when the peer URLs are https://'))
    .addOption(opt('--peer-key-file <path>', 'key of --peer-cert-file'))
    .addOption(opt('--peer-trusted-ca-file <path>', 'CA bundle that verifies other members, whose certificates it then requires'))
    .addOption(opt('--peer-client-cert-auth', 'refuse members without a certificate signed by --peer-trusted-ca-file'))
    .addOption(opt('--cipher-suites <list>', 'comma-separated TLS 1.2 cipher suites (IANA names, as etcd); default Node\'s'))
    .addOption(opt('--tls-min-version <version>', 'TLS1.2 or TLS1.3', 'TLS1.2'))
    .addOption(opt('--pod-name <name>', 'run as pod <statefulset>-<ordinal> of a Kubernetes StatefulSet: name, advertised URLs and initial cluster derive from it (see docs/deploy.md)'))
    .addOption(opt('--pod-namespace <namespace>', 'with --pod-name: the pod\'s namespace', 'default'))
    .addOption(opt('--peer-service <name>', 'with --pod-name: the headless Service governing the StatefulSet'))
    .addOption(opt('--cluster-domain <domain>', 'with --pod-name: the Kubernetes cluster\'s DNS domain', 'cluster.local'))
    .addOption(opt('--initial-cluster-size <n>', 'with --pod-name: the replica count the cluster is created with (ordinals below it bootstrap it; higher ones join)'));
  return addServerLimitFlags(command, opt, { ...DEFAULT_H2_SERVER_LIMITS, ...DEFAULT_CONNECTION_LIMITS })
    .exitOverride()
    .configureOutput({ writeErr: () => undefined, writeOut: (s) => process.stdout.write(s) })
    .allowExcessArguments(false);
}

type Raw = Record<string, string | boolean | undefined>;

/**
 * Parses argv (without node and script). Returns undefined when --help or --version printed
 * and the process should exit 0. Throws UsageError.
 */
export function parseKeyvalConfig(argv: readonly string[]): KeyvalConfig | undefined {
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
  const given = (key: string): boolean => ['cli', 'env'].includes(String(cmd.getOptionValueSource(key)));
  return resolve(cmd.opts<Raw>(), given);
}

function resolve(raw: Raw, given: (key: string) => boolean): KeyvalConfig {
  const s = (k: string): string => String(raw[k] ?? '');
  const name = raw['podName'] === undefined ? s('name') : s('podName');
  if (!/^[A-Za-z0-9._-]{1,63}$/.test(name)) {
    throw new UsageError(`--name: ${JSON.stringify(name)} must be 1-63 letters, digits, dots, dashes or underscores`);
  }
  const pod = raw['podName'] === undefined ? undefined : resolvePod(raw, given);
  const listenPeers = parseListenUrls(s('listenPeerUrls'), '--listen-peer-urls');
  const listenPeer = listenPeers[0];
  if (listenPeer === undefined || listenPeers.length !== 1) {
    throw new UsageError('--listen-peer-urls: give exactly one URL');
  }
  const listenClient = parseListenUrls(s('listenClientUrls'), '--listen-client-urls');
  if (listenClient.length === 0) throw new UsageError('--listen-client-urls: give at least one URL');
  const advertisePeer = raw['initialAdvertisePeerUrls'] === undefined ? [listenPeer.url] : parseListenUrls(s('initialAdvertisePeerUrls'), '--initial-advertise-peer-urls').map((u) => u.url);
  const advertiseClient = raw['advertiseClientUrls'] === undefined ? listenClient.map((u) => u.url) : parseListenUrls(s('advertiseClientUrls'), '--advertise-client-urls').map((u) => u.url);
  const firstClient = listenClient[0] as UrlHostPort;
  // The derived URLs follow the listen URLs' schemes (https:// needs the certificate flags: tlsSides).
  const identity = pod?.({ peerPort: listenPeer.port, clientPort: firstClient.port, peerScheme: listenPeer.secure ? 'https' : 'http', clientScheme: firstClient.secure ? 'https' : 'http' });
  const state = s('initialClusterState');
  if (state !== 'new' && state !== 'existing') {
    throw new UsageError(`--initial-cluster-state: expected "new" or "existing", got ${JSON.stringify(state)}`);
  }
  const heartbeatMs = positiveInt(s('heartbeatInterval'), '--heartbeat-interval');
  const electionMs = positiveInt(s('electionTimeout'), '--election-timeout');
  if (electionMs < 3 * heartbeatMs) {
    throw new UsageError(`--election-timeout (${electionMs} ms) must be at least 3 times --heartbeat-interval (${heartbeatMs} ms)`);
  }
  const logLevel = s('logLevel');
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) {
    throw new UsageError(`--log-level: expected debug, info, warn or error, got ${JSON.stringify(logLevel)}`);
  }
  const initialCluster = identity?.initialCluster.map((m) => ({ name: m.name, peerUrls: [...m.peerUrls] })) ?? (raw['initialCluster'] === undefined ? [{ name, peerUrls: advertisePeer }] : parseInitialCluster(s('initialCluster')));
  if (parseListenUrls(s('listenMetricsUrls'), '--listen-metrics-urls').some((u) => u.secure)) {
    throw new UsageError('--listen-metrics-urls: only http:// (health and metrics over TLS: see docs/security.md)');
  }
  const maxRequestBytes = positiveInt(s('maxRequestBytes'), '--max-request-bytes');
  const autoCompaction = parseAutoCompaction(s('autoCompactionMode'), s('autoCompactionRetention'));
  const quotaBackendBytes = parseQuotaBackendBytes(s('quotaBackendBytes'));
  const watchProgressNotifyIntervalMs = parseDurationFlag(s('experimentalWatchProgressNotifyInterval'), '--experimental-watch-progress-notify-interval');
  if (maxRequestBytes > 64 * 1024 * 1024) throw new UsageError('--max-request-bytes: at most 64 MiB');
  return {
    name,
    dataDir: raw['dataDir'] === undefined ? `data/${name}` : s('dataDir'),
    listenClientUrls: listenClient,
    advertiseClientUrls: identity === undefined ? advertiseClient : [identity.clientUrl],
    listenPeerUrl: listenPeer,
    initialAdvertisePeerUrls: identity === undefined ? advertisePeer : [identity.peerUrl],
    initialCluster,
    initialClusterState: state,
    initialClusterToken: s('initialClusterToken'),
    heartbeatMs,
    electionMs,
    tickMs: tickFor(heartbeatMs),
    listenMetricsUrls: parseListenUrls(s('listenMetricsUrls'), '--listen-metrics-urls'),
    maxRequestBytes,
    maxTxnOps: positiveInt(s('maxTxnOps'), '--max-txn-ops'),
    snapshotCount: positiveInt(s('snapshotCount'), '--snapshot-count'),
    snapshotCatchupEntries: positiveInt(s('snapshotCatchupEntries'), '--snapshot-catchup-entries'),
    leaseReads: raw['leaseReads'] === true || raw['leaseReads'] === 'true' || raw['leaseReads'] === '1',
    requestTimeoutMs: positiveInt(s('requestTimeout'), '--request-timeout'),
    learnerPromoteLag: positiveInt(s('learnerPromoteLag'), '--learner-promote-lag'),
    autoCompaction,
    quotaBackendBytes,
    watchProgressNotifyIntervalMs,
    autoPromoteLearners: raw['autoPromoteLearners'] !== false && raw['autoPromoteLearners'] !== 'false' && raw['autoPromoteLearners'] !== '0',
    logLevel: logLevel as KeyvalConfig['logLevel'],
    verifyData: raw['verifyData'] === true || raw['verifyData'] === 'true' || raw['verifyData'] === '1',
    serverLimits: parseServerLimits(raw, checkLimits) as unknown as H2ServerLimits & ConnectionLimits,
    ...tlsSides(raw, listenClient, listenPeer, [...advertisePeer, ...initialCluster.flatMap((m) => m.peerUrls)]),
    tlsPolicy: parseTlsPolicy(s('tlsMinVersion'), s('cipherSuites')),
    ...(identity === undefined ? {} : { pod: identity }),
  };
}

/** --quota-backend-bytes: a non-negative integer of bytes; 0 is etcd's default (2 GiB). */
function parseQuotaBackendBytes(text: string): number {
  if (!/^[0-9]{1,16}$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new UsageError(`--quota-backend-bytes: expected a non-negative number of bytes (0: the 2 GiB default), got ${JSON.stringify(text)}`);
  }
  return resolveQuotaBackendBytes(Number(text));
}

/** Flags that --pod-name derives and that must therefore not be given with it. */
const DERIVED_FROM_POD = ['name', 'initialCluster', 'initialAdvertisePeerUrls', 'advertiseClientUrls', 'initialClusterState'] as const;

const flagOf = (key: string): string => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** Checks the pod flags; returns the identity once the ports are known. Throws UsageError. */
function resolvePod(raw: Raw, given: (key: string) => boolean): (listen: Pick<PodSettings, 'peerPort' | 'clientPort' | 'peerScheme' | 'clientScheme'>) => PodIdentity {
  const clashes = DERIVED_FROM_POD.filter(given);
  if (clashes.length > 0) {
    throw new UsageError(`--pod-name derives ${clashes.map(flagOf).join(', ')} from the pod; do not give ${clashes.length === 1 ? 'it' : 'them'} too`);
  }
  for (const required of ['peerService', 'initialClusterSize'] as const) {
    if (raw[required] === undefined) throw new UsageError(`--pod-name needs ${flagOf(required)} too`);
  }
  const size = positiveInt(String(raw['initialClusterSize']), '--initial-cluster-size');
  return (listen) => {
    try {
      return podIdentity({ podName: String(raw['podName']), namespace: String(raw['podNamespace']), peerService: String(raw['peerService']), clusterDomain: String(raw['clusterDomain']), initialClusterSize: size, ...listen });
    } catch (error) {
      if (error instanceof PodIdentityError) throw new UsageError(`--pod-name: ${error.message}`);
      throw error;
    }
  };
}

function flagOn(value: unknown): boolean {
  return value === true || value === 'true' || value === '1';
}

/** The TLS flags of one side (client or peer), checked as etcd does. */
function tlsSide(raw: Raw, prefix: '' | 'peer'): TlsSide | undefined {
  const key = (name: string): string => (prefix === '' ? name : `peer${name[0]?.toUpperCase()}${name.slice(1)}`);
  const flag = (name: string): string => `--${prefix === '' ? '' : 'peer-'}${name}`;
  return checkCertificateFlags(
    { certFile: raw[key('certFile')] as string | undefined, keyFile: raw[key('keyFile')] as string | undefined, caFile: raw[key('trustedCaFile')] as string | undefined, clientCertAuth: flagOn(raw[key('clientCertAuth')]) },
    { cert: flag('cert-file'), key: flag('key-file'), ca: flag('trusted-ca-file'), clientCertAuth: flag('client-cert-auth') },
  );
}

function tlsSides(raw: Raw, listenClient: readonly ListenUrl[], listenPeer: ListenUrl, peerUrls: readonly string[]): { clientTls: TlsSide | undefined; peerTls: TlsSide | undefined } {
  const clientTls = tlsSide(raw, '');
  const peerTls = tlsSide(raw, 'peer');
  if (listenClient.some((u) => u.secure) && clientTls === undefined) {
    throw new UsageError('--listen-client-urls: https:// URLs need --cert-file and --key-file');
  }
  const peerHttps = listenPeer.secure || peerUrls.some((u) => u.startsWith('https://'));
  if (peerHttps && peerTls === undefined) {
    throw new UsageError('--listen-peer-urls: https:// peer URLs need --peer-cert-file and --peer-key-file');
  }
  if (peerTls !== undefined && !listenPeer.secure) {
    throw new UsageError('--peer-cert-file: the peer URLs must be https:// to use it');
  }
  return { clientTls, peerTls };
}

function parseAutoCompaction(mode: string, retention: string): AutoCompactionOptions | undefined {
  if (mode !== 'periodic' && mode !== 'revision') {
    throw new UsageError(`--auto-compaction-mode: expected "periodic" or "revision", got ${JSON.stringify(mode)}`);
  }
  try {
    const value = parseCompactionRetention(mode, retention);
    return value === undefined ? undefined : { mode, retention: value };
  } catch (error) {
    if (error instanceof CompactionRetentionError) {
      throw new UsageError(error.message);
    }
    throw error;
  }
}

function parseDurationFlag(text: string, flag: string): number {
  let ms: number;
  try {
    ms = parseGoDuration(text.trim());
  } catch {
    throw new UsageError(`${flag}: ${JSON.stringify(text)} is not a duration such as 10m, 30s or 500ms`);
  }
  if (!(ms >= 1) || ms > 2 ** 31 - 1) {
    throw new UsageError(`${flag}: ${JSON.stringify(text)} must be between 1 ms and about 24 days`);
  }
  return Math.round(ms);
}

export function helpText(): string {
  return program().helpInformation();
}
