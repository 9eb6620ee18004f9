/**
 * CPU the gateway spends per forwarded call: `npm run bench:gateway` (= node
 * libs/gateway-core/dist/bench/gateway-cpu.bench.js; options --calls N, --concurrency N,
 * --value-bytes N, --rounds N, --sessions client|gateway).
 *
 *     load process ──h2c──► gateway (this process: Gateway.start, measured) ──h2c──► upstream process
 *       (lean client, N Puts,                                                       (a fake leader answering
 *        C in flight)                                                                Status, MemberList, Put)
 *
 * `process.cpuUsage()` of this process over the measured calls (after a warm-up), divided by
 * the calls. The upstream answers at once, so what is measured is the gateway's own cost:
 * two HTTP/2 hops, framing, routing, sessions. `--sessions client` sends each Put with a client
 * id and sequence number (passed through); `gateway` sends none (the gateway adds its own).
 * `--node-bind` keeps Node's own AsyncResource.bind (the app replaces it: @keyval/grpc lean-async-bind.ts);
 * `--upstream-connections N` sets the HTTP/2 connections to the member (default 2, as the app).
 * `--bare-proxy` measures, in place of the gateway, the floor of any Node HTTP/2 proxy: a
 * pass-through of each stream's bytes to the upstream and back, with no gRPC library and no
 * logic (what the gateway's extra hop cannot cost less than).
 */
import { fork } from 'node:child_process';
import * as http2 from 'node:http2';
import type { ChildProcess } from 'node:child_process';
import { GrpcChannel, GrpcServer, createClient } from '@keyval/grpc';
import { etcd } from '@keyval/proto';
import { Gateway } from '../gateway';
import { installLeanAsyncResourceBind } from '@keyval/grpc';

interface Args {
  calls: number;
  concurrency: number;
  valueBytes: number;
  rounds: number;
  sessions: 'client' | 'gateway';
  nodeBind: boolean;
  upstreamConnections: number;
  bare: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { calls: 40_000, concurrency: 64, valueBytes: 256, rounds: 3, sessions: 'client', nodeBind: false, upstreamConnections: 2, bare: false };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1] ?? ''];
    if (flag === '--node-bind' || flag === '--bare-proxy') {
      args.nodeBind ||= flag === '--node-bind';
      args.bare ||= flag === '--bare-proxy';
      i -= 1;
    } else if (flag === '--calls') args.calls = Number(value);
    else if (flag === '--concurrency') args.concurrency = Number(value);
    else if (flag === '--value-bytes') args.valueBytes = Number(value);
    else if (flag === '--rounds') args.rounds = Number(value);
    else if (flag === '--upstream-connections') args.upstreamConnections = Number(value);
    else if (flag === '--sessions' && (value === 'client' || value === 'gateway')) args.sessions = value;
    else throw new Error(`unknown flag ${String(flag)} (flags: --calls N --concurrency N --value-bytes N --rounds N --sessions client|gateway --node-bind --upstream-connections N --bare-proxy)`);
  }
  return args;
}

const MEMBER_ID = 0x4242n;

/** The upstream role: a fake leader that answers at once. Prints its port. */
async function upstream(): Promise<void> {
  const server = new GrpcServer();
  let port = 0;
  const header = (): etcd.ResponseHeader => etcd.ResponseHeader.fromPartial({ clusterId: 1n, memberId: MEMBER_ID, revision: 2n, raftTerm: 2n });
  const put = etcd.PutResponse.fromPartial({ header: header() });
  server.addService(etcd.KVDefinition, { put: () => put });
  server.addService(etcd.MaintenanceDefinition, { status: () => etcd.StatusResponse.fromPartial({ header: header(), leader: MEMBER_ID, raftTerm: 2n }) });
  server.addService(etcd.ClusterDefinition, {
    memberList: () => etcd.MemberListResponse.fromPartial({ header: header(), members: [{ ID: MEMBER_ID, name: 'up', clientURLs: [`http://127.0.0.1:${port}`] }] }),
  });
  port = (await server.listen(0, '127.0.0.1')).port;
  process.send?.({ port });
}

