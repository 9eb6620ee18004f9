/**
 * A pod simulation of the Kubernetes manifests, for machines without a cluster: each pod is a
 * network namespace on a private subnet, started with exactly the command, arguments and
 * environment the rendered workload gives its container (manifests.ts), with its own
 * directory mounted where the manifest mounts its volume; the headless Service's and the
 * Services' DNS names live in every namespace's own /etc/hosts (`ip netns exec` bind-mounts
 * /etc/netns/<ns>/hosts), updated as pods come and go. The network is built by the chaos
 * suite's helpers (test/chaos/netns-network.ts) on its own layout:
 *
 *      root ns: ip route unreachable 10.78.0.0/24   (nothing else)
 *      kvpod-keyval-0 10.78.0.10 ─┐
 *      kvpod-keyval-1 10.78.0.11 ─┤
 *      …                          ├─ br0 in kvpod-sw
 *      kvpod-gw-0     10.78.0.60 ─┤
 *      kvpod-client   10.78.0.100─┘  probes (as the kubelet would), kvctl, the write load
 *
 * What it does not simulate: the image (the repository's built apps run, as root), resource
 * limits, and Service load balancing (a Service name resolves to every pod of its selector).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { acquireChaosLock, releaseChaosLock } from '../chaos/chaos-lock';
import type { LockSpec } from '../chaos/chaos-lock';
import { runCommand } from '../chaos/command';
import { addHost, setupSwitch, teardownLayout } from '../chaos/netns-network';
import type { NetnsLayout } from '../chaos/netns-network';
import { REPO_ROOT, containerLaunch, findObject, podTemplate } from './manifests';
import type { ContainerLaunch, K8sObject } from './manifests';
import { waitFor } from '../integration/harness/wait-for';

export const POD_LAYOUT: NetnsLayout = { prefix: 'kvpod', subnet: '10.78.0.0/24', workRoot: '/tmp/kvpod' };
const POD_LOCK: LockSpec = { file: '/tmp/kvpod.lock', ownerMarker: 'jest' };
export const CLIENT_NS = `${POD_LAYOUT.prefix}-client`;
const CLIENT_IP = '10.78.0.100';
const TS_REGISTER = path.join(REPO_ROOT, 'test', 'crash', 'ts-register.js');

/** The image's commands (deployments/docker/Dockerfile links them into /usr/local/bin). */
export function imageCommands(): Record<string, string> {
  const dockerfile = fs.readFileSync(path.join(REPO_ROOT, 'deployments', 'docker', 'Dockerfile'), 'utf8');
  const links = [...dockerfile.matchAll(/ln -s \/opt\/keyval\/(\S+) \/usr\/local\/bin\/(\S+)/g)];
  if (links.length === 0) throw new Error('the Dockerfile links no command into /usr/local/bin');
  return Object.fromEntries(links.map((m) => [m[2] as string, path.join(REPO_ROOT, m[1] as string)]));
}

/** The deepest existing directory above `dir` on the host (a tmpfs there makes room for `dir` in a pod alone). */
function hostAncestor(dir: string): string {
  let at = path.dirname(dir);
  while (!fs.existsSync(at)) at = path.dirname(at);
  return fs.realpathSync(at);
}

/** A pod the simulation runs. */
export class SimPod {
  process: ChildProcess | undefined;
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** Whether the cluster DNS serves this pod's records yet. */
  dnsPublished = true;
  /** Secret volumes: a host directory holding the Secret's files, mounted read-only at mountPath. */
  secretMounts: readonly { readonly source: string; readonly mountPath: string }[] = [];
  private exited: Promise<void> = Promise.resolve();

  constructor(
    readonly name: string,
    readonly namespace: string,
    readonly ip: string,
    readonly workload: K8sObject,
    readonly launch: ContainerLaunch,
    readonly volumeDir: string | undefined,
    readonly logFile: string,
  ) {}

  get running(): boolean {
    return this.process !== undefined && this.exit === undefined;
  }

  /** terminationGracePeriodSeconds of the pod template (Kubernetes' default 30). */
  get graceSeconds(): number {
    return podTemplate(this.workload).spec.terminationGracePeriodSeconds ?? 30;
  }

