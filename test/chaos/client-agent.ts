/**
 * Child process in the client namespace: the only process that talks to the members. It runs
 * the workload's clients, records the history (times in ms since the run's start), and asks
 * members for their status and for membership changes and leader transfers on the harness's
 * behalf. Served over IPC (agent-protocol.ts); exits when the harness goes away.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { type ClientTlsOptions, GrpcChannel, createClient } from '@keyval/grpc';
import { etcd } from '@keyval/proto';
import { HistoryRecorder } from '@keyval/lincheck';
import { SeededRandom } from '../crash/seeded-random';
import type { AgentMember, AgentMethods, AgentTls, ListedMember, MemberView, WorkloadParams, WorkloadResult } from './agent-protocol';
import { delay } from './command';
import { REPO_ROOT, serveIpc } from './ipc-child';
import { KvSessionClient } from './kv-session-client';
import type { KvEndpoint, OpResult } from './kv-session-client';
import { createWorkload } from './workloads';
import type { OpRecorder, Worker, Workload, WorkloadContext } from './workloads';

/** Process ids of the final reads start here (far above the workers' ids). */
const FINAL_PROCESS_BASE = 100_000_000;

/** Where the gateway listens, on the client namespace's loopback (via gateway). */
const GATEWAY_CLIENT = '127.0.0.1:23790';
const GATEWAY_METRICS = 'http://127.0.0.1:23791';
const GATEWAY_MAIN = path.join(REPO_ROOT, 'apps', 'gateway', 'dist', 'main.js');

/** --tls: the certificate files the agent and its gateway use (set by the first `members` call). */
let agentTls: AgentTls | undefined;

/** The channel options of the agent's TLS (undefined without --tls). */
function channelTls(): ClientTlsOptions | undefined {
  const t = agentTls;
  if (t === undefined) return undefined;
  const context = tls.createSecureContext({ ca: fs.readFileSync(t.caFile), cert: fs.readFileSync(t.certFile), key: fs.readFileSync(t.keyFile) });
  return { secureContext: () => context };
}

/** The gateway the agent started for this workload, if any. */
let gateway: { child: ChildProcess; channel: GrpcChannel } | undefined;

/**
 * Starts the built gateway in front of the members (it finds the rest, and follows membership
 * changes, through their member list) and waits until it knows a leader.
 */