/** The load role: `calls` Puts through `target`, `concurrency` in flight; reports when done. */
async function load(target: string, calls: number, concurrency: number, valueBytes: number, sessions: string): Promise<void> {
  const channel = new GrpcChannel(target, { sessions: 4 });
  const kv = createClient(etcd.KVDefinition, channel);
  const value = Buffer.alloc(valueBytes, 0x61);
  let issued = 0;
  const started = performance.now();
  const worker = async (w: number): Promise<void> => {
    for (let seq = 1; issued < calls; seq++) {
      issued += 1;
      const metadata = sessions === 'client' ? { 'keyval-client-id': `bench-${process.pid}-${w}`, 'keyval-seq': String(seq) } : undefined;
      await kv.put(etcd.PutRequest.fromPartial({ key: Buffer.from(`k${seq % 1000}`), value }), { timeoutMs: 30_000, metadata });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  channel.close();
  process.send?.({ seconds: (performance.now() - started) / 1000 });
}

function child(args: string[]): { process: ChildProcess; message: Promise<Record<string, number>> } {
  const p = fork(__filename, args, { stdio: 'inherit' });
  return { process: p, message: new Promise((resolve) => p.once('message', (m) => resolve(m as Record<string, number>))) };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (!args.nodeBind) {
    installLeanAsyncResourceBind(); // as the app does; the load and upstream processes keep Node's
  }
  const up = child(['--role', 'upstream']);
  const { port } = (await up.message) as { port: number };
  const proxy = args.bare ? await bareProxy(port, args.upstreamConnections) : await gatewayProxy(port, args.upstreamConnections);
  const target = proxy.target;
  const run = async (to: string, calls: number): Promise<{ seconds: number }> => {
    const l = child(['--role', 'load', to, String(calls), String(args.concurrency), String(args.valueBytes), args.sessions]);
    const result = (await l.message) as { seconds: number };
    l.process.kill();
    return result;
  };
  process.stdout.write(
    `${args.bare ? 'bare HTTP/2 proxy' : 'gateway'} CPU per forwarded Put: ${args.calls} calls × ${args.rounds} rounds, ${args.concurrency} in flight, ${args.valueBytes}-byte values, ${args.sessions} sessions, ${args.nodeBind ? "Node's" : 'lean'} AsyncResource.bind, ${args.upstreamConnections} upstream connection(s)\n`,
  );
  await run(target, Math.max(2_000, Math.floor(args.calls / 10))); // warm-up
  for (let round = 1; round <= args.rounds; round++) {
    const cpu = process.cpuUsage();
    const through = await run(target, args.calls);
    const used = process.cpuUsage(cpu);
    const direct = await run(`127.0.0.1:${port}`, args.calls);
    const micros = (used.user + used.system) / args.calls;
    process.stdout.write(
      `round ${round}: ${args.bare ? 'proxy' : 'gateway'} ${micros.toFixed(1)} µs CPU/call; ${Math.round(args.calls / through.seconds)} calls/s through it, ${Math.round(args.calls / direct.seconds)} calls/s direct\n`,
    );
  }
  await proxy.close();
  up.process.kill();
}

interface Proxy {
  readonly target: string;
  close(): Promise<void>;
}

async function gatewayProxy(port: number, connections: number): Promise<Proxy> {
  const gateway = await Gateway.start({ endpoints: [`127.0.0.1:${port}`], listen: [{ host: '127.0.0.1', port: 0 }], connectionsPerMember: connections });
  while (gateway.directory.leader() === undefined) await new Promise((resolve) => setTimeout(resolve, 10));
  return { target: `127.0.0.1:${gateway.addresses[0]?.port}`, close: () => gateway.shutdown(1_000) };
}

/** Each stream's request bytes to the upstream, its answer and status back: nothing else. */
async function bareProxy(port: number, connections: number): Promise<Proxy> {
  const upstream = Array.from({ length: connections }, () => http2.connect(`http://127.0.0.1:${port}`));
  let next = 0;
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const request: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => request.push(chunk));
    stream.on('end', () => {
      const session = upstream[next++ % upstream.length] as http2.ClientHttp2Session;
      const call = session.request({ ':method': 'POST', ':path': headers[':path'], 'content-type': 'application/grpc', te: 'trailers' });
      const response: Buffer[] = [];
      call.on('data', (chunk: Buffer) => response.push(chunk));
      call.on('trailers', (trailers) => {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': String(trailers['grpc-status'] ?? '0') }));
        stream.end(Buffer.concat(response));
      });
      call.end(Buffer.concat(request));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    target: `127.0.0.1:${(server.address() as { port: number }).port}`,
    close: async () => {
      for (const s of upstream) s.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const role = process.argv[2] === '--role' ? process.argv[3] : undefined;
const [target, calls, concurrency, valueBytes, sessions] = process.argv.slice(4);
const entry = role === 'upstream' ? upstream() : role === 'load' ? load(target as string, Number(calls), Number(concurrency), Number(valueBytes), sessions as string) : main();
entry.catch((error: unknown) => {
  process.stderr.write(`bench:gateway: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
