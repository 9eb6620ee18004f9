/**
 * Server CPU per unary call: our GrpcServer against a @grpc/grpc-js server, both serving an
 * in-memory etcd KV.Put. The server runs in this process and is measured with
 * process.cpuUsage() around the measured calls only; the load comes from a separate client
 * process (forked from this file), so client work is not counted.
 *
 *     parent (server, measured)  ◄── h2c, N calls, C in flight ──  child (client, not measured)
 *
 * Usage: node libs/grpc/dist/bench/unary.bench.js [--calls 50000] [--concurrency 64]
 *        [--value-bytes 256] [--rounds 3] [--client lean|grpc-js] [--servers lean,grpc-js]
 */
import { fork, type ChildProcess } from 'node:child_process';
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { etcd } from '@keyval/proto';
import { GrpcChannel } from '../channel';
import { createClient } from '../client';
import { GrpcServer } from '../server';

type ServerKind = 'lean' | 'grpc-js';
type ClientKind = 'lean' | 'grpc-js';

interface ClientJob {
  readonly address: string;
  readonly calls: number;
  readonly warmupCalls: number;
  readonly concurrency: number;
  readonly valueBytes: number;
  readonly client: ClientKind;
}

type ChildMessage = { kind: 'warm' } | { kind: 'done'; wallMs: number; errors: number };

interface RoundResult {
  readonly server: ServerKind;
  readonly cpuUsPerCall: number;
  readonly callsPerSecond: number;
  readonly errors: number;
}

/** The in-memory Put both servers run: store the value, answer with a header. */
function makePutHandler(): (request: etcd.PutRequest) => etcd.PutResponse {
  const store = new Map<string, Buffer>();
  let revision = 0n;
  return (request) => {
    revision += 1n;
    store.set(request.key.toString('latin1'), request.value);
    return { header: { clusterId: 1n, memberId: 0xfedc_ba98_7654_3210n, revision, raftTerm: 1n }, prevKv: undefined };
  };
}

async function startServer(kind: ServerKind): Promise<{ address: string; stop: () => Promise<void> }> {
  const put = makePutHandler();
  if (kind === 'lean') {
    const server = new GrpcServer();
    server.addService(etcd.KVDefinition, { put });
    const { port } = await server.listen(0, '127.0.0.1');
    return { address: `127.0.0.1:${port}`, stop: () => server.shutdown(1000) };
  }
  const server = new grpc.Server();
  const implementation = {
    put: (call: grpc.ServerUnaryCall<etcd.PutRequest, etcd.PutResponse>, callback: grpc.sendUnaryData<etcd.PutResponse>) =>
      callback(null, put(call.request)),
  };
  server.addService(etcd.KVService, implementation as unknown as grpc.UntypedServiceImplementation);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error === null ? resolve(bound) : reject(error),
    ),
  );
  return { address: `127.0.0.1:${port}`, stop: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())) };
}

/** Runs in the child: sends `calls` puts keeping `concurrency` in flight. */
async function runLoad(job: ClientJob, calls: number): Promise<number> {
  const value = Buffer.alloc(job.valueBytes, 0x76);
  let next = 0;
  let errors = 0;
  let send: (request: etcd.PutRequest) => Promise<unknown>;
  let close: () => void;
  if (job.client === 'lean') {
    const channel = new GrpcChannel(job.address);
    const kv = createClient(etcd.KVDefinition, channel);
    send = (request) => kv.put(request, { timeoutMs: 10_000 });
    close = () => channel.close();
  } else {
    const kv = new etcd.KVClient(job.address, grpc.credentials.createInsecure());
    send = (request) =>
      new Promise((resolve, reject) =>
        kv.put(request, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (e, r) => (e === null ? resolve(r) : reject(e))),
      );
    close = () => kv.close();
  }
  const worker = async (): Promise<void> => {
    while (next < calls) {
      next += 1;
      const key = Buffer.from(`key-${next % 10_000}`);
      await send({ key, value, lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false }).catch(() => {
        errors += 1;
      });
    }
  };
  await Promise.all(Array.from({ length: job.concurrency }, worker));
  close();
  return errors;
}

