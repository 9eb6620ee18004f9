/**
 * The cluster under test and everything that steers it from the root namespace: the member
 * processes, their delay proxies, their firewalls, and the client agent (the harness's only
 * way to talk to members). Knows how to start everything, find the leader, heal every fault
 * and wait until the cluster serves again.
 */
import * as path from 'node:path';
import type { AgentMethods, ListedMember, MemberView } from './agent-protocol';
import { ChaosTimeoutError } from './chaos.errors';
import { waitUntil } from './command';
import type { ProxyMethods } from './delay-proxy-main';
import { healFirewall, initFirewall } from './firewall';
import type { FirewallHost } from './firewall';
import { IpcChild } from './ipc-child';
import { ChaosMember, PEER_PORT, PROXY_PORT } from './member-process';
import type { MemberSettings } from './member-process';
import { CLIENT_NAMESPACE } from './netns-network';
import type { MemberAddress } from './netns-network';

/** Time limit of one agent call that talks to members. */
const AGENT_CALL_MS = 30_000;

export class ChaosCluster {
  readonly members: ChaosMember[];
  private readonly proxies = new Map<string, IpcChild<ProxyMethods>>();
  private agentChild: IpcChild<AgentMethods> | undefined;
  /** Members removed from the cluster by a membership fault and not yet added back. */
  readonly outOfCluster = new Set<string>();

  constructor(
    addresses: readonly MemberAddress[],
    private readonly settings: MemberSettings,
    private readonly seed: number,
    private readonly log: (line: string) => void,
  ) {
    this.members = addresses.map((a) => new ChaosMember(a, settings));
  }

  get agent(): IpcChild<AgentMethods> {
    if (this.agentChild === undefined) throw new ChaosTimeoutError('the client agent is not running');
    return this.agentChild;
  }

  member(name: string): ChaosMember {
    const found = this.members.find((m) => m.name === name);
    if (found === undefined) throw new RangeError(`no member ${name}`);
    return found;
  }

  /** The firewall's view of each member. */
  get hosts(): Map<string, FirewallHost> {
    return new Map(this.members.map((m) => [m.name, { name: m.name, namespace: m.namespace, ip: m.ip, peerPorts: m.peerPorts }]));
  }

  /** name=peerUrl of the given members (default: all in the cluster). */
  initialCluster(names: readonly string[] = this.members.filter((m) => !this.outOfCluster.has(m.name)).map((m) => m.name)): string {
    return names.map((n) => `${n}=${this.member(n).peerUrl}`).join(',');
  }

  /** Mounts data dirs, installs firewall chains, starts proxies, members and the agent. */
  async start(): Promise<void> {
    for (const m of this.members) {
      await m.prepare();
      await initFirewall({ name: m.name, namespace: m.namespace, ip: m.ip, peerPorts: m.peerPorts });
    }
    if (this.settings.proxied) {
      for (const [k, m] of this.members.entries()) {
        const options = { listenHost: m.ip, listenPort: PROXY_PORT, targetHost: m.ip, targetPort: PEER_PORT, seed: this.seed + k };
        const proxy = IpcChild.start<ProxyMethods>(`proxy ${m.name}`, m.namespace, 'delay-proxy-main.ts', [JSON.stringify(options)], path.join(this.settings.logDir, `proxy-${m.name}.log`));
        this.proxies.set(m.name, proxy);
        await proxy.call('ready', null, AGENT_CALL_MS);
      }
    }
    const initialCluster = this.initialCluster();
    for (const m of this.members) m.start({ initialCluster, state: 'new' });
    this.agentChild = IpcChild.start<AgentMethods>('client agent', CLIENT_NAMESPACE, 'client-agent.ts', [], path.join(this.settings.logDir, 'agent.log'));
    const pki = this.settings.tls;
    const tls = pki === undefined ? undefined : { caFile: pki.caFile, certFile: pki.agent.certFile, keyFile: pki.agent.keyFile };
    await this.agent.call('members', { members: this.members.map((m) => ({ name: m.name, client: m.clientAddress, metrics: m.metricsUrl })), ...(tls === undefined ? {} : { tls }) }, AGENT_CALL_MS);
  }

  /** Every member's status, as the agent sees it. */
  status(timeoutMs = 2_000): Promise<MemberView[]> {
    return this.agent.call('status', { timeoutMs }, timeoutMs + AGENT_CALL_MS);
  }

  /**
   * The leader most reachable members agree on (name), if any. A member that calls itself
   * leader with the highest term wins ties.
   */
  async leader(): Promise<string | undefined> {
    const views = (await this.status()).filter((v) => v.reachable);
    const byId = new Map(views.filter((v) => v.id !== undefined).map((v) => [v.id as string, v.name]));
    const self = views.filter((v) => v.leader !== undefined && v.leader === v.id).sort((a, b) => (b.term ?? 0) - (a.term ?? 0))[0];
    if (self !== undefined) return self.name;
    const votes = new Map<string, number>();
    for (const v of views) if (v.leader !== undefined && v.leader !== '0') votes.set(v.leader, (votes.get(v.leader) ?? 0) + 1);
    const best = [...votes].sort((a, b) => b[1] - a[1])[0];
    return best === undefined ? undefined : byId.get(best[0]);
  }

  /** Members whose id the agent saw, by name → hex id. */
  async ids(): Promise<Map<string, string>> {
    const views = await this.status();
    return new Map(views.filter((v) => v.id !== undefined).map((v) => [v.name, v.id as string]));
  }