  start(commands: Record<string, string>): void {
    const [command, ...rest] = this.launch.command;
    const file = commands[command as string];
    if (file === undefined) throw new Error(`the image has no command ${command}`);
    const mountPath = this.volumeDir === undefined ? undefined : Object.values(this.launch.mounts)[0];
    // Inside `ip netns exec` the process has a mount namespace of its own: the pod's volume is
    // mounted at the manifest's mountPath over a tmpfs on its parent, seen by this pod only;
    // each Secret likewise, read-only, over a tmpfs where its path leaves the host's tree.
    const steps = [
      ...(mountPath === undefined ? [] : [`mount -t tmpfs kvpod "${path.dirname(mountPath)}" && mkdir -p "${mountPath}" && mount --bind "$0" "${mountPath}"`]),
      ...this.secretMounts.map((m) => `mount -t tmpfs kvpod "${hostAncestor(m.mountPath)}" && mkdir -p "${m.mountPath}" && mount --bind "${m.source}" "${m.mountPath}" && mount -o remount,bind,ro "${m.mountPath}"`),
    ];
    const script = [...steps, 'exec "$@"'].join(' && ');
    const out = fs.openSync(this.logFile, 'a');
    const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...this.launch.env };
    this.exit = undefined;
    const child = spawn('ip', ['netns', 'exec', this.namespace, 'sh', '-c', script, this.volumeDir ?? 'none', file, ...rest, ...this.launch.args], { env, stdio: ['ignore', out, out] });
    fs.closeSync(out);
    this.process = child;
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => {
      this.exit = { code, signal };
      resolve();
    }));
  }

  /** Waits for the process to end, up to `timeoutMs`; true when it did. */
  async waitExit(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const done = await Promise.race([this.exited.then(() => true), timedOut]);
    clearTimeout(timer);
    return done;
  }

  /** The kubelet's way: SIGTERM, then SIGKILL after the grace period. Returns how it ended. */
  async terminate(): Promise<{ code: number | null; signal: NodeJS.Signals | null; killed: boolean }> {
    if (!this.running) return { code: this.exit?.code ?? null, signal: this.exit?.signal ?? null, killed: false };
    this.process?.kill('SIGTERM');
    let killed = false;
    if (!(await this.waitExit(this.graceSeconds * 1000))) {
      killed = true;
      this.process?.kill('SIGKILL');
      await this.waitExit(10_000);
    }
    return { code: this.exit?.code ?? null, signal: this.exit?.signal ?? null, killed };
  }

  logTail(lines = 30): string {
    try {
      return fs.readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }
}

export interface SimOptions {
  /** The Kubernetes namespace the pods run in (what their downward API says). */
  readonly namespace: string;
  readonly log?: (line: string) => void;
  /** The Secrets the pods may mount: name → a host directory holding its keys as files. */
  readonly secrets?: Readonly<Record<string, string>>;
}

/** The simulated cluster: pods of the rendered workloads, their DNS, probes and clients. */
export class PodSimulation {
  readonly pods = new Map<string, SimPod>();
  /** DNS names published (name → addresses), as the cluster DNS would serve them. */
  private readonly records = new Map<string, string[]>();
  /** The image's commands, by name (imageCommands). */
  readonly commands = imageCommands();

  private constructor(
    readonly objects: readonly K8sObject[],
    readonly options: SimOptions,
  ) {}

  /** Takes the lock, removes what an earlier run left, builds the switch and the client namespace. */
  static async start(objects: readonly K8sObject[], options: SimOptions): Promise<PodSimulation> {
    const log = options.log ?? (() => undefined);
    await acquireChaosLock(900, log, POD_LOCK);
    const sim = new PodSimulation(objects, options);
    try {
      await teardownLayout(POD_LAYOUT, log);
      await setupSwitch(POD_LAYOUT);
      fs.mkdirSync(path.join(POD_LAYOUT.workRoot, 'logs'), { recursive: true });
      sim.writeHosts(CLIENT_NS, CLIENT_IP, []);
      await addHost(POD_LAYOUT, CLIENT_NS, 'vp-client', CLIENT_IP);
    } catch (error) {
      await sim.close();
      throw error;
    }
    return sim;
  }

  get logDir(): string {
    return path.join(POD_LAYOUT.workRoot, 'logs');
  }

  /** A Service's DNS names in the simulation's namespace: short, with namespace, and fully qualified. */
  private serviceNames(service: string): string[] {
    return [service, `${service}.${this.options.namespace}`, `${service}.${this.options.namespace}.svc.cluster.local`];
  }

