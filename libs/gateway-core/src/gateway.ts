/**
 * The gateway: one gRPC endpoint serving etcd's KV, Cluster and Maintenance services (and
 * KeyVal's Admin service) by passing every call through to the right member.
 *
 *     clients ──h2c──► GrpcServer (raw services) ──► in-flight bound ──► Forwarder ──► UpstreamPool ──h2c──► members
 *                                                                            ▲
 *                                                       MemberDirectory (Status / MemberList probes)
 *
 * Lifecycle: `Gateway.start` probes the seeds and listens; `shutdown` stops taking calls,
 * lets those in flight finish (within a grace period), then stops probing and closes the
 * member connections.
 */
import { type ClientTlsOptions, type ConnectionLimits, GrpcServer, GrpcStatus, GrpcStatusError, type H2ServerLimits, grpcHealthService, JsonApi, type ServerTlsOptions } from '@keyval/grpc';
import type { ServerCall, ServerWritableCall, ServiceDefinition, ServiceImplementation } from '@keyval/grpc';
import { Forwarder, outgoing } from './forwarder';
import type { ForwarderStats } from './forwarder';
import { GatewayOverloadedError, GatewayStoppingError, NoLeaderError, toGatewayStatus } from './gateway.errors';
import type { GatewayObserver } from './gateway-observer';
import type { GrpcServerObserver, Http1Handler } from '@keyval/grpc';
import { health } from '@keyval/proto';
import type { Tracer } from '@opentelemetry/api';
import { MemberDirectory } from './member-directory';
import type { GatewayLogger } from './member-directory';
import { rawService } from './raw-codec';
import type { RawService } from './raw-codec';
import { PASSTHROUGH_SERVICES, bidiTargetOf, routeOf, waitsForClient } from './routes';
import type { Route } from './routes';
import { SessionPool } from './session-pool';
import { UpstreamPool } from './upstream-pool';
import { DEFAULT_WRITE_BATCHING } from './write-batcher';
import type { WriteBatchingOptions } from './write-batcher';

/** The gateway's configuration (the app maps its flags onto it); every field but the first two has a default. */
export interface GatewayOptions {
  /** Members to start from: host:port or http:// URLs. */
  readonly endpoints: readonly string[];
  /** Where to serve clients. */
  readonly listen: readonly { readonly host: string; readonly port: number }[];
  /** Serializable Range requests: spread over the members (default) or sent to the leader. */
  readonly serializableReads?: 'spread' | 'leader';
  /** Deadline of a call that brings none, ms (default 5000). */
  readonly requestTimeoutMs?: number;
  /** Calls in flight beyond which new ones are refused RESOURCE_EXHAUSTED (default 10,000). */
  readonly inflightMax?: number;
  /** Bidirectional streams (watches) open beyond which new ones are refused RESOURCE_EXHAUSTED (default 10,000). */
  readonly streamsMax?: number;
  /** The gateway's own exactly-once sessions (default 1024). */
  readonly sessionsMax?: number;
  /** A session idle this long gets a new client id, ms (default 30 min). */
  readonly sessionIdleRenewMs?: number;
  /** Status probe period, ms (default 150). */
  readonly statusIntervalMs?: number;
  /** Member list refresh period, ms (default 1000). */
  readonly memberListIntervalMs?: number;
  /** Deadline of a probe, ms (default 1000). */
  readonly probeTimeoutMs?: number;
  /** HTTP/2 connections to each member (default 2). */
  readonly connectionsPerMember?: number;
  /** Writes in flight to the leader sent together (KVBatch); null: one call each. Default DEFAULT_WRITE_BATCHING. */
  readonly writeBatching?: WriteBatchingOptions | null;
  /** Largest request message accepted, bytes (default 2 MiB: a member's limit plus headroom). */
  readonly maxRequestBytes?: number;
  /** Largest response message relayed, bytes (default 64 MiB). */
  readonly maxResponseBytes?: number;
  /** The client port's HTTP/2 limits (GrpcServer's defaults for those left out). */
  readonly serverLimits?: Partial<H2ServerLimits & ConnectionLimits>;
  /** TLS towards clients (a listen URL https://), or undefined for h2c. */
  readonly serverTls?: ServerTlsOptions;
  /** TLS towards the members (the gateway's client certificate), or undefined for h2c. */
  readonly upstreamTls?: ClientTlsOptions;
  readonly logger?: GatewayLogger;
  /** Hears about requests, retries, batches and per-member latency (metrics). Default: none. */
  readonly observer?: GatewayObserver;
  /** Hears about every client call of the gateway's gRPC server (grpc_server_* metrics). Default: none. */
  readonly serverObserver?: GrpcServerObserver;
  /**
   * Serves HTTP/1.1 (/metrics, /health...) on the client port too (see @keyval/grpc
   * connection-dispatch). etcd's JSON API (`/v3/...`, `/v3beta/...`) is served there in any
   * case, before this handler: each JSON call is the gRPC call it names, relayed as one.
   */
  readonly http1?: Http1Handler;
  /**
   * Traces every client call (a SERVER span, parent from the client's traceparent), each
   * attempt to a member (a CLIENT span whose context goes upstream) and each KVBatch call.
   * Default: none.
   */
  readonly tracer?: Tracer;
}

