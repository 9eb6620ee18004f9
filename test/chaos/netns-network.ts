/**
 * The chaos network: one network namespace per member and one for the clients, each joined by
 * a veth pair to a bridge that lives in a namespace of its own, on the private subnet
 * 10.77.0.0/24. The root namespace gets no interface on that subnet, only the guard route
 * (`unreachable 10.77.0.0/24`), added FIRST, so no test packet can leave the machine.
 *
 *      root ns: ip route unreachable 10.77.0.0/24   (nothing else)
 *
 *      kvchaos-n1 (10.77.0.11) ─eth0═══v-n1─┐
 *      kvchaos-n2 (10.77.0.12) ─eth0═══v-n2─┤
 *      kvchaos-n3 (10.77.0.13) ─eth0═══v-n3─┼─ br0 in kvchaos-sw
 *      kvchaos-c  (10.77.0.100)─eth0═══v-c ─┘
 *
 * Teardown is idempotent and also removes what a crashed earlier run left behind: processes in
 * kvchaos-* namespaces, tmpfs mounts under the work root, the namespaces (which takes their
 * veths, bridge and iptables rules with them) and the guard route.
 *
 * The pieces (guard route, switch, hosts, teardown) take a NetnsLayout — a name prefix, a
 * subnet and a work root — so other harnesses (the deployment tests' pod simulation, on
 * 10.78.0.0/24 with kvpod-* namespaces) build their networks the same way.
 */
import * as fs from 'node:fs';
import { ChaosSetupError } from './chaos.errors';
import { runCommand } from './command';

/** Where a harness's network lives: every name it creates, its subnet, its files. */
export interface NetnsLayout {
  /** Every namespace this harness creates is named `<prefix>-…`. */
  readonly prefix: string;
  /** The test subnet (a /24); the guard route covers exactly it. */
  readonly subnet: string;
  /** Where data dirs, control files and sockets of a run live (deleted by teardown). */
  readonly workRoot: string;
}

/** Every name this harness creates starts with this. */
export const NAME_PREFIX = 'kvchaos';
/** The test subnet; the guard route covers exactly it. */
export const SUBNET = '10.77.0.0/24';
/** Where data dirs (tmpfs), control files and sockets of a run live. */
export const WORK_ROOT = '/tmp/kvchaos';
/** The chaos suite's layout. */
export const CHAOS_LAYOUT: NetnsLayout = { prefix: NAME_PREFIX, subnet: SUBNET, workRoot: WORK_ROOT };

const switchNamespace = (layout: NetnsLayout): string => `${layout.prefix}-sw`;
const BRIDGE = 'br0';

/** A member's place on the network. */
export interface MemberAddress {
  readonly name: string;
  readonly namespace: string;
  readonly ip: string;
}

/** The client namespace's address. */
export const CLIENT_NAMESPACE = `${NAME_PREFIX}-c`;
export const CLIENT_IP = '10.77.0.100';

/** Member `index` (0-based): name n1…, namespace kvchaos-n1…, address 10.77.0.11…. */
export function memberAddress(index: number): MemberAddress {
  if (!Number.isInteger(index) || index < 0 || index >= 9) {
    throw new RangeError(`member index ${index} out of range [0, 9)`);
  }
  const name = `n${index + 1}`;
  return { name, namespace: `${NAME_PREFIX}-${name}`, ip: `10.77.0.${11 + index}` };
}

/** The guard route is the first thing created and the last removed. */
export async function addGuardRoute(subnet: string): Promise<void> {
  const added = await runCommand('ip', ['route', 'add', 'unreachable', subnet], { allowFail: true });
  if (added.code === 0) return;
  const shown = await runCommand('ip', ['route', 'show', subnet]);
  if (!/^unreachable /m.test(shown.stdout)) {
    throw new ChaosSetupError(`cannot add the guard route for ${subnet}: ${added.stderr.trim()} (existing: ${shown.stdout.trim() || 'none'})`);
  }
}

/** Namespaces whose names start with the layout's prefix (from this run or an earlier one). */
export async function listChaosNamespaces(layout: NetnsLayout = CHAOS_LAYOUT): Promise<string[]> {
  const listed = await runCommand('ip', ['netns', 'list'], { allowFail: true });
  return listed.stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0] ?? '')
    .filter((name) => name.startsWith(`${layout.prefix}-`));
}

/** Mount points under the work root, deepest first. */
export function listChaosMounts(layout: NetnsLayout = CHAOS_LAYOUT): string[] {
  const mounts = fs.readFileSync('/proc/mounts', 'utf8');
  return mounts
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .filter((point) => point === layout.workRoot || point.startsWith(`${layout.workRoot}/`))
    .sort((a, b) => b.length - a.length);
}

/**
 * Removes everything a chaos run creates, whether this process made it or a crashed one did.
 * Safe to call any number of times. Collects failures and throws one error at the end, after
 * trying every step.
 */
