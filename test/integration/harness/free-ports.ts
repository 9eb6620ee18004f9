/**
 * Free loopback ports for test members: the kernel picks ephemeral ports (listen on 0), we
 * read them and release them. All ports of one request are held open together so they are
 * distinct; another process could still take one before the member binds it, which the
 * harness reports as a member that failed to start (rare on loopback).
 */
import * as net from 'node:net';

/** Most ports one call hands out. */
const PORTS_MAX = 64;

/** Returns `count` distinct free TCP ports on 127.0.0.1. */
export async function freePorts(count: number): Promise<number[]> {
  if (!Number.isInteger(count) || count < 1 || count > PORTS_MAX) {
    throw new RangeError(`freePorts: count must be 1..${PORTS_MAX}, got ${count}`);
  }
  const servers: net.Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const server = net.createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve());
      });
      const address = server.address();
      if (address === null || typeof address === 'string') {
        throw new Error('freePorts: the server has no TCP address');
      }
      ports.push(address.port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}
