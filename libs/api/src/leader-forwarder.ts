/**
 * Forwards a client's write from a follower to the leader's client URL over pooled HTTP/2
 * channels, with the client's metadata (so its session still dedupes) plus a forwarded mark
 * (the leader never forwards again).
 */
import type { Context, Tracer } from '@opentelemetry/api';
import { type ClientTlsOptions, GrpcChannel, GrpcStatus, GrpcStatusError, Metadata, createClient, endRpcSpan, startClientSpan } from '@keyval/grpc';
import type { BidiCall, ServiceDefinition, UnaryClientMethod } from '@keyval/grpc';
import { outcomeOf } from '@keyval/outcome';
import { NotLeaderError } from '@keyval/raft';
import type { NodeId } from '@keyval/raft';
import { LeaderUnreachableError } from './api.errors';
import { FORWARDED_KEY } from './leader-calls';

export interface LeaderLocator {
  /** The client URLs the cluster knows for a member (empty until it published them). */
  clientUrlsOf(id: NodeId): readonly string[];
}

/** Keys that belong to one hop and must not be copied (the trace context is this hop's own span's). */
const HOP_KEYS = new Set(['grpc-timeout', 'content-type', 'te', 'user-agent', 'grpc-accept-encoding', 'grpc-encoding', 'traceparent', 'tracestate']);

export interface LeaderForwarderOptions {
  /** TLS towards a client URL (https://: this member's client certificate), or undefined for h2c. Default: h2c everywhere. */
  readonly tlsFor?: (url: string) => ClientTlsOptions | undefined;
  /** Traces each forward as a CLIENT span (child of the call's span), its context sent to the leader. Default: none. */
  readonly tracer?: Tracer;
}

export class LeaderForwarder {
  private readonly channels = new Map<string, GrpcChannel>();

  constructor(
    private readonly locator: LeaderLocator,
    private readonly maxMessageBytes: number,
    private readonly options: LeaderForwarderOptions = {},
  ) {}

  private channel(url: string): GrpcChannel {
    let channel = this.channels.get(url);
    if (channel === undefined) {
      channel = new GrpcChannel(url, { maxReceiveMessageBytes: this.maxMessageBytes, maxSendMessageBytes: this.maxMessageBytes, tls: this.options.tlsFor?.(url) });
      this.channels.set(url, channel);
    }
    return channel;
  }

  /** The leader's client URL; NotLeaderError while it has not published one. */
  private urlOf(leader: NodeId): string {
    const url = this.locator.clientUrlsOf(leader)[0];
    if (url === undefined) {
      // The leader has not published its client URL yet: behave as if no leader is usable.
      throw new NotLeaderError(leader);
    }
    return url;
  }

  /** The client's metadata without the hop's own keys, marked as forwarded. */
  private forwardedMetadata(metadata: Metadata): Metadata {
    const md = new Metadata();
    for (const key of metadata.keys()) {
      if (!HOP_KEYS.has(key) && !key.startsWith(':')) {
        for (const value of metadata.getAll(key)) md.add(key, value);
      }
    }
    md.set(FORWARDED_KEY, '1');
    return md;
  }

  /**
   * Sends the unary call `method` of `service` to the leader, with the client's metadata; with
   * tracing, its CLIENT span is a child of `trace` (the call's own span).
   */
  async forward(service: ServiceDefinition, method: string, request: unknown, metadata: Metadata, leader: NodeId, deadlineMs: number, trace?: Context): Promise<unknown> {
    const url = this.urlOf(leader);
    const client = createClient(service, this.channel(url)) as unknown as Record<string, UnaryClientMethod<unknown, unknown>>;
    const call = client[method];
    const definition = (service.methods as Record<string, { readonly name: string } | undefined>)[method];
    if (call === undefined || definition === undefined) {
      throw new TypeError(`${service.fullName} has no method ${method}`);
    }
    const md = this.forwardedMetadata(metadata);
    const options = { timeoutMs: Math.max(1, Math.floor(deadlineMs - performance.now())), metadata: md };
    const span = this.options.tracer === undefined ? undefined : startClientSpan(this.options.tracer, `/${service.fullName}/${definition.name}`, md, { 'keyval.leader': leader.toString(16), 'server.address': url }, trace);
    try {
      const response = await call(request, options);
      if (span !== undefined) endRpcSpan(span, GrpcStatus.OK);
      return response;
    } catch (error) {
      if (span !== undefined) {
        endRpcSpan(span, error instanceof GrpcStatusError ? error.code : GrpcStatus.UNKNOWN, error instanceof Error ? error.message : String(error));
      }
      // A dead leader refuses connections until the followers elect another: say so with a
      // named error, so the service waits for the new leader instead of failing the client.
      // @keyval/grpc marks what never reached the leader (no connection established, or the
      // stream refused unprocessed); a connection lost after the request went out may have
      // applied it, and is relayed as it is.
      if (outcomeOf(error).outcome === 'never-sent') {
        throw new LeaderUnreachableError(leader.toString(16), url, error);
      }
      throw error;
    }
  }

  /** Opens the bidirectional call `method` of `service` on the leader (a keepalive relay). */
  openStream<Req, Res>(service: ServiceDefinition, method: string, metadata: Metadata, leader: NodeId): BidiCall<Req, Res> {
    const client = createClient(service, this.channel(this.urlOf(leader))) as unknown as Record<string, (options: object) => BidiCall<Req, Res>>;
    const open = client[method];
    if (open === undefined) {
      throw new TypeError(`${service.fullName} has no method ${method}`);
    }
    return open({ metadata: this.forwardedMetadata(metadata) });
  }

  close(): void {
    for (const channel of this.channels.values()) channel.close();
    this.channels.clear();
  }
}