  /** Every namespace's /etc/hosts from the published records (rewritten in place: the bind mounts see it). */
  private writeHosts(ns: string, ip: string, ownNames: readonly string[]): void {
    const dir = `/etc/netns/${ns}`;
    fs.mkdirSync(dir, { recursive: true });
    const lines = ['127.0.0.1 localhost', '::1 localhost ip6-localhost', ...(ownNames.length > 0 ? [`${ip} ${ownNames.join(' ')}`] : [])];
    for (const [name, addresses] of this.records) {
      for (const a of addresses) lines.push(`${a} ${name}`);
    }
    fs.writeFileSync(path.join(dir, 'hosts'), `${lines.join('\n')}\n`);
  }

  private refreshDns(): void {
    this.records.clear();
    const published = [...this.pods.values()].filter((p) => p.dnsPublished);
    for (const service of this.objects.filter((o) => o.kind === 'Service')) {
      const selector = (service['spec'] as { selector?: Record<string, string>; clusterIP?: string }).selector ?? {};
      const matching = published.filter((p) => Object.entries(selector).every(([k, v]) => podTemplate(p.workload).metadata.labels[k] === v));
      for (const name of this.serviceNames(service.metadata.name)) this.records.set(name, matching.map((p) => p.ip));
      if ((service['spec'] as { clusterIP?: string }).clusterIP === 'None') {
        for (const p of matching) this.records.set(`${p.name}.${service.metadata.name}.${this.options.namespace}.svc.cluster.local`, [p.ip]);
      }
    }
    this.writeHosts(CLIENT_NS, CLIENT_IP, []);
    for (const p of this.pods.values()) this.writeHosts(p.namespace, p.ip, [p.name]);
  }

  /**
   * Creates pod `name` of `workload` (its namespace, address and volume dir, which outlives
   * the pod as a PersistentVolumeClaim does) and starts its container. Its DNS record is
   * published now, or later with publishDns() (`dns: 'later'`), as a slow cluster DNS would.
   */
  async createPod(workload: K8sObject, name: string, ip: string, options: { dns?: 'now' | 'later' } = {}): Promise<SimPod> {
    if (this.pods.has(name)) throw new Error(`pod ${name} exists`);
    const ns = `${POD_LAYOUT.prefix}-${name}`;
    const launch = containerLaunch(this.objects, workload, podTemplate(workload).spec.containers[0]?.name as string, { name, namespace: this.options.namespace });
    const claim = PodSimulation.claimOf(workload);
    const volumeDir = this.volumeDirOf(workload, name);
    if (volumeDir !== undefined) fs.mkdirSync(volumeDir, { recursive: true });
    const pod = new SimPod(name, ns, ip, workload, claim === undefined ? launch : { ...launch, mounts: { [claim]: launch.mounts[claim] as string } }, volumeDir, path.join(this.logDir, `${name}.log`));
    pod.dnsPublished = options.dns !== 'later';
    pod.secretMounts = this.secretMountsOf(workload, launch);
    this.pods.set(name, pod);
    this.writeHosts(ns, ip, [name]);
    await addHost(POD_LAYOUT, ns, `vp-${ip.split('.')[3]}`, ip);
    this.refreshDns();
    pod.start(this.commands);
    return pod;
  }

  /** The container's Secret volumes; a Secret the simulation was not given keeps the pod from starting, as in Kubernetes. */
  private secretMountsOf(workload: K8sObject, launch: ContainerLaunch): { source: string; mountPath: string }[] {
    return (podTemplate(workload).spec.volumes ?? []).flatMap((v) => {
      const mountPath = launch.mounts[v.name];
      if (v.secret === undefined || mountPath === undefined) return [];
      const source = this.options.secrets?.[v.secret.secretName];
      if (source === undefined) throw new Error(`Secret ${v.secret.secretName} (volume ${v.name} of ${workload.metadata.name}) does not exist in the simulation`);
      return [{ source, mountPath }];
    });
  }

  /** The first volumeClaimTemplate's name, if the workload has one. */
  private static claimOf(workload: K8sObject): string | undefined {
    return ((workload['spec'] as { volumeClaimTemplates?: { metadata: { name: string } }[] }).volumeClaimTemplates ?? [])[0]?.metadata.name;
  }

  /** The directory standing for pod `name`'s PersistentVolumeClaim (`<claim>-<pod>`), if it has one. */
  volumeDirOf(workload: K8sObject, name: string): string | undefined {
    const claim = PodSimulation.claimOf(workload);
    return claim === undefined ? undefined : path.join(POD_LAYOUT.workRoot, 'volumes', `${claim}-${name}`);
  }

