/**
 * Carries out planned faults on the running cluster and records what actually happened (the
 * fault timeline of the report). A primary fault starts, then is healed at the end of its
 * window; an overlay (leader transfer, membership change) is one action. A fault that cannot
 * be carried out (no leader to isolate, an admin call refused) is recorded with its error and
 * the run goes on: faults are attempts, the history is the evidence.
 */
import { SeededRandom } from '../crash/seeded-random';
import type { ChaosCluster } from './chaos-cluster';
import { delay as sleep } from './command';
import { applyDropRules, applyLoss, healFirewall } from './firewall';
import { partitionRules, sample } from './fault-plan';
import type { PlannedFault } from './fault-plan';
import type { ChaosMember } from './member-process';

/** What the report shows of one fault. Times are ms since the run's start. */
export interface TimelineEntry {
  readonly kind: string;
  readonly variant: string;
  readonly startMs: number;
  endMs: number;
  targets: string[];
  description: string;
  error?: string;
}

/** A started fault and how to heal it. */
interface Active {
  readonly entry: TimelineEntry;
  heal(): Promise<void>;
}

const nothing = async (): Promise<void> => undefined;

function pick<T>(random: SeededRandom, items: readonly T[]): T {
  return items[random.int(items.length)] as T;
}

export class FaultInjector {
  readonly timeline: TimelineEntry[] = [];

  constructor(
    private readonly cluster: ChaosCluster,
    private readonly now: () => number,
    private readonly log: (line: string) => void,
  ) {}

  private inCluster(): ChaosMember[] {
    return this.cluster.members.filter((m) => !this.cluster.outOfCluster.has(m.name));
  }

  /** Leader if the variant wants it and one is known, else a random member in the cluster. */
  private async target(random: SeededRandom, wantLeader: boolean): Promise<ChaosMember> {
    const leader = wantLeader ? await this.cluster.leader().catch(() => undefined) : undefined;
    return leader !== undefined ? this.cluster.member(leader) : pick(random, this.inCluster());
  }

  /** Records that `fault` was not carried out, and why. */
  skip(fault: PlannedFault, why: string): void {
    this.timeline.push({ kind: fault.kind, variant: fault.variant, startMs: this.now(), endMs: this.now(), targets: [], description: 'skipped', error: why });
  }

  /** Starts `fault`; resolves with how to heal it (a no-op for overlays and failures). */
  async begin(fault: PlannedFault): Promise<Active> {
    const entry: TimelineEntry = { kind: fault.kind, variant: fault.variant, startMs: this.now(), endMs: this.now(), targets: [], description: '' };
    this.timeline.push(entry);
    const random = new SeededRandom(fault.seed);
    let heal = nothing;
    try {
      heal = await this.start(fault, entry, random);
    } catch (error) {
      entry.error = error instanceof Error ? error.message : String(error);
    }
    entry.endMs = this.now();
    this.log(`fault ${entry.kind}:${entry.variant} ${entry.description}${entry.error === undefined ? '' : ` (error: ${entry.error})`}`);
    return {
      entry,
      heal: async () => {
        try {
          await heal();
        } catch (error) {
          entry.error = `${entry.error ?? ''} heal: ${error instanceof Error ? error.message : String(error)}`.trim();
        }
        entry.endMs = this.now();
      },
    };
  }

  private async start(fault: PlannedFault, entry: TimelineEntry, random: SeededRandom): Promise<() => Promise<void>> {
    switch (fault.kind) {
      case 'kill':
        return this.kill(fault.variant, entry, random);
      case 'pause':
        return this.pause(fault.variant, entry, random);
      case 'partition':
        return this.partition(fault.variant, entry, random);
      case 'loss':
        return this.loss(fault.variant, entry, random);
      case 'delay':
        return this.delay(fault.variant, entry, random);
      case 'clock':
      case 'clock-monotonic':
        return this.clock(fault.kind, fault.variant, entry, random);
      case 'disk':
        return this.disk(fault.variant, entry, random);
      case 'transfer':
        await this.transfer(entry, random);
        return nothing;
      case 'membership':
        await this.membership(entry, random);
        return nothing;
    }
  }

  private async victims(variant: string, random: SeededRandom): Promise<ChaosMember[]> {
    const members = this.inCluster().filter((m) => m.running);
    switch (variant) {
      case 'leader':
        return [await this.target(random, true)];
      case 'minority':
        return sample(random, members, Math.max(1, Math.floor((this.inCluster().length - 1) / 2)));
      case 'all':
        return members;
      default:
        return members.length === 0 ? [] : [pick(random, members)];
    }
  }