/** What /metrics and the tests read. */
export interface GatewayStats extends ForwarderStats {
  inflight: number;
  refusedOverloaded: number;
  sessions: number;
  sessionsBusy: number;
  leaderChanges: number;
  upstreamInFlight: Record<string, number>;
  /** KVBatch calls sent, and the writes they carried. */
  writeBatches: number;
  batchedWrites: number;
}

const MiB = 1 << 20;
/** How long before the end of the shutdown grace period the calls in flight are answered, ms. */
const WIND_DOWN_BEFORE_MS = 200;
type RawUnaryHandler = (request: Buffer, call: ServerCall) => Promise<Buffer>;
type RawStreamHandler = (request: Buffer, call: ServerWritableCall<Buffer>) => Promise<void>;
type RawBidiHandler = (requests: AsyncIterable<Buffer>, call: ServerWritableCall<Buffer>) => Promise<void>;

/** A running gateway: `Gateway.start`, then `ready()`/`health()`/`stats()`, and `shutdown()` once. */
export class Gateway {
  private inflight = 0;
  private streams = 0;
  private refusedOverloaded = 0;
  private state: 'serving' | 'draining' | 'stopped' = 'serving';
  private readonly inflightMax: number;

  private constructor(
    private readonly server: GrpcServer,
    readonly directory: MemberDirectory,
    private readonly pool: UpstreamPool,
    private readonly sessions: SessionPool,
    private readonly forwarder: Forwarder,
    options: GatewayOptions,
    /** The addresses it listens on (port 0 resolved). */
    readonly addresses: { host: string; port: number }[],
  ) {
    this.inflightMax = options.inflightMax ?? 10_000;
    this.streamsMax = options.streamsMax ?? 10_000;
  }

  private readonly streamsMax: number;

  /** Starts probing the members and listening for clients; throws if a listener cannot bind. */
  static async start(options: GatewayOptions): Promise<Gateway> {
    const maxRequestBytes = options.maxRequestBytes ?? 2 * MiB;
    const maxResponseBytes = options.maxResponseBytes ?? 64 * MiB;
    const pool = new UpstreamPool({
      connectionsPerMember: options.connectionsPerMember ?? 2,
      maxSendMessageBytes: maxRequestBytes,
      maxReceiveMessageBytes: maxResponseBytes,
      connectTimeoutMs: 1_000,
      tls: options.upstreamTls,
      writeBatching: options.writeBatching === null ? undefined : (options.writeBatching ?? DEFAULT_WRITE_BATCHING),
      observer: options.observer,
      tracer: options.tracer,
    });
    const directory = new MemberDirectory({
      seeds: options.endpoints,
      pool,
      statusIntervalMs: options.statusIntervalMs ?? 150,
      memberListIntervalMs: options.memberListIntervalMs ?? 1_000,
      probeTimeoutMs: options.probeTimeoutMs ?? 1_000,
      logger: options.logger,
    });
    const sessions = new SessionPool({ sessionsMax: options.sessionsMax ?? 1024, idleRenewMs: options.sessionIdleRenewMs ?? 30 * 60_000 });
    const forwarder = new Forwarder({
      directory,
      pool,
      sessions,
      defaultTimeoutMs: options.requestTimeoutMs ?? 5_000,
      serializableReads: options.serializableReads ?? 'spread',
      observer: options.observer,
    });
    // etcd's JSON API: translated to the gRPC calls the gateway relays (@keyval/grpc json-api,
    // the members' own translation), so a JSON call is routed, retried, bounded and counted as
    // the same call over gRPC would be.
    const json = new JsonApi({ maxBodyBytes: maxRequestBytes, requestTimeoutMs: options.requestTimeoutMs ?? 5_000, observer: options.serverObserver });
    const server = new GrpcServer({
      ...options.serverLimits,
      tls: options.serverTls,
      maxReceiveMessageBytes: maxRequestBytes,
      maxSendMessageBytes: maxResponseBytes,
      onHandlerError: (error, path) => options.logger?.warn('handler failed', { path, error: String(error) }),
      observer: options.serverObserver,
      http1: (request, response) => {
        if (json.handles((request.url ?? '/').split('?')[0] ?? '/')) json.handle(request, response);
        else if (options.http1 !== undefined) options.http1(request, response);
        else response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('404 page not found\n');
      },
      tracer: options.tracer,
    });
    const addresses: { host: string; port: number }[] = [];
    const gateway = new Gateway(server, directory, pool, sessions, forwarder, options, addresses);
    for (const service of PASSTHROUGH_SERVICES) {
      // The handlers match the raw methods one by one; TypeScript cannot follow that through
      // a service definition only known as ServiceDefinition.
      const handlers = gateway.handlers(service);
      server.addService(rawService(service), handlers as unknown as ServiceImplementation<RawService<ServiceDefinition>>);
      json.addService(rawService(service), handlers);
    }
    server.addService(health.HealthDefinition, grpcHealthService(server.shutdownSignal));
    directory.start();
    try {
      for (const at of options.listen) {
        addresses.push(await server.listen(at.port, at.host));
        options.logger?.info('serving clients', { address: `${at.host}:${addresses[addresses.length - 1]?.port}` });
      }
    } catch (error) {
      await gateway.shutdown(0);
      throw error;
    }
    return gateway;
  }