  /**
   * Runs an image command in the client namespace with `volumeDir` mounted at `mountPath`, as
   * a one-off pod mounting a claim would (e.g. `kvctl snapshot restore` into a member's volume).
   */
  async runWithVolume(volumeDir: string, mountPath: string, command: string, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const file = this.commands[command];
    if (file === undefined) throw new Error(`the image has no command ${command}`);
    fs.mkdirSync(volumeDir, { recursive: true });
    const script = `mount -t tmpfs kvpod "${path.dirname(mountPath)}" && mkdir -p "${mountPath}" && mount --bind "$0" "${mountPath}" && exec "$@"`;
    return runCommand('ip', ['netns', 'exec', CLIENT_NS, 'sh', '-c', script, volumeDir, file, ...args], { allowFail: true, timeoutMs: 60_000 });
  }

  /** Publishes a pod's DNS record (for pods created with `dns: 'later'`). */
  publishDns(pod: SimPod): void {
    pod.dnsPublished = true;
    this.refreshDns();
  }

  /** Deletes a pod: terminate (SIGTERM, grace period, SIGKILL), DNS record and namespace gone; the volume stays. */
  async deletePod(name: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; killed: boolean }> {
    const pod = this.pods.get(name);
    if (pod === undefined) throw new Error(`no pod ${name}`);
    const ended = await pod.terminate();
    this.pods.delete(name);
    this.refreshDns();
    await runCommand('ip', ['netns', 'del', pod.namespace], { allowFail: true });
    fs.rmSync(`/etc/netns/${pod.namespace}`, { recursive: true, force: true });
    return ended;
  }

  /** Removes a deleted pod's volume (a PVC deleted with `whenScaled: Delete`). */
  deleteVolume(dir: string | undefined): void {
    if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
  }

  /** An HTTP GET from the client namespace, as the kubelet probes a pod: the status code, or 0 when it did not answer. */
  async httpStatus(ip: string, port: number, urlPath: string): Promise<number> {
    const script = `require('http').get('http://${ip}:${port}${urlPath}',{timeout:2000},r=>{r.resume();console.log(r.statusCode)}).on('timeout',function(){this.destroy(new Error('timeout'))}).on('error',()=>console.log(0))`;
    const r = await runCommand('ip', ['netns', 'exec', CLIENT_NS, process.execPath, '-e', script], { allowFail: true, timeoutMs: 10_000 });
    return Number(r.stdout.trim()) || 0;
  }

  /** The pod's readiness probe (its httpGet on a named port) passes now. */
  async isReady(pod: SimPod): Promise<boolean> {
    const probe = podTemplate(pod.workload).spec.containers[0]?.readinessProbe?.httpGet;
    if (probe === undefined) return pod.running;
    const port = typeof probe.port === 'number' ? probe.port : pod.launch.ports[probe.port];
    if (port === undefined) throw new Error(`readiness probe port ${String(probe.port)} is not a container port`);
    return pod.running && (await this.httpStatus(pod.ip, port, probe.path)) === 200;
  }

  async waitReady(pod: SimPod, timeoutMs = 60_000): Promise<void> {
    await waitFor(async () => {
      if (pod.exit !== undefined) throw new Error(`pod ${pod.name} exited (${JSON.stringify(pod.exit)}):\n${pod.logTail()}`);
      return (await this.isReady(pod)) ? true : undefined;
    }, { timeoutMs, what: `pod ${pod.name} ready`, intervalMs: 250 }).catch((error: unknown) => {
      throw new Error(`${error instanceof Error ? error.message : String(error)}\n--- ${pod.name} ---\n${pod.logTail()}`);
    });
  }

  /** Runs an image command (kvctl...) in the client namespace. */
  async run(command: string, args: readonly string[], timeoutMs = 60_000): Promise<{ code: number; stdout: string; stderr: string }> {
    const file = this.commands[command];
    if (file === undefined) throw new Error(`the image has no command ${command}`);
    return runCommand('ip', ['netns', 'exec', CLIENT_NS, file, ...args], { allowFail: true, timeoutMs });
  }

  /** Runs a host tool (etcdctl...) in the client namespace, as a client pod with that tool would. */
  async runTool(command: string, args: readonly string[], timeoutMs = 60_000): Promise<{ code: number; stdout: string; stderr: string }> {
    return runCommand('ip', ['netns', 'exec', CLIENT_NS, command, ...args], { allowFail: true, timeoutMs });
  }

