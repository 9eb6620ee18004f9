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
 * `--node-bind` keeps Node's own AsyncResource.bind (the app replaces it: lean-async-bind.ts);
 * `--upstream-connections N` sets the HTTP/2 connections to the member (default 2, as the app).
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { GrpcChannel, GrpcServer, createClient } from '@keyval/grpc';
import { etcd } from '@keyval/proto';
import { Gateway } from '../gateway';
import { installLeanAsyncResourceBind } from '../lean-async-bind';

interface Args {
  calls: number;
  concurrency: number;
  valueBytes: number;
  rounds: number;
  sessions: 'client' | 'gateway';
  nodeBind: boolean;
  upstreamConnections: number;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { calls: 40_000, concurrency: 64, valueBytes: 256, rounds: 3, sessions: 'client', nodeBind: false, upstreamConnections: 2 };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1] ?? ''];
    if (flag === '--node-bind') {
      args.nodeBind = true;
      i -= 1;
    } else if (flag === '--calls') args.calls = Number(value);
    else if (flag === '--concurrency') args.concurrency = Number(value);
    else if (flag === '--value-bytes') args.valueBytes = Number(value);
    else if (flag === '--rounds') args.rounds = Number(value);
    else if (flag === '--upstream-connections') args.upstreamConnections = Number(value);
    else if (flag === '--sessions' && (value === 'client' || value === 'gateway')) args.sessions = value;
    else throw new Error(`unknown flag ${String(flag)} (flags: --calls N --concurrency N --value-bytes N --rounds N --sessions client|gateway --node-bind --upstream-connections N)`);
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
  const gateway = await Gateway.start({ endpoints: [`127.0.0.1:${port}`], listen: [{ host: '127.0.0.1', port: 0 }], connectionsPerMember: args.upstreamConnections });
  while (gateway.directory.leader() === undefined) await new Promise((resolve) => setTimeout(resolve, 10));
  const target = `127.0.0.1:${gateway.addresses[0]?.port}`;
  const run = async (to: string, calls: number): Promise<{ seconds: number }> => {
    const l = child(['--role', 'load', to, String(calls), String(args.concurrency), String(args.valueBytes), args.sessions]);
    const result = (await l.message) as { seconds: number };
    l.process.kill();
    return result;
  };
  process.stdout.write(
    `gateway CPU per forwarded Put: ${args.calls} calls × ${args.rounds} rounds, ${args.concurrency} in flight, ${args.valueBytes}-byte values, ${args.sessions} sessions, ${args.nodeBind ? "Node's" : 'lean'} AsyncResource.bind, ${args.upstreamConnections} upstream connection(s)\n`,
  );
  await run(target, Math.max(2_000, Math.floor(args.calls / 10))); // warm-up
  for (let round = 1; round <= args.rounds; round++) {
    const cpu = process.cpuUsage();
    const through = await run(target, args.calls);
    const used = process.cpuUsage(cpu);
    const direct = await run(`127.0.0.1:${port}`, args.calls);
    const micros = (used.user + used.system) / args.calls;
    process.stdout.write(
      `round ${round}: gateway ${micros.toFixed(1)} µs CPU/call; ${Math.round(args.calls / through.seconds)} calls/s through the gateway, ${Math.round(args.calls / direct.seconds)} calls/s direct\n`,
    );
  }
  await gateway.shutdown(1_000);
  up.process.kill();
}

const role = process.argv[2] === '--role' ? process.argv[3] : undefined;
const [target, calls, concurrency, valueBytes, sessions] = process.argv.slice(4);
const entry = role === 'upstream' ? upstream() : role === 'load' ? load(target as string, Number(calls), Number(concurrency), Number(valueBytes), sessions as string) : main();
entry.catch((error: unknown) => {
  process.stderr.write(`bench:gateway: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
