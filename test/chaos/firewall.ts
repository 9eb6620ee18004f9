/**
 * Packet faults with iptables inside the member namespaces. Each namespace gets a chain
 * KVCHAOS that INPUT jumps to; a fault appends rules to it and healing flushes it, so the
 * namespace's other rules (none, normally) are never touched. Rules only match packets
 * arriving on eth0 (the bridge side); loopback — where the delay proxy talks to its member —
 * is never filtered.
 */
import { runInNamespace } from './command';

const CHAIN = 'KVCHAOS';

/** One rule of a partition: packets from `from` arriving at `at` are dropped. */
export interface DropRule {
  readonly at: string;
  readonly from: string;
  /**
   * Only packets to `at`'s peer ports: `from` can no longer send Raft messages to `at` (nor
   * open a connection to it), but `at` can still send to `from` and read the answers. This is
   * how a one-way partition is made with TCP underneath.
   */
  readonly peerPortsOnly: boolean;
}

/** Where the firewall finds a member: its namespace, its address and its peer ports. */
export interface FirewallHost {
  readonly name: string;
  readonly namespace: string;
  readonly ip: string;
  readonly peerPorts: readonly number[];
}

function iptables(host: FirewallHost, args: readonly string[]): Promise<unknown> {
  return runInNamespace(host.namespace, 'iptables', ['-w', '5', ...args]);
}

/** Creates the chain and the jump to it (once per namespace, at setup). */
export async function initFirewall(host: FirewallHost): Promise<void> {
  await iptables(host, ['-N', CHAIN]);
  await iptables(host, ['-I', 'INPUT', '-i', 'eth0', '-j', CHAIN]);
}

/** Removes every fault rule from `host`. */
export async function healFirewall(host: FirewallHost): Promise<void> {
  await iptables(host, ['-F', CHAIN]);
}

/**
 * Installs a partition: one DROP rule per entry, in the namespace of its `at` member.
 * @param hosts every member by name
 */
export async function applyDropRules(rules: readonly DropRule[], hosts: ReadonlyMap<string, FirewallHost>): Promise<void> {
  for (const rule of rules) {
    const at = hosts.get(rule.at);
    const from = hosts.get(rule.from);
    if (at === undefined || from === undefined) throw new RangeError(`partition rule names an unknown member: ${rule.from} -> ${rule.at}`);
    const ports = rule.peerPortsOnly ? ['-p', 'tcp', '-m', 'multiport', '--dports', at.peerPorts.join(',')] : [];
    await iptables(at, ['-A', CHAIN, '-s', from.ip, ...ports, '-j', 'DROP']);
  }
}

/** Drops each packet arriving at `host` from the bridge with `probability` (0 < p < 1). */
export async function applyLoss(host: FirewallHost, probability: number): Promise<void> {
  if (!(probability > 0 && probability < 1)) throw new RangeError(`loss probability must be in (0, 1), got ${probability}`);
  await iptables(host, ['-A', CHAIN, '-m', 'statistic', '--mode', 'random', '--probability', probability.toFixed(3), '-j', 'DROP']);
}

/** The rules now in `host`'s chain, for the report. */
export async function listRules(host: FirewallHost): Promise<string> {
  const listed = await runInNamespace(host.namespace, 'iptables', ['-w', '5', '-S', CHAIN], { allowFail: true });
  return listed.stdout.trim();
}