  /** Starts the write load (sim-writer.ts) in the client namespace against `target`. */
  startWriter(target: string, prefix: string, writers: number): SimWriter {
    const child = spawn('ip', ['netns', 'exec', CLIENT_NS, process.execPath, '-r', TS_REGISTER, path.join(__dirname, 'sim-writer.ts'), 'write', target, prefix, String(writers)], { stdio: ['pipe', 'pipe', 'pipe'], cwd: REPO_ROOT });
    return new SimWriter(child);
  }

  /** Every key under `prefix`, read through `target` (linearizable). */
  async readKeys(target: string, prefix: string): Promise<string[]> {
    const r = await runCommand('ip', ['netns', 'exec', CLIENT_NS, process.execPath, '-r', TS_REGISTER, path.join(__dirname, 'sim-writer.ts'), 'read', target, prefix], { timeoutMs: 60_000 });
    return (JSON.parse(r.stdout) as { keys: string[] }).keys;
  }

  /** Log tails of every pod, for failure messages. */
  logTails(lines = 20): string {
    return [...this.pods.values()].map((p) => `--- ${p.name} ---\n${p.logTail(lines)}`).join('\n');
  }

  /** Kills every pod, removes the namespaces, hosts files, guard route and work root; releases the lock. */
  async close(): Promise<void> {
    for (const p of this.pods.values()) {
      p.process?.kill('SIGKILL');
      await p.waitExit(10_000);
    }
    try {
      await teardownLayout(POD_LAYOUT, this.options.log);
    } finally {
      releaseChaosLock(POD_LOCK);
    }
  }

  /** The StatefulSet's pod `ordinal` gets address 10.78.0.(10+ordinal); others count from .60. */
  static memberIp(ordinal: number): string {
    if (ordinal < 0 || ordinal > 40) throw new RangeError(`ordinal ${ordinal} out of the simulation's range`);
    return `10.78.0.${10 + ordinal}`;
  }

  static otherIp(index: number): string {
    return `10.78.0.${60 + index}`;
  }

  /**
   * `service:port` as a client in the simulation dials it: the Service's name (which resolves to
   * its pods) with the container port its `port` maps to (a Service port's targetPort, by name
   * or number; the simulation has no virtual IPs to translate ports).
   */
  serviceTarget(service: string, port: number): string {
    const spec = findObject(this.objects, 'Service', service)['spec'] as { ports: { port: number; targetPort?: string | number }[] };
    const target = spec.ports.find((p) => p.port === port)?.targetPort ?? port;
    if (typeof target === 'number') return `${service}:${target}`;
    const pod = [...this.pods.values()].find((p) => p.launch.ports[target] !== undefined && this.records.get(service)?.includes(p.ip));
    if (pod === undefined) throw new Error(`no pod of Service ${service} has a port named ${target}`);
    return `${service}:${pod.launch.ports[target]}`;
  }

  /** The rendered workload `kind/name`. */
  workload(kind: string, name: string): K8sObject {
    return findObject(this.objects, kind, name);
  }
}

/** The write load's outcomes as they arrive. */
export class SimWriter {
  readonly acked: string[] = [];
  readonly failed: { key: string; code: string; message: string }[] = [];
  private buffer = '';
  private stderr = '';
  private readonly ended: Promise<number | null>;

  constructor(private readonly child: ChildProcess) {
    child.stdout?.on('data', (chunk: Buffer) => {
      this.buffer += chunk.toString('utf8');
      let nl: number;
      while ((nl = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 1);
        const msg = JSON.parse(line) as { ack?: string; fail?: string; code?: string; message?: string };
        if (msg.ack !== undefined) this.acked.push(msg.ack);
        if (msg.fail !== undefined) this.failed.push({ key: msg.fail, code: msg.code ?? '?', message: msg.message ?? '' });
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => (this.stderr = `${this.stderr}${chunk.toString('utf8')}`.slice(-4000)));
    this.ended = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  /** Waits until at least `count` writes were acknowledged in all. */
  async waitAcked(count: number, timeoutMs = 60_000): Promise<void> {
    await waitFor(() => (this.acked.length >= count ? true : undefined), { timeoutMs, what: `${count} acknowledged writes`, intervalMs: 100 }).catch((error: unknown) => {
      throw new Error(`${String(error)}: have ${this.acked.length}, ${this.failed.length} failed (first: ${JSON.stringify(this.failed[0])}); stderr: ${this.stderr}`);
    });
  }

  /** Closes its input (it finishes the writes in flight) and waits for it to exit. */
  async stop(): Promise<void> {
    this.child.stdin?.end();
    const code = await this.ended;
    if (code !== 0) throw new Error(`the write load exited ${code}: ${this.stderr}`);
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}
