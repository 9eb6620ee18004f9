/**
 * The simulated network between members: which links are cut (partitions, possibly one-way),
 * and for each message whether it is dropped, duplicated and how long each copy takes.
 * Reordering falls out of independent random delays. The world schedules the deliveries and
 * re-checks the link and the receiver at delivery time (a partition also drops messages in
 * flight; messages to a crashed member are lost).
 *
 * Member ids are small integers here (1..MAX_MEMBER_ID); the links form a boolean matrix.
 */
import type { DelayModel, PartitionKind } from './fault-profile';
import { sampleDelay } from './fault-profile';
import type { SimRandom } from './sim-random';
import { simAssert } from './sim.errors';

/** Largest member id the simulation uses (initial members plus added ones). */
export const MAX_MEMBER_ID = 31;

export interface LinkFaults {
  readonly dropProb: number;
  readonly dupProb: number;
  readonly delay: DelayModel;
}

/** A partition as applied: the directed links it cuts and a description for the trace. */
export interface PartitionPlan {
  readonly kind: PartitionKind;
  readonly description: string;
  readonly cuts: readonly (readonly [number, number])[];
}

export class SimNetwork {
  private readonly cut: boolean[] = new Array<boolean>((MAX_MEMBER_ID + 1) * (MAX_MEMBER_ID + 1)).fill(false);
  private cutCount = 0;
  /** Counters for the run summary. */
  readonly stats = { sent: 0, dropped: 0, duplicated: 0, cutOff: 0 };

  constructor(
    private readonly r: SimRandom,
    public faults: LinkFaults,
  ) {}

  /** Whether `from` can currently reach `to`. */
  linkOpen(from: number, to: number): boolean {
    return this.cutCount === 0 || !this.cut[from * (MAX_MEMBER_ID + 1) + to];
  }

  get partitioned(): boolean {
    return this.cutCount > 0;
  }

  /**
   * Decides the fate of one message from `from` to `to`: the delays of the copies that will
   * be delivered (none when dropped or the link is cut; two when duplicated).
   */
  plan(from: number, to: number): number[] {
    this.stats.sent++;
    if (!this.linkOpen(from, to)) {
      this.stats.cutOff++;
      return [];
    }
    if (this.r.chance(this.faults.dropProb)) {
      this.stats.dropped++;
      return [];
    }
    const first = sampleDelay(this.r, this.faults.delay);
    if (this.r.chance(this.faults.dupProb)) {
      this.stats.duplicated++;
      return [first, sampleDelay(this.r, this.faults.delay)];
    }
    return [first];
  }

  /** Cuts the given directed links (on top of any already cut). */
  apply(plan: PartitionPlan): void {
    for (const [from, to] of plan.cuts) {
      simAssert(from >= 1 && from <= MAX_MEMBER_ID && to >= 1 && to <= MAX_MEMBER_ID, `link ${from}->${to} out of range`);
      const at = from * (MAX_MEMBER_ID + 1) + to;
      if (!this.cut[at]) {
        this.cut[at] = true;
        this.cutCount++;
      }
    }
  }

  /** Restores every link. */
  heal(): void {
    if (this.cutCount > 0) {
      this.cut.fill(false);
      this.cutCount = 0;
    }
  }
}

/**
 * Plans a partition of `members` (ids of running members, at least 2) of the given kind.
 * `leader` is who the world believes leads, for isolate-leader.
 */
export function planPartition(kind: PartitionKind, members: readonly number[], leader: number | undefined, r: SimRandom): PartitionPlan {
  simAssert(members.length >= 2, 'a partition needs at least two members');
  const shuffled = r.shuffled(members);
  switch (kind) {
    case 'halves': {
      const at = r.between(1, shuffled.length - 1);
      return symmetric(kind, shuffled.slice(0, at), shuffled.slice(at));
    }
    case 'majority-minority': {
      const majority = Math.floor(shuffled.length / 2) + 1;
      return symmetric(kind, shuffled.slice(0, majority), shuffled.slice(majority));
    }
    case 'isolate-leader': {
      const victim = leader !== undefined && members.includes(leader) ? leader : (shuffled[0] as number);
      return symmetric(kind, [victim], members.filter((m) => m !== victim));
    }
    case 'one-way': {
      // `deaf` can hear `talkers` but its messages to them are lost.
      const at = r.between(1, shuffled.length - 1);
      const deaf = shuffled.slice(0, at);
      const talkers = shuffled.slice(at);
      const cuts: [number, number][] = [];
      for (const a of deaf) {
        for (const b of talkers) {
          cuts.push([a, b]);
        }
      }
      return { kind, description: `one-way: {${deaf.join(',')}} -/-> {${talkers.join(',')}} (but hears them)`, cuts };
    }
    case 'bridge': {
      if (shuffled.length < 3) {
        return symmetric('halves', shuffled.slice(0, 1), shuffled.slice(1));
      }
      const bridge = shuffled[0] as number;
      const rest = shuffled.slice(1);
      const at = r.between(1, rest.length - 1);
      const plan = symmetric(kind, rest.slice(0, at), rest.slice(at));
      return { ...plan, description: `bridge ${bridge} between ${plan.description}` };
    }
  }
}

function symmetric(kind: PartitionKind, a: readonly number[], b: readonly number[]): PartitionPlan {
  const cuts: [number, number][] = [];
  for (const x of a) {
    for (const y of b) {
      cuts.push([x, y], [y, x]);
    }
  }
  return { kind, description: `${kind}: {${a.join(',')}} | {${b.join(',')}}`, cuts };
}
