/**
 * A small userspace TCP proxy that delays traffic (`tc netem` is not available here). It sits
 * in front of a member's peer port: the cluster's peer URLs point at the proxy, which forwards
 * each connection to the member. Every chunk, in either direction, is held for the current
 * delay plus a random jitter, and chunks of one direction never overtake each other (TCP
 * order). The delay can change at any time; 0 forwards at once.
 *
 *     peer ──▶ proxy :2390 ──(hold delay ± jitter, in order)──▶ member :2380
 *     peer ◀── proxy       ◀──(hold delay ± jitter, in order)─── member
 */
import * as net from 'node:net';
import { SeededRandom } from '../crash/seeded-random';

/** Bytes held for one direction before the source is paused (back-pressure). */
export const HELD_BYTES_MAX = 16 * 1024 * 1024;
/** Longest delay accepted, ms. */
export const DELAY_MS_MAX = 60_000;

/** The delay applied to new chunks. */
export interface DelaySetting {
  readonly delayMs: number;
  readonly jitterMs: number;
}

export interface DelayProxyOptions {
  readonly listenHost: string;
  readonly listenPort: number;
  readonly targetHost: string;
  readonly targetPort: number;
  readonly seed: number;
  /** Most connections at once; more are refused. */
  readonly connectionsMax?: number;
}

/** Moves data one way, holding each chunk until its release time. */
class DelayedPipe {
  private readonly held: { releaseAt: number; chunk: Buffer }[] = [];
  private heldBytes = 0;
  private lastReleaseAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private ended = false;

  constructor(
    private readonly from: net.Socket,
    private readonly to: net.Socket,
    private readonly setting: () => DelaySetting,
    private readonly random: SeededRandom,
  ) {
    from.on('data', (chunk: Buffer) => this.accept(chunk));
    from.on('end', () => {
      this.ended = true;
      this.flush();
    });
  }

  private accept(chunk: Buffer): void {
    const { delayMs, jitterMs } = this.setting();
    if (delayMs <= 0 && jitterMs <= 0 && this.held.length === 0) {
      this.to.write(chunk);
      return;
    }
    const releaseAt = Math.max(this.lastReleaseAt, performance.now() + delayMs + this.random.next() * jitterMs);
    this.lastReleaseAt = releaseAt;
    this.held.push({ releaseAt, chunk });
    this.heldBytes += chunk.length;
    if (this.heldBytes > HELD_BYTES_MAX) this.from.pause();
    this.arm();
  }

  private arm(): void {
    if (this.timer !== undefined) return;
    const first = this.held[0];
    if (first === undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, Math.max(0, first.releaseAt - performance.now()));
  }

  private flush(): void {
    const now = performance.now();
    while (this.held.length > 0 && (this.held[0] as { releaseAt: number }).releaseAt <= now) {
      const next = this.held.shift() as { releaseAt: number; chunk: Buffer };
      this.heldBytes -= next.chunk.length;
      if (!this.to.destroyed) this.to.write(next.chunk);
    }
    if (this.heldBytes <= HELD_BYTES_MAX / 2 && this.from.isPaused()) this.from.resume();
    if (this.held.length > 0) {
      this.arm();
    } else if (this.ended && !this.to.destroyed) {
      this.to.end();
    }
  }

  /** Drops whatever is held (the connection is gone). */
  close(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.held.length = 0;
    this.heldBytes = 0;
  }
}

/** The proxy: listens, forwards each connection to the target through two delayed pipes. */
export class DelayProxy {
  private server: net.Server | undefined;
  private setting: DelaySetting = { delayMs: 0, jitterMs: 0 };
  private readonly random: SeededRandom;
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly options: DelayProxyOptions) {
    this.random = new SeededRandom(options.seed);
  }

  /** Changes the delay of chunks arriving from now on. */
  setDelay(setting: DelaySetting): void {
    for (const [name, value] of Object.entries(setting)) {
      if (!(Number.isFinite(value) && value >= 0 && value <= DELAY_MS_MAX)) throw new RangeError(`${name} must be in [0, ${DELAY_MS_MAX}] ms, got ${String(value)}`);
    }
    this.setting = { ...setting };
  }

  /** Starts listening; resolves with the bound port. */
  listen(): Promise<number> {
    const server = net.createServer((client) => this.accept(client));
    server.maxConnections = this.options.connectionsMax ?? 256;
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.listenPort, this.options.listenHost, () => {
        server.off('error', reject);
        resolve((server.address() as net.AddressInfo).port);
      });
    });
  }

  private accept(client: net.Socket): void {
    const upstream = net.connect(this.options.targetPort, this.options.targetHost);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    this.sockets.add(client).add(upstream);
    const current = (): DelaySetting => this.setting;
    const pipes = [new DelayedPipe(client, upstream, current, this.random), new DelayedPipe(upstream, client, current, this.random)];
    const close = (): void => {
      for (const pipe of pipes) pipe.close();
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  }

  /** Stops listening and drops every connection. */
  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    const server = this.server;
    if (server === undefined) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