async function childMain(job: ClientJob): Promise<void> {
  const send = (message: ChildMessage): void => {
    (process.send as (m: ChildMessage) => void)(message);
  };
  await runLoad(job, job.warmupCalls);
  const go = new Promise<void>((resolve) => process.once('message', () => resolve()));
  send({ kind: 'warm' });
  await go;
  const started = process.hrtime.bigint();
  const errors = await runLoad(job, job.calls);
  send({ kind: 'done', wallMs: Number(process.hrtime.bigint() - started) / 1e6, errors });
  process.disconnect();
}

function waitFor<K extends ChildMessage['kind']>(child: ChildProcess, kind: K): Promise<Extract<ChildMessage, { kind: K }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: ChildMessage): void => {
      if (message.kind === kind) {
        child.off('message', onMessage);
        resolve(message as Extract<ChildMessage, { kind: K }>);
      }
    };
    child.on('message', onMessage);
    child.once('exit', (code) => reject(new Error(`client process exited with ${code} before ${kind}`)));
  });
}

async function measureRound(server: ServerKind, job: Omit<ClientJob, 'address'>): Promise<RoundResult> {
  const running = await startServer(server);
  const child = fork(__filename, ['--child', JSON.stringify({ ...job, address: running.address })], { stdio: 'inherit' });
  await waitFor(child, 'warm');
  global.gc?.();
  const cpuBefore = process.cpuUsage();
  child.send('go');
  const done = await waitFor(child, 'done');
  const cpu = process.cpuUsage(cpuBefore);
  await new Promise((resolve) => child.once('exit', resolve));
  await running.stop();
  return {
    server,
    cpuUsPerCall: (cpu.user + cpu.system) / job.calls,
    callsPerSecond: job.calls / (done.wallMs / 1000),
    errors: done.errors,
  };
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      calls: { type: 'string', default: '50000' },
      concurrency: { type: 'string', default: '64' },
      'value-bytes': { type: 'string', default: '256' },
      rounds: { type: 'string', default: '3' },
      client: { type: 'string', default: 'lean' },
      servers: { type: 'string', default: 'lean,grpc-js' },
      child: { type: 'string' },
    },
  });
  if (values.child !== undefined) {
    await childMain(JSON.parse(values.child) as ClientJob);
    return;
  }
  const client = values.client as ClientKind;
  if (client !== 'lean' && client !== 'grpc-js') {
    throw new Error(`--client must be lean or grpc-js, not ${String(client)}`);
  }
  const calls = Number(values.calls);
  const job = {
    calls,
    warmupCalls: Math.min(10_000, Math.ceil(calls / 5)),
    concurrency: Number(values.concurrency),
    valueBytes: Number(values['value-bytes']),
    client,
  };
  const rounds = Number(values.rounds);
  const servers = values.servers.split(',') as ServerKind[];
  if (servers.some((server) => server !== 'lean' && server !== 'grpc-js')) {
    throw new Error(`--servers takes lean and/or grpc-js, not ${values.servers}`);
  }
  console.log(
    `unary Put, server CPU per call: ${calls} calls, ${job.concurrency} in flight, ${job.valueBytes}-byte values, ${client} client, ${rounds} rounds`,
  );
  console.log(
    `node ${process.version}, ${os.cpus().length} cpus (${os.cpus()[0]?.model ?? '?'}), load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  const results: RoundResult[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const server of servers) {
      const result = await measureRound(server, job);
      results.push(result);
      console.log(
        `  round ${round + 1} ${server.padEnd(8)} ${result.cpuUsPerCall.toFixed(1).padStart(7)} µs CPU/call ${result.callsPerSecond.toFixed(0).padStart(7)} calls/s  errors ${result.errors}`,
      );
    }
  }
  console.log('median of rounds:');
  for (const server of servers) {
    const mine = results.filter((r) => r.server === server);
    console.log(
      `  ${server.padEnd(8)} ${median(mine.map((r) => r.cpuUsPerCall))
        .toFixed(1)
        .padStart(7)} µs CPU/call ${median(mine.map((r) => r.callsPerSecond))
        .toFixed(0)
        .padStart(7)} calls/s`,
    );
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