async function startGateway(logFile: string): Promise<GrpcChannel> {
  if (!fs.existsSync(GATEWAY_MAIN)) throw new Error(`${GATEWAY_MAIN} is missing: --via gateway runs the BUILT gateway (npm run build)`);
  const log = fs.openSync(logFile, 'a');
  const t = agentTls;
  // --tls: the gateway serves mutual TLS and dials the members with the agent's certificate (it has 127.0.0.1 in its names).
  const tlsFlags =
    t === undefined
      ? []
      : [`--cert-file=${t.certFile}`, `--key-file=${t.keyFile}`, `--trusted-ca-file=${t.caFile}`, '--client-cert-auth', `--cacert=${t.caFile}`, `--cert=${t.certFile}`, `--key=${t.keyFile}`];
  const child = spawn(
    process.execPath,
    [
      GATEWAY_MAIN,
      `--endpoints=${connected.map((c) => c.member.client).join(',')}`,
      `--listen-client-urls=${t === undefined ? 'http' : 'https'}://${GATEWAY_CLIENT}`,
      `--listen-metrics-urls=${GATEWAY_METRICS}`,
      '--log-level=info',
      ...tlsFlags,
    ],
    { stdio: ['ignore', log, log] },
  );
  fs.closeSync(log);
  const channel = new GrpcChannel(`${t === undefined ? '' : 'https://'}${GATEWAY_CLIENT}`, { connectTimeoutMs: 2_000, tls: channelTls() });
  gateway = { child, channel };
  const deadline = performance.now() + 60_000;
  while (!(await readyz(GATEWAY_METRICS, 1_000))) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the gateway exited (${child.exitCode ?? child.signalCode}) before it was ready; see ${logFile}`);
    if (performance.now() > deadline) throw new Error(`the gateway knew no leader within 60 s; see ${logFile}`);
    await delay(200);
  }
  return channel;
}

/** Stops the gateway (SIGTERM: it drains), SIGKILL after 15 s. */
async function stopGateway(): Promise<void> {
  const g = gateway;
  if (g === undefined) return;
  gateway = undefined;
  g.channel.close();
  if (g.child.exitCode !== null || g.child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => g.child.once('exit', () => resolve()));
  g.child.kill('SIGTERM');
  const timer = setTimeout(() => g.child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

process.on('exit', () => gateway?.child.kill('SIGKILL'));

interface Connected {
  readonly member: AgentMember;
  readonly channel: GrpcChannel;
}

let connected: Connected[] = [];

function byName(name: string): Connected {
  const found = connected.find((c) => c.member.name === name);
  if (found === undefined) throw new Error(`unknown member ${name}`);
  return found;
}

function readyz(metricsUrl: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(`${metricsUrl}/readyz`, { timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

async function viewOf(c: Connected, timeoutMs: number): Promise<MemberView> {
  const maintenance = createClient(etcd.MaintenanceDefinition, c.channel);
  const [status, ready] = await Promise.all([
    maintenance.status({}, { timeoutMs }).then(
      (s) => ({ s, error: undefined }),
      (error: unknown) => ({ s: undefined, error: error instanceof Error ? error.message : String(error) }),
    ),
    readyz(c.member.metrics, timeoutMs),
  ]);
  if (status.s === undefined) return { name: c.member.name, reachable: false, ready, error: status.error };
  const s = status.s;
  return {
    name: c.member.name,
    reachable: true,
    ready,
    id: (s.header?.memberId ?? 0n).toString(16),
    leader: s.leader.toString(16),
    term: Number(s.raftTerm),
    raftIndex: Number(s.raftIndex),
    appliedIndex: Number(s.raftAppliedIndex),
    isLearner: s.isLearner,
  };
}

function listed(members: readonly etcd.Member[]): ListedMember[] {
  return members.map((m) => ({ id: m.ID.toString(16), name: m.name, peerUrls: [...m.peerURLs], clientUrls: [...m.clientURLs], isLearner: m.isLearner }));
}

/** The running workload, if any. */
interface Run {
  readonly params: WorkloadParams;
  readonly workload: Workload;
  readonly history: HistoryRecorder;
  readonly recorder: OpRecorder;
  readonly errors: Map<string, number>;
  /** Per operation (by id): the members tried and the last error. */
  readonly notes: string[];
  readonly endpoints: KvEndpoint[];
  running: boolean;
  readonly loops: Promise<void>[];
}

let run: Run | undefined;

function makeRecorder(history: HistoryRecorder, errors: Map<string, number>, notes: string[], t0EpochMs: number): OpRecorder {
  const now = (): number => Math.round((performance.timeOrigin + performance.now() - t0EpochMs) * 1000) / 1000;
  return {
    invoke: (invocation) => history.invoke(invocation, now()),
    complete: (id: number, result: OpResult) => {
      history.complete(id, now(), result.outcome);
      notes[id] = `${result.via.join('>')}${result.lastError === undefined ? '' : ` ${result.lastError}`}`;
      if (result.lastError !== undefined) {
        const text = result.lastError.replace(/\d+(\.\d+)*(:\d+)?/g, 'N').slice(0, 200);
        errors.set(text, (errors.get(text) ?? 0) + 1);
      }
    },
  };
}

async function workerLoop(r: Run, worker: Worker): Promise<void> {
  const intervalMs = (r.params.clients * 1000) / r.params.rate;
  while (r.running) {
    const started = performance.now();
    await r.workload.step(worker, r.recorder);
    const wait = intervalMs * (0.5 + worker.random.next()) - (performance.now() - started);
    if (wait > 0 && r.running) await delay(wait);
  }
}

function sessionClient(p: WorkloadParams, endpoints: readonly KvEndpoint[], home: number, tag: string): KvSessionClient {
  return new KvSessionClient(endpoints, home, { opTimeoutMs: p.opTimeoutMs, attemptTimeoutMs: p.attemptTimeoutMs, clientIdPrefix: `chaos-${p.runTag}-${tag}` });
}

async function startWorkload(p: WorkloadParams): Promise<null> {
  if (run !== undefined) throw new Error('a workload is already running');
  const history = new HistoryRecorder();
  const errors = new Map<string, number>();
  const notes: string[] = [];
  const endpoints = p.via === 'gateway' ? [{ name: 'gw', channel: await startGateway(p.gatewayLog) }] : connected.map((c) => ({ name: c.member.name, channel: c.channel }));
  const recorder = makeRecorder(history, errors, notes, p.t0EpochMs);
  const context: WorkloadContext = { endpoints, seed: p.seed, runTag: p.runTag, sessionClient: (e, home, tag) => sessionClient(p, e, home, tag) };
  const r: Run = { params: p, workload: createWorkload(p.workload, context), history, recorder, errors, notes, endpoints, running: true, loops: [] };
  r.workload.start?.();
  const seeds = new SeededRandom(p.seed);
  for (let k = 0; k < p.clients; k++) {
    const worker: Worker = { index: k, process: k, client: sessionClient(p, endpoints, k, `c${k}`), random: new SeededRandom(seeds.int(2 ** 31)), count: 0, seen: new Map() };
    r.loops.push(workerLoop(r, worker));
  }
  run = r;
  return null;
}

async function finishWorkload(finalReadTimeoutMs: number): Promise<WorkloadResult> {
  const r = run;
  if (r === undefined) throw new Error('no workload is running');
  r.running = false;
  r.workload.stop?.();
  await Promise.all(r.loops);
  const reader = sessionClient(r.params, r.endpoints, 0, 'final');
  const final = await r.workload.finish(reader, r.recorder, FINAL_PROCESS_BASE, finalReadTimeoutMs);
  await stopGateway();
  run = undefined;
  const ops = r.history.operations();
  return { ops, notes: ops.map((_, k) => r.notes[k] ?? ''), errors: Object.fromEntries(r.errors), final };
}

serveIpc<AgentMethods>({
  members: async ({ members, tls: given }) => {
    agentTls ??= given;
    const keep = connected.filter((c) => members.some((m) => m.name === c.member.name && m.client === c.member.client));
    for (const c of connected) if (!keep.includes(c)) c.channel.close();
    connected = members.map((m) => keep.find((c) => c.member.name === m.name) ?? { member: m, channel: new GrpcChannel(m.client, { connectTimeoutMs: 2_000, tls: channelTls() }) });
    return null;
  },
  status: async ({ timeoutMs }) => Promise.all(connected.map((c) => viewOf(c, timeoutMs))),
  memberList: async ({ via, timeoutMs }) => listed((await createClient(etcd.ClusterDefinition, byName(via).channel).memberList({}, { timeoutMs })).members),
  moveLeader: async ({ via, targetId, timeoutMs }) => {
    await createClient(etcd.MaintenanceDefinition, byName(via).channel).moveLeader({ targetID: BigInt(`0x${targetId}`) }, { timeoutMs });
    return null;
  },
  disarmNoSpace: async ({ via, timeoutMs }) => {
    const maintenance = createClient(etcd.MaintenanceDefinition, byName(via).channel);
    const { alarms } = await maintenance.alarm({ action: etcd.AlarmRequest_AlarmAction.GET, memberID: 0n, alarm: etcd.AlarmType.NONE }, { timeoutMs });
    const noSpace = alarms.filter((a) => a.alarm === etcd.AlarmType.NOSPACE);
    for (const a of noSpace) {
      await maintenance.alarm({ action: etcd.AlarmRequest_AlarmAction.DEACTIVATE, memberID: a.memberID, alarm: etcd.AlarmType.NOSPACE }, { timeoutMs });
    }
    return noSpace.length;
  },
  memberRemove: async ({ via, id, timeoutMs }) => {
    await createClient(etcd.ClusterDefinition, byName(via).channel).memberRemove({ ID: BigInt(`0x${id}`) }, { timeoutMs });
    return null;
  },
  memberAdd: async ({ via, peerUrl, learner, timeoutMs }) => {
    const res = await createClient(etcd.ClusterDefinition, byName(via).channel).memberAdd({ peerURLs: [peerUrl], isLearner: learner }, { timeoutMs });
    return (res.member?.ID ?? 0n).toString(16);
  },
  startWorkload: (params) => startWorkload(params),
  finishWorkload: ({ finalReadTimeoutMs }) => finishWorkload(finalReadTimeoutMs),
});
