/**
 * A client connection to one server address: a small pool of HTTP/2 connections (our own,
 * `./h2`), opened lazily, replaced when they close or the server sends GOAWAY. Calls are
 * spread over the connections round-robin; HTTP/2 multiplexes the calls of one connection.
 *
 *     call ──► pick connection (round-robin) ──► absent / closed / going away? ──► connect
 *                                                   │ usable
 *                                                   ▼
 *                                          connection.request(headers)
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { ClientCall, type CallOptions } from './client-call';
import type { MessageCodec } from './framing';
import { GrpcStatusError } from './grpc-status.error';
import { H2ClientConnection } from './h2/client-connection';
import { GrpcStatus } from './status';

export interface GrpcChannelOptions {
  /** Largest response message accepted; larger ones fail RESOURCE_EXHAUSTED. Default 4 MiB. */
  readonly maxReceiveMessageBytes?: number;
  /** Largest request message sent; larger ones fail RESOURCE_EXHAUSTED. Default 4 MiB. */
  readonly maxSendMessageBytes?: number;
  /** Connections kept to the server. Default 1. */
  readonly sessions?: number;
  /** A connection not established within this fails its calls UNAVAILABLE. Default 5 s. */
  readonly connectTimeoutMs?: number;
  /** Responses a server-streaming call buffers unread before pausing its stream. Default 32. */
  readonly responseQueueMessagesMax?: number;
  /** HTTP/2 receive window per stream and per connection, in bytes. Default 1 MiB / 16 MiB. */
  readonly streamWindowBytes?: number;
  readonly connectionWindowBytes?: number;
  /** Connect over TLS (ALPN h2); an https:// target does so with the system's CAs by default. */
  readonly tls?: ClientTlsOptions;
}

/** TLS towards the server (kvctl's --cacert, --cert, --key, --insecure-skip-tls-verify; a member's or gateway's client certificate). */
export interface ClientTlsOptions {
  /** Our certificate and the CAs that verify the server, for each new connection (a CertificateStore follows its files). */
  readonly secureContext?: () => tls.SecureContext;
  /** false: accept any server certificate (etcdctl's --insecure-skip-tls-verify). Default true. */
  readonly verifyServer?: boolean;
  /** The name the server's certificate must carry; default the target's host. */
  readonly servername?: string;
}

const MiB = 1 << 20;
const DEFAULTS: Required<Omit<GrpcChannelOptions, 'tls'>> = {
  maxReceiveMessageBytes: 4 * MiB,
  maxSendMessageBytes: 4 * MiB,
  sessions: 1,
  connectTimeoutMs: 5_000,
  responseQueueMessagesMax: 32,
  streamWindowBytes: MiB,
  connectionWindowBytes: 16 * MiB,
};
/** Most sessions one channel may hold. */
const SESSIONS_MAX = 64;

/** One connection. */
interface Connection {
  readonly h2: H2ClientConnection;
  /** Calls in flight on `h2` (>= 0); the connection keeps the process alive only while > 0. */
  active: number;
  /** The TCP connection was established (before that, no byte of any call has left). */
  connected: boolean;
}

/** Largest header list we accept in responses. */
const MAX_HEADER_LIST_BYTES = 64 * 1024;

/** A place in the pool: the current connection, replaced when it closes or goes away. */
interface Slot {
  connection: Connection | undefined;
  /** Why the last connection failed, for the messages of the calls it fails. */
  lastError: Error | undefined;
}

/**
 * Parses `host:port`, `[v6]:port`, `http://host:port` or `https://host:port` into an HTTP/2
 * authority (`secure` for https). Throws TypeError for anything else.
 */
export function parseTarget(target: string): { authority: string; host: string; port: number; secure: boolean } {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(target) ? target : `http://${target}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new TypeError(`endpoint ${JSON.stringify(target)} is not host:port or http://host:port`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`endpoint ${JSON.stringify(target)}: only http:// (h2c) and https:// (TLS) are supported`);
  }
  if (url.port === '' || url.pathname !== '/' || url.search !== '' || url.username !== '') {
    throw new TypeError(`endpoint ${JSON.stringify(target)} must be host:port with an explicit port and nothing else`);
  }
  return { authority: url.host, host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port), secure: url.protocol === 'https:' };
}

export class GrpcChannel {
  readonly authority: string;
  private readonly host: string;
  private readonly port: number;
  private readonly options: Required<Omit<GrpcChannelOptions, 'tls'>>;
  /** TLS towards the server, or undefined for h2c. */
  private readonly tls: ClientTlsOptions | undefined;
  private readonly slots: Slot[];
  private next = 0;
  private closed = false;

  constructor(target: string, options: GrpcChannelOptions = {}) {
    const parsed = parseTarget(target);
    ({ authority: this.authority, host: this.host, port: this.port } = parsed);
    this.tls = options.tls ?? (parsed.secure ? {} : undefined);
    const given = Object.fromEntries(Object.entries(options).filter(([key, value]) => value !== undefined && key !== 'tls')) as GrpcChannelOptions;
    this.options = { ...DEFAULTS, ...given };
    for (const [key, value] of Object.entries(this.options)) {
      if (!(Number.isInteger(value) && value >= 0)) {
        throw new RangeError(`GrpcChannel option ${key} must be a non-negative integer, not ${String(value)}`);
      }
    }
    const sessions = Math.min(Math.max(1, this.options.sessions), SESSIONS_MAX);
    this.slots = Array.from({ length: sessions }, () => ({ connection: undefined, lastError: undefined }));
  }