  /** Ready when serving and a leader is known. */
  ready(): { ready: boolean; reason?: string; leader?: string } {
    if (this.state !== 'serving') {
      return { ready: false, reason: `the gateway is ${this.state}` };
    }
    const leader = this.directory.leader();
    if (leader === undefined) {
      return { ready: false, reason: 'no leader known yet' };
    }
    return { ready: true, leader: `${leader.id.toString(16)}@${leader.authority}` };
  }

  /** Healthy while it serves (draining counts: calls in flight are still being answered). */
  health(): { healthy: boolean; reason?: string } {
    return this.state === 'stopped' ? { healthy: false, reason: 'the gateway has stopped' } : { healthy: true };
  }

  stats(): GatewayStats {
    const batching = this.pool.batchStats();
    return {
      ...this.forwarder.stats,
      inflight: this.inflight,
      refusedOverloaded: this.refusedOverloaded,
      sessions: this.sessions.size,
      sessionsBusy: this.sessions.busyCount,
      leaderChanges: this.directory.leaderChanges,
      upstreamInFlight: Object.fromEntries(this.pool.inFlightCounts()),
      writeBatches: batching.batches,
      batchedWrites: batching.writes,
    };
  }

  /**
   * Graceful stop: not ready at once; new calls are refused (UNAVAILABLE) and the calls in
   * flight finish within `graceMs` (the rest are cancelled); then probing stops and the
   * member connections close. Idempotent.
   */
  async shutdown(graceMs: number): Promise<void> {
    if (this.state !== 'serving') {
      return;
    }
    this.state = 'draining';
    // Shortly before the server cancels what is left, the forwarder answers it itself, so
    // that a write cut short says "may or may not have been applied" instead of nothing.
    const windDown = setTimeout(() => this.windDown(), Math.max(0, graceMs - WIND_DOWN_BEFORE_MS));
    await this.server.shutdown(graceMs);
    clearTimeout(windDown);
    this.state = 'stopped';
    this.directory.stop();
    this.sessions.close();
    this.pool.close();
  }

  /** Answers every call still in flight now: no more attempts, probes or waiting for sessions. */
  private windDown(): void {
    this.directory.stop(); // wakes calls waiting for a leader: they answer with what they know
    this.sessions.close(); // fails writes waiting for a session (they sent nothing)
    this.forwarder.windDown(); // cancels the attempts in flight and stops retries
  }

  /** One handler per method of `service`: unary calls go through the forwarder, server streams to the leader. */
  private handlers(service: ServiceDefinition): Record<string, RawUnaryHandler | RawStreamHandler | RawBidiHandler> {
    const handlers: Record<string, RawUnaryHandler | RawStreamHandler | RawBidiHandler> = {};
    for (const [key, method] of Object.entries(service.methods)) {
      const route = routeOf(service, method.name);
      if (method.requestStream && method.responseStream) {
        handlers[key] = this.bidiHandler(route.path, bidiTargetOf(service, method.name));
      } else if (!method.requestStream) {
        handlers[key] = method.responseStream ? this.streamHandler(route) : waitsForClient(route) ? this.waitingHandler(route) : this.unaryHandler(route);
      }
      // Client-only streams: none in the services passed through (they answer UNIMPLEMENTED).
    }
    return handlers;
  }