export async function teardownNetwork(log: (line: string) => void = () => undefined): Promise<void> {
  await teardownLayout(CHAOS_LAYOUT, log);
}

/**
 * Removes everything of a layout: processes left in its namespaces, mounts under its work
 * root, the namespaces, the guard route (last) and the work root. Idempotent; throws one
 * error listing what it could not remove, after trying every step.
 */
export async function teardownLayout(layout: NetnsLayout, log: (line: string) => void = () => undefined): Promise<void> {
  const problems: string[] = [];
  const namespaces = await listChaosNamespaces(layout);
  for (const ns of namespaces) {
    const pids = await runCommand('ip', ['netns', 'pids', ns], { allowFail: true });
    for (const pid of pids.stdout.split(/\s+/).filter((p) => /^\d+$/.test(p))) {
      try {
        process.kill(Number(pid), 'SIGKILL');
        log(`teardown: killed pid ${pid} left in ${ns}`);
      } catch {
        // already gone
      }
    }
  }
  for (const point of listChaosMounts(layout)) {
    const done = await runCommand('umount', [point], { allowFail: true });
    if (done.code !== 0) {
      const lazy = await runCommand('umount', ['-l', point], { allowFail: true });
      if (lazy.code !== 0) problems.push(`umount ${point}: ${lazy.stderr.trim()}`);
    }
  }
  for (const ns of namespaces) {
    const deleted = await runCommand('ip', ['netns', 'del', ns], { allowFail: true });
    if (deleted.code !== 0 && (await listChaosNamespaces(layout)).includes(ns)) problems.push(`ip netns del ${ns}: ${deleted.stderr.trim()}`);
    fs.rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
  }
  const route = await runCommand('ip', ['route', 'show', layout.subnet], { allowFail: true });
  if (/^unreachable /m.test(route.stdout)) {
    const deleted = await runCommand('ip', ['route', 'del', 'unreachable', layout.subnet], { allowFail: true });
    if (deleted.code !== 0) problems.push(`ip route del unreachable ${layout.subnet}: ${deleted.stderr.trim()}`);
  }
  fs.rmSync(layout.workRoot, { recursive: true, force: true });
  if (problems.length > 0) {
    throw new ChaosSetupError(`teardown left things behind: ${problems.join('; ')}`);
  }
}

/**
 * Creates a namespace with loopback up and a veth to the layout's bridge carrying `ip` (a /24
 * address); `port` names the switch side of the veth (at most 15 characters).
 */
export async function addHost(layout: NetnsLayout, ns: string, port: string, ip: string): Promise<void> {
  const sw = switchNamespace(layout);
  await runCommand('ip', ['netns', 'add', ns]);
  await runCommand('ip', ['-n', sw, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
  await runCommand('ip', ['-n', sw, 'link', 'set', port, 'master', BRIDGE, 'up']);
  await runCommand('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  await runCommand('ip', ['-n', ns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
  await runCommand('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
}

/**
 * Builds the network for `memberCount` members: guard route first, then the switch namespace
 * and its bridge, then every member namespace and the client namespace. (Reachability is
 * shown when the client agent first talks to the members.)
 * @throws ChaosSetupError when a step fails (the caller tears down)
 */
export async function setupNetwork(memberCount: number): Promise<MemberAddress[]> {
  await setupSwitch(CHAOS_LAYOUT);
  const members = Array.from({ length: memberCount }, (_, k) => memberAddress(k));
  for (const m of members) {
    await addHost(CHAOS_LAYOUT, m.namespace, `v-${m.name}`, m.ip);
  }
  await addHost(CHAOS_LAYOUT, CLIENT_NAMESPACE, 'v-c', CLIENT_IP);
  return members;
}

/** The guard route first, then the work root and the switch namespace with its bridge. */
export async function setupSwitch(layout: NetnsLayout): Promise<void> {
  await addGuardRoute(layout.subnet);
  fs.mkdirSync(layout.workRoot, { recursive: true });
  const sw = switchNamespace(layout);
  await runCommand('ip', ['netns', 'add', sw]);
  await runCommand('ip', ['-n', sw, 'link', 'set', 'lo', 'up']);
  await runCommand('ip', ['-n', sw, 'link', 'add', BRIDGE, 'type', 'bridge']);
  await runCommand('ip', ['-n', sw, 'link', 'set', BRIDGE, 'up']);
}

/** Why chaos tests cannot run here, or undefined when they can (root and `ip netns` work). */
export async function chaosUnsupportedReason(): Promise<string | undefined> {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return 'not root (network namespaces, iptables and tmpfs mounts need root)';
  }
  const probe = await runCommand('ip', ['netns', 'list'], { allowFail: true }).catch((error: unknown) => ({ code: -1, stdout: '', stderr: String(error) }));
  if (probe.code !== 0) {
    return `\`ip netns\` is unavailable: ${probe.stderr.trim()}`;
  }
  return undefined;
}