  private async kill(variant: string, entry: TimelineEntry, random: SeededRandom): Promise<() => Promise<void>> {
    const victims = await this.victims(variant, random);
    entry.targets = victims.map((m) => m.name);
    entry.description = `SIGKILL ${entry.targets.join(',')}, restart at the end`;
    for (const m of victims) await m.kill();
    return async () => {
      for (const m of victims) if (!m.running && !this.cluster.outOfCluster.has(m.name)) this.cluster.restart(m);
    };
  }

  private async pause(variant: string, entry: TimelineEntry, random: SeededRandom): Promise<() => Promise<void>> {
    const victims = await this.victims(variant, random);
    entry.targets = victims.map((m) => m.name);
    entry.description = `SIGSTOP ${entry.targets.join(',')}`;
    for (const m of victims) m.signal('SIGSTOP');
    return async () => {
      for (const m of victims) m.signal('SIGCONT');
    };
  }

  private async healAllFirewalls(): Promise<void> {
    for (const host of this.cluster.hosts.values()) await healFirewall(host);
  }

  private async partition(variant: string, entry: TimelineEntry, random: SeededRandom): Promise<() => Promise<void>> {
    const leader = await this.cluster.leader().catch(() => undefined);
    const { rules, description } = partitionRules(variant, this.inCluster().map((m) => m.name), leader, random);
    entry.targets = [...new Set(rules.map((r) => r.at))];
    entry.description = description;
    await applyDropRules(rules, this.cluster.hosts);
    return () => this.healAllFirewalls();
  }

  private async loss(variant: string, entry: TimelineEntry, random: SeededRandom): Promise<() => Promise<void>> {
    const probability = pick(random, [0.05, 0.1, 0.2, 0.35]);
    const members = variant === 'all' ? this.inCluster() : [pick(random, this.inCluster())];
    entry.targets = members.map((m) => m.name);
    entry.description = `drop ${Math.round(probability * 100)}% of packets into ${entry.targets.join(',')}`;
    const hosts = this.cluster.hosts;
    for (const m of members) await applyLoss(hosts.get(m.name) as Parameters<typeof applyLoss>[0], probability);
    return () => this.healAllFirewalls();
  }

  private async delay(variant: string, entry: TimelineEntry, random: SeededRandom): Promise<() => Promise<void>> {
    const delayMs = pick(random, [20, 50, 100, 250, 500]);
    const jitterMs = Math.round(delayMs * 0.5 * random.next());
    const members = variant === 'all' ? this.inCluster() : [pick(random, this.inCluster())];
    entry.targets = members.map((m) => m.name);
    entry.description = `peer traffic into ${entry.targets.join(',')} delayed ${delayMs} ms + up to ${jitterMs} ms`;
    for (const m of members) await this.cluster.setDelay(m.name, delayMs, jitterMs);
    return async () => {
      for (const m of members) await this.cluster.setDelay(m.name, 0, 0);
    };
  }

  private clockSpec(kind: 'clock' | 'clock-monotonic', variant: string, random: SeededRandom): string {
    const sign = random.next() < 0.5 ? '-' : '+';
    if (kind === 'clock-monotonic') {
      // Small steps: a member's timers stand still while its monotonic clock is behind.
      return variant === 'rate' ? `+0 x${pick(random, ['0.8', '0.9', '1.1', '1.25'])}` : `${sign}${pick(random, ['0.5', '1', '2', '5'])} x1`;
    }
    // Up to two hours: past the one-hour session TTL (log time follows the leader's wall clock).
    return variant === 'rate' ? `+0 x${pick(random, ['0.25', '0.5', '2', '4'])}` : `${sign}${pick(random, ['30', '600', '3900', '7200'])} x1`;
  }

  private async clock(kind: 'clock' | 'clock-monotonic', variant: string, entry: TimelineEntry, random: SeededRandom): Promise<() => Promise<void>> {
    if (variant === 'jump-isolated') return this.clockIsolated(kind, entry, random);
    const members = variant === 'jump-all' ? this.inCluster() : [await this.target(random, random.next() < 0.5)];
    const specs = members.map((m) => {
      const spec = this.clockSpec(kind, variant === 'jump-all' ? 'jump' : variant, random);
      m.setClock(spec);
      return `${m.name} ${spec}`;
    });
    entry.targets = members.map((m) => m.name);
    entry.description = `faketime ${specs.join('; ')}${kind === 'clock' ? ' (wall clock only)' : ' (monotonic too)'}`;
    return async () => {
      for (const m of members) m.setClock('+0 x1');
    };
  }