  /** Sets the delay of the proxy in front of `name` (no-op when not proxied). */
  async setDelay(name: string, delayMs: number, jitterMs: number): Promise<void> {
    const proxy = this.proxies.get(name);
    if (proxy !== undefined) await proxy.call('delay', { delayMs, jitterMs }, AGENT_CALL_MS);
  }

  /** Restarts `m` on its data, with the flags of its last start (a member that joined stays joining). */
  restart(m: ChaosMember): void {
    m.start(m.lastLaunch ?? { initialCluster: this.initialCluster(), state: 'new' });
  }

  /**
   * Undoes every fault: firewall rules, proxy delays, paused processes, clocks, full disks, and
   * restarts members that are down (not those out of the cluster).
   */
  async healAll(): Promise<void> {
    for (const m of this.members) {
      await healFirewall({ name: m.name, namespace: m.namespace, ip: m.ip, peerPorts: m.peerPorts });
      await this.setDelay(m.name, 0, 0);
      m.signal('SIGCONT');
      m.setClock('+0 x1');
      m.freeDisk();
      if (!m.running && !this.outOfCluster.has(m.name)) {
        this.log(`heal: restarting ${m.name} (${m.exited ?? 'not started'})`);
        this.restart(m);
      }
    }
  }

  /**
   * Waits until every member in the cluster is reachable, ready, and names the same leader;
   * resolves with the leader's name.
   * @throws ChaosTimeoutError with the last views after `timeoutMs`
   */
  async waitHealthy(timeoutMs: number): Promise<string> {
    let last: MemberView[] = [];
    const inCluster = (v: MemberView): boolean => !this.outOfCluster.has(v.name);
    return waitUntil(
      async () => {
        last = (await this.status()).filter(inCluster);
        const leaders = new Set(last.map((v) => v.leader));
        const healthy = last.every((v) => v.reachable && v.ready) && leaders.size === 1 && !leaders.has('0') && !leaders.has(undefined);
        return healthy ? await this.leader() : undefined;
      },
      timeoutMs,
      () => new ChaosTimeoutError(`the cluster did not become healthy within ${timeoutMs} ms: ${JSON.stringify(last)}`),
      500,
    );
  }

  /** The member list as `via` sees it. */
  memberList(via: string): Promise<ListedMember[]> {
    return this.agent.call('memberList', { via, timeoutMs: 5_000 }, AGENT_CALL_MS);
  }

  /**
   * Removes `m` (id `id`) through `via`, waits for it to stop (a removed member stops itself;
   * it is killed after 10 s) and wipes its data. An answer lost on the way is settled by
   * reading the member list.
   */
  async removeMember(m: ChaosMember, via: string, id: string): Promise<void> {
    try {
      await this.agent.call('memberRemove', { via, id, timeoutMs: 10_000 }, AGENT_CALL_MS);
    } catch (error) {
      const still = await this.memberList(via).catch(() => undefined);
      if (still === undefined || still.some((l) => l.id === id)) throw error;
    }
    this.outOfCluster.add(m.name);
    await waitUntil(async () => (m.running ? undefined : true), 10_000, () => new ChaosTimeoutError(`${m.name} did not stop`)).catch(() => undefined);
    if (m.running) this.log(`membership: ${m.name} still ran 10 s after its removal; killing it`);
    await m.kill();
    m.wipeData();
  }

  /**
   * Adds `m` back as a learner (through the leader), starts it on an empty data dir and waits
   * until it serves. Safe to call again after a failure (an add already done is recognised).
   * @throws when there is no leader, the add is refused, or the member exits or stays silent
   */
  async rejoin(m: ChaosMember): Promise<void> {
    const leader = await this.leader();
    if (leader === undefined) throw new ChaosTimeoutError(`no leader to add ${m.name} back through`);
    try {
      await this.agent.call('memberAdd', { via: leader, peerUrl: m.peerUrl, learner: true, timeoutMs: 10_000 }, AGENT_CALL_MS);
    } catch (error) {
      const now = await this.memberList(leader).catch(() => undefined);
      if (now === undefined || !now.some((l) => l.peerUrls.includes(m.peerUrl))) throw error;
    }
    const names = this.members.filter((x) => x === m || !this.outOfCluster.has(x.name)).map((x) => x.name);
    if (!m.running) m.start({ initialCluster: this.initialCluster(names), state: 'existing' });
    const outcome = await waitUntil(
      async () => (!m.running ? 'exited' : (await this.status()).find((v) => v.name === m.name)?.reachable === true ? 'serving' : undefined),
      30_000,
      () => new ChaosTimeoutError(`${m.name} did not answer within 30 s of joining`),
    );
    if (outcome === 'exited') throw new ChaosTimeoutError(`${m.name} exited after joining (${m.exited ?? '?'}); see its log`);
    this.outOfCluster.delete(m.name);
  }

  /** Adds back every member a membership fault left out, retrying until `timeoutMs`. */
  async rejoinOutstanding(timeoutMs: number): Promise<void> {
    for (const name of [...this.outOfCluster]) {
      const m = this.member(name);
      await waitUntil(
        async () => {
          await this.rejoin(m);
          return true;
        },
        timeoutMs,
        () => new ChaosTimeoutError(`could not add ${name} back within ${timeoutMs} ms`),
        1_000,
      );
      this.log(`heal: ${name} added back to the cluster`);
    }
  }

  /** Stops the agent and the proxies and kills every member. */
  async stop(): Promise<void> {
    await this.agentChild?.stop().catch(() => undefined);
    for (const proxy of this.proxies.values()) await proxy.stop().catch(() => undefined);
    for (const m of this.members) {
      m.signal('SIGCONT');
      await m.kill();
    }
  }
}
