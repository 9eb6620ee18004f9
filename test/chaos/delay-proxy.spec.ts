import * as net from 'node:net';
import { DelayProxy } from './delay-proxy';

/** An echo server on loopback; resolves with its port. */
async function echoServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Sends `chunks` through the proxy one by one and collects the echo until `total` bytes. */
async function roundTrip(port: number, chunks: readonly string[]): Promise<{ text: string; elapsedMs: number }> {
  const total = chunks.reduce((n, c) => n + c.length, 0);
  const socket = net.connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  const started = performance.now();
  let text = '';
  const done = new Promise<void>((resolve) => {
    socket.on('data', (data: Buffer) => {
      text += data.toString('utf8');
      if (text.length >= total) resolve();
    });
  });
  for (const chunk of chunks) {
    socket.write(chunk);
    await new Promise((resolve) => setImmediate(resolve));
  }
  await done;
  socket.destroy();
  return { text, elapsedMs: performance.now() - started };
}

describe('DelayProxy', () => {
  let echo: { port: number; close: () => Promise<void> };
  let proxy: DelayProxy;
  let port: number;

  beforeEach(async () => {
    echo = await echoServer();
    proxy = new DelayProxy({ listenHost: '127.0.0.1', listenPort: 0, targetHost: '127.0.0.1', targetPort: echo.port, seed: 1 });
    port = await proxy.listen();
  });

  afterEach(async () => {
    await proxy.close();
    await echo.close();
  });

  it('forwards both ways at once when the delay is 0', async () => {
    const { text } = await roundTrip(port, ['hello']);
    expect(text).toBe('hello');
  });

  it('holds each direction for the delay (a round trip takes at least twice the delay)', async () => {
    proxy.setDelay({ delayMs: 100, jitterMs: 0 });
    const { text, elapsedMs } = await roundTrip(port, ['ping']);
    expect(text).toBe('ping');
    expect(elapsedMs).toBeGreaterThanOrEqual(195);
  });

  it('keeps the byte order under jitter', async () => {
    proxy.setDelay({ delayMs: 5, jitterMs: 40 });
    const chunks = Array.from({ length: 50 }, (_, k) => `<${k}>`);
    const { text } = await roundTrip(port, chunks);
    expect(text).toBe(chunks.join(''));
  });

  it('refuses negative, unbounded or non-numeric delays', () => {
    expect(() => proxy.setDelay({ delayMs: -1, jitterMs: 0 })).toThrow(RangeError);
    expect(() => proxy.setDelay({ delayMs: 10, jitterMs: Number.POSITIVE_INFINITY })).toThrow(RangeError);
    expect(() => proxy.setDelay({ delayMs: 120_000, jitterMs: 0 })).toThrow(RangeError);
  });
});