  /**
   * The lease's worst case: the leader's clock steps back and at the same moment it is cut off
   * from its peers (its clients still reach it). If its lease ran on a clock that went back,
   * it would go on serving reads while the others elect a new leader and take writes.
   */
  private async clockIsolated(kind: 'clock' | 'clock-monotonic', entry: TimelineEntry, random: SeededRandom): Promise<() => Promise<void>> {
    const m = await this.target(random, true);
    const spec = kind === 'clock' ? `-${pick(random, ['30', '600', '3900'])} x1` : `-${pick(random, ['3', '5', '8'])} x1`;
    const { rules, description } = partitionRules('isolated-leader', this.inCluster().map((x) => x.name), m.name, random);
    m.setClock(spec);
    await applyDropRules(rules, this.cluster.hosts);
    entry.targets = [m.name];
    entry.description = `faketime ${m.name} ${spec}${kind === 'clock' ? ' (wall clock only)' : ' (monotonic too)'} and partition ${description}`;
    return async () => {
      await this.healAllFirewalls();
      m.setClock('+0 x1');
    };
  }

  private async disk(variant: string, entry: TimelineEntry, random: SeededRandom): Promise<() => Promise<void>> {
    const m = await this.target(random, variant === 'leader');
    entry.targets = [m.name];
    entry.description = `fill ${m.name}'s tmpfs data dir`;
    await m.fillDisk();
    return async () => {
      m.freeDisk();
      if (!m.running && !this.cluster.outOfCluster.has(m.name)) {
        entry.description += ` (it exited: ${m.exited ?? '?'}; restarted)`;
        this.cluster.restart(m);
      }
      // The full disk raised NOSPACE, which stays until an operator disarms it (as etcd's
      // alarms do): disarm it as one would, or every later write of the run is refused.
      const disarmed = await this.disarmNoSpace();
      if (disarmed > 0) entry.description += ` (NOSPACE disarmed ${disarmed}×)`;
    };
  }

  /**
   * Disarms NOSPACE through any running member until none is raised again: a member whose
   * disk-full probe has not yet seen the freed space raises it once more within a second.
   * Returns how many alarms it disarmed; gives up quietly after 20 s (the run's checks then
   * see the refused writes).
   */
  private async disarmNoSpace(): Promise<number> {
    const deadline = this.now() + 20_000;
    let disarmed = 0;
    let quietRounds = 0;
    while (this.now() < deadline && quietRounds < 2) {
      const via = this.inCluster().find((x) => x.running);
      let count = -1;
      if (via !== undefined) {
        count = await this.cluster.agent.call('disarmNoSpace', { via: via.name, timeoutMs: 3_000 }, 10_000).catch(() => -1);
      }
      disarmed += Math.max(0, count);
      quietRounds = count === 0 ? quietRounds + 1 : 0;
      await sleep(1_500);
    }
    return disarmed;
  }

  private async transfer(entry: TimelineEntry, random: SeededRandom): Promise<void> {
    const leader = await this.cluster.leader();
    if (leader === undefined) throw new Error('no leader to transfer from');
    const ids = await this.cluster.ids();
    const followers = this.inCluster().filter((m) => m.name !== leader && ids.has(m.name));
    if (followers.length === 0) throw new Error('no reachable follower to transfer to');
    const target = pick(random, followers);
    entry.targets = [leader, target.name];
    entry.description = `move leader ${leader} -> ${target.name}`;
    await this.cluster.agent.call('moveLeader', { via: leader, targetId: ids.get(target.name) as string, timeoutMs: 10_000 }, 20_000);
  }

  private async membership(entry: TimelineEntry, random: SeededRandom): Promise<void> {
    const leader = await this.cluster.leader();
    if (leader === undefined) throw new Error('no leader to change membership through');
    const ids = await this.cluster.ids();
    const followers = this.inCluster().filter((m) => m.name !== leader && ids.has(m.name) && m.running);
    if (followers.length === 0) throw new Error('no reachable follower to replace');
    const m = pick(random, followers);
    entry.targets = [m.name];
    entry.description = `remove ${m.name}, wipe its data, add it back as a learner`;
    await this.cluster.removeMember(m, leader, ids.get(m.name) as string);
    // Adding it back needs a quorum, which the fault running beside may take away for a while.
    await this.cluster.rejoinOutstanding(30_000);
  }
}