  /** Responses a server-streaming call buffers unread before pausing its stream. */
  get responseQueueMessagesMax(): number {
    return Math.max(1, this.options.responseQueueMessagesMax);
  }

  /**
   * Starts one call; see ClientCall for the callbacks' contract. With `request` undefined the
   * call takes a request stream (ClientCall.send / closeSend).
   */
  startCall<Req, Res>(
    path: string,
    requestType: MessageCodec<Req>,
    responseType: MessageCodec<Res>,
    request: Req | undefined,
    options: CallOptions,
    sink: { onMessage(message: Res): void; onEnd(error: GrpcStatusError | undefined): void; responseStream: boolean },
  ): ClientCall<Req, Res> {
    if (this.closed) {
      throw new GrpcStatusError(GrpcStatus.UNAVAILABLE, `channel to ${this.authority} is closed`, { outcome: 'never-sent' });
    }
    const slot = this.pickSlot();
    const connection = this.connectionOf(slot);
    connection.active += 1;
    if (connection.active === 1) {
      connection.h2.ref();
    }
    const call = new ClientCall<Req, Res>(
      { path, authority: this.authority, requestType, responseType, ...this.options, connectError: () => slot.lastError, neverConnected: () => !connection.connected },
      sink,
      () => {
        connection.active -= 1;
        if (connection.active === 0 && !connection.h2.isClosed) {
          connection.h2.unref();
        }
      },
    );
    if (request === undefined) {
      call.startStream(connection.h2, options);
    } else {
      call.start(connection.h2, request, options);
    }
    return call;
  }

  /** Closes every connection gracefully; calls in flight finish. Further calls fail UNAVAILABLE. */
  close(): void {
    this.closed = true;
    for (const slot of this.slots) {
      slot.connection?.h2.close();
      slot.connection = undefined;
    }
  }

  private pickSlot(): Slot {
    const slot = this.slots[this.next] as Slot;
    this.next = (this.next + 1) % this.slots.length;
    return slot;
  }

  private connectionOf(slot: Slot): Connection {
    const current = slot.connection;
    if (current !== undefined && current.h2.usable) {
      return current;
    }
    return this.connect(slot);
  }

  private connect(slot: Slot): Connection {
    const socket = this.tls === undefined ? net.connect({ host: this.host, port: this.port }) : this.connectTls(this.tls);
    const h2 = new H2ClientConnection(socket, {
      streamWindowBytes: this.options.streamWindowBytes,
      connectionWindowBytes: this.options.connectionWindowBytes,
      maxHeaderListBytes: MAX_HEADER_LIST_BYTES,
    });
    const connection: Connection = { h2, active: 0, connected: false };
    slot.connection = connection;
    h2.unref();
    const connectTimer = setTimeout(() => {
      slot.lastError = new Error(`no connection to ${this.authority} within ${this.options.connectTimeoutMs} ms`);
      h2.destroy(slot.lastError);
    }, this.options.connectTimeoutMs).unref();
    socket.once(this.tls === undefined ? 'connect' : 'secureConnect', () => {
      connection.connected = true;
      clearTimeout(connectTimer);
      if (this.tls !== undefined && (socket as tls.TLSSocket).alpnProtocol !== 'h2') {
        slot.lastError = new Error(`${this.authority} did not agree to HTTP/2 over TLS (ALPN)`);
        h2.destroy(slot.lastError);
        return;
      }
      slot.lastError = undefined;
      if (this.tls !== undefined) {
        // With TLS 1.3 the client's handshake ends before the server has checked the client's
        // certificate: a server that refuses it closes the connection before saying anything
        // (not even its HTTP/2 SETTINGS). Say so rather than "socket hang up".
        let heard = false;
        socket.once('data', () => (heard = true));
        socket.once('close', () => {
          if (!heard) {
            slot.lastError = new Error(`${this.authority} closed the connection right after the TLS handshake, before any HTTP/2 frame (a refused client certificate?)`);
          }
        });
      }
    });
    // After GOAWAY the connection finishes its calls but takes no new ones: connect afresh.
    const forget = (): void => {
      clearTimeout(connectTimer);
      if (slot.connection === connection) {
        slot.connection = undefined;
      }
    };
    h2.onGoaway(forget);
    h2.onClose(() => {
      if (h2.lastError !== undefined) {
        slot.lastError = h2.lastError;
      }
      forget();
    });
    return connection;
  }

  private connectTls(options: ClientTlsOptions): tls.TLSSocket {
    return tls.connect({
      host: this.host,
      port: this.port,
      ALPNProtocols: ['h2'],
      secureContext: options.secureContext?.(),
      rejectUnauthorized: options.verifyServer !== false,
      servername: options.servername ?? (net.isIP(this.host) === 0 ? this.host : undefined),
    });
  }
}
