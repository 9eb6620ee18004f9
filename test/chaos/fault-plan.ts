/**
 * The fault timeline of a run, decided up front from the seed (pure: same options and seed,
 * same plan). Windows of one primary fault alternate with quiet time, the kinds drawn in
 * shuffled rounds (each enabled kind once before any repeats); leader transfers and
 * membership changes are overlays dropped inside windows ("during faults"), or get windows of
 * their own when no primary fault is enabled. Which member a fault hits is decided when it
 * starts (the leader is only known then), from the window's own seed.
 *
 *     quiet │ partition:bridge ──(transfer)── │ quiet │ kill:leader │ quiet │ clock:jump ──(membership)── │ …
 */
import { SeededRandom } from '../crash/seeded-random';
import type { FaultKind } from './chaos-options';
import type { DropRule } from './firewall';

/** Faults that last a window and are healed at its end. */
export const PRIMARY_FAULTS: readonly FaultKind[] = ['kill', 'pause', 'partition', 'loss', 'delay', 'clock', 'clock-monotonic', 'disk'];
/** Faults that are one action, done inside another fault's window. */
export const OVERLAY_FAULTS: readonly FaultKind[] = ['transfer', 'membership'];

/** The variants of each fault (what exactly it does; targets are picked at run time). */
export const VARIANTS: Readonly<Record<FaultKind, readonly string[]>> = {
  kill: ['leader', 'random', 'minority', 'all'],
  pause: ['leader', 'random', 'minority'],
  partition: ['halves', 'isolated-leader', 'leader-minority', 'bridge', 'one-way'],
  loss: ['one', 'all'],
  delay: ['one', 'all'],
  clock: ['jump', 'rate', 'jump-all', 'jump-isolated'],
  'clock-monotonic': ['jump', 'rate', 'jump-isolated'],
  disk: ['leader', 'random'],
  transfer: ['random-follower'],
  membership: ['replace-follower'],
};

/** One planned fault. Times are ms since the run's start. */
export interface PlannedFault {
  readonly kind: FaultKind;
  readonly variant: string;
  readonly startMs: number;
  /** When it is healed; equal to startMs for an overlay (a single action). */
  readonly endMs: number;
  /** Seed for the choices made when it starts (targets, amounts). */
  readonly seed: number;
}

export interface PlanOptions {
  readonly durationMs: number;
  readonly faults: readonly FaultKind[];
  readonly faultWindowMs: number;
  readonly quietMs: number;
  readonly seed: number;
}

function pick<T>(random: SeededRandom, items: readonly T[]): T {
  if (items.length === 0) throw new RangeError('pick from an empty list');
  return items[random.int(items.length)] as T;
}

/** Draws items in shuffled rounds: every item once before any repeats. */
function deck<T>(random: SeededRandom, items: readonly T[]): () => T {
  let left: T[] = [];
  return () => {
    if (left.length === 0) left = sample(random, items, items.length);
    return left.pop() as T;
  };
}

/**
 * Plans the faults of a run: windows start after a first quiet period and end before
 * `durationMs`. Sorted by start time.
 * @throws RangeError for a window shorter than 300 ms or a negative quiet time
 */
export function planFaults(options: PlanOptions): PlannedFault[] {
  if (!(options.faultWindowMs >= 300)) throw new RangeError(`fault window must be at least 300 ms, got ${options.faultWindowMs}`);
  if (!(options.quietMs >= 0)) throw new RangeError(`quiet time must be >= 0, got ${options.quietMs}`);
  const random = new SeededRandom(options.seed);
  const primaries = options.faults.filter((f) => PRIMARY_FAULTS.includes(f));
  const overlays = options.faults.filter((f) => OVERLAY_FAULTS.includes(f));
  const plan: PlannedFault[] = [];
  if (primaries.length === 0 && overlays.length === 0) return plan;
  const nextPrimary = deck(random, primaries);
  const nextOverlay = deck(random, overlays);
  let t = Math.max(options.quietMs, 1_000);
  for (;;) {
    const length = Math.round(options.faultWindowMs / 3 + random.next() * ((options.faultWindowMs * 2) / 3));
    if (t + length > options.durationMs) break;
    if (primaries.length > 0) {
      const kind = nextPrimary();
      plan.push({ kind, variant: pick(random, VARIANTS[kind]), startMs: t, endMs: t + length, seed: random.int(2 ** 31) });
      if (overlays.length > 0 && random.next() < 0.6) {
        const overlay = nextOverlay();
        const at = t + Math.round(length * (0.2 + 0.4 * random.next()));
        plan.push({ kind: overlay, variant: pick(random, VARIANTS[overlay]), startMs: at, endMs: at, seed: random.int(2 ** 31) });
      }
    } else {
      const overlay = nextOverlay();
      plan.push({ kind: overlay, variant: pick(random, VARIANTS[overlay]), startMs: t, endMs: t, seed: random.int(2 ** 31) });
    }
    t += length + Math.round(options.quietMs * (0.5 + random.next()));
  }
  return plan.sort((a, b) => a.startMs - b.startMs);
}

/** Picks `count` distinct items. */
export function sample<T>(random: SeededRandom, items: readonly T[], count: number): T[] {
  const pool = [...items];
  const out: T[] = [];
  while (out.length < count && pool.length > 0) out.push(pool.splice(random.int(pool.length), 1)[0] as T);
  return out;
}

/** Cuts every link between `a` and `b` both ways. */
function cut(a: readonly string[], b: readonly string[]): DropRule[] {
  const rules: DropRule[] = [];
  for (const x of a) for (const y of b) rules.push({ at: x, from: y, peerPortsOnly: false }, { at: y, from: x, peerPortsOnly: false });
  return rules;
}

/**
 * The drop rules of a partition variant over `members` (names) with the current `leader` (or
 * undefined when none is known), and a description.
 */
export function partitionRules(variant: string, members: readonly string[], leader: string | undefined, random: SeededRandom): { rules: DropRule[]; description: string } {
  const minoritySize = Math.floor((members.length - 1) / 2);
  const lead = leader ?? pick(random, members);
  const others = members.filter((m) => m !== lead);
  switch (variant) {
    case 'halves': {
      const minority = sample(random, members, minoritySize);
      const majority = members.filter((m) => !minority.includes(m));
      return { rules: cut(minority, majority), description: `${minority.join(',')} | ${majority.join(',')}` };
    }
    case 'isolated-leader':
      return { rules: cut([lead], others), description: `${lead} | ${others.join(',')}` };
    case 'leader-minority': {
      const minority = [lead, ...sample(random, others, minoritySize - 1)];
      const majority = members.filter((m) => !minority.includes(m));
      return { rules: cut(minority, majority), description: `${minority.join(',')} | ${majority.join(',')}` };
    }
    case 'bridge': {
      // Two halves that only the bridge member sees both of (Jepsen's bridge).
      const bridge = pick(random, members);
      const rest = sample(random, members.filter((m) => m !== bridge), members.length - 1);
      const left = rest.slice(0, Math.floor(rest.length / 2));
      const right = rest.slice(Math.floor(rest.length / 2));
      return { rules: cut(left, right), description: `${left.join(',')} <-> ${bridge} <-> ${right.join(',')}` };
    }
    case 'one-way': {
      // The leader can no longer send to the others; they can still send to it.
      return { rules: others.map((m) => ({ at: m, from: lead, peerPortsOnly: true })), description: `${lead} -/-> ${others.join(',')}` };
    }
    default:
      throw new RangeError(`unknown partition variant ${variant}`);
  }
}