  /**
   * A bidirectional stream relayed to one member, both ways, with HTTP/2 flow control end to
   * end (a slow client slows the relay, which slows the member's stream, whose own limits
   * apply). The stream is never moved: when its member fails, or the gateway shuts down, the
   * client gets UNAVAILABLE and resumes (a watch from the revision after the last it saw).
   */
  private bidiHandler(path: string, target: 'any' | 'leader'): RawBidiHandler {
    return async (requests, call) => {
      if (this.state !== 'serving') {
        throw toGatewayStatus(new GatewayStoppingError());
      }
      if (this.streams >= this.streamsMax) {
        this.refusedOverloaded += 1;
        throw new GrpcStatusError(GrpcStatus.RESOURCE_EXHAUSTED, `the gateway relays at most ${this.streamsMax} streams`);
      }
      this.streams += 1;
      const stop = new AbortController();
      const onAbort = (): void => stop.abort();
      call.signal.addEventListener('abort', onAbort);
      this.server.shutdownSignal.addEventListener('abort', onAbort);
      try {
        const authority = target === 'any' ? this.anyMember() : (this.directory.leader() ?? (await this.directory.waitForLeader(Date.now() + 5_000))).authority;
        const upstream = this.pool.bidiStreaming(authority, path, { metadata: outgoing(call.metadata), signal: stop.signal });
        const relayRequests = (async () => {
          for await (const request of requests) {
            await upstream.send(request);
          }
          upstream.end();
        })();
        relayRequests.catch(() => upstream.cancel('the client side of the stream failed'));
        for await (const response of upstream.responses) {
          await call.write(response);
        }
      } catch (error) {
        throw this.server.shutdownSignal.aborted ? toGatewayStatus(new GatewayStoppingError()) : toGatewayStatus(error);
      } finally {
        call.signal.removeEventListener('abort', onAbort);
        this.server.shutdownSignal.removeEventListener('abort', onAbort);
        stop.abort();
        this.streams -= 1;
      }
    };
  }

  /** A member answering probes, in turn; the leader, or the first seed, when none is known. */
  private anyMember(): string {
    const targets = this.directory.readTargets();
    if (targets.length > 0) {
      this.nextStreamTarget = (this.nextStreamTarget + 1) % targets.length;
      return targets[this.nextStreamTarget] as string;
    }
    const leader = this.directory.leader();
    if (leader !== undefined) {
      return leader.authority;
    }
    throw toGatewayStatus(new NoLeaderError('no member answers the gateway\'s probes'));
  }

  private nextStreamTarget = 0;

  private unaryHandler(route: Route): RawUnaryHandler {
    return async (request, call) => {
      this.admit();
      try {
        return await this.forwarder.unary(route, request, call);
      } catch (error) {
        throw toGatewayStatus(error);
      } finally {
        this.inflight -= 1;
      }
    };
  }

  /** Calls that wait as long as their client (Lock, Campaign) go to the leader once, with the client's deadline only. */
  private waitingHandler(route: Route): RawUnaryHandler {
    return async (request, call) => {
      this.admit();
      try {
        const leader = this.directory.leader() ?? (await this.directory.waitForLeader(call.deadline ?? Date.now() + 5_000));
        return await this.pool.unary(leader.authority, route.path, request, { deadline: call.deadline, metadata: outgoing(call.metadata), signal: call.signal }, false);
      } catch (error) {
        throw toGatewayStatus(error);
      } finally {
        this.inflight -= 1;
      }
    };
  }

  /** Server streams (snapshots, election observers) go to the leader once: a stream is never replayed. */
  private streamHandler(route: Route): RawStreamHandler {
    return async (request, call) => {
      this.admit();
      try {
        const leader = this.directory.leader() ?? (await this.directory.waitForLeader(call.deadline ?? Date.now() + 5_000));
        const stream = this.pool.serverStreaming(leader.authority, route.path, request, { deadline: call.deadline, metadata: outgoing(call.metadata), signal: call.signal });
        for await (const message of stream) {
          await call.write(message);
        }
      } catch (error) {
        throw toGatewayStatus(error);
      } finally {
        this.inflight -= 1;
      }
    };
  }

  /** Counts a call in, or refuses it (overloaded, stopping). */
  private admit(): void {
    if (this.state !== 'serving') {
      throw toGatewayStatus(new GatewayStoppingError());
    }
    if (this.inflight >= this.inflightMax) {
      this.refusedOverloaded += 1;
      throw toGatewayStatus(new GatewayOverloadedError(this.inflightMax));
    }
    this.inflight += 1;
  }
}
