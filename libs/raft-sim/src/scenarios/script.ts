/**
 * Targeted schedules are scripts: generator functions that act on the world (partitions,
 * crashes, restarts, transfers, membership changes) and wait for what the cluster does in
 * between. A script yields a Wait; the runner resumes it with `true` when the condition held,
 * `false` when the time ran out (the script then adapts or gives up — a sequence that did not
 * line up in one seed is not a violation, only a run that tested less). Everything is simulated
 * time and seeded choices, so a scenario seed replays exactly like a random one.
 *
 *     function* script(s: ScenarioContext): Script {
 *       const leader = yield* s.leader(3000);          // undefined: no leader in time
 *       s.partition([[leader.num], others]);
 *       if (!(yield s.until(() => ..., 2000))) return;  // wait for a condition, or give up
 *       yield s.sleep(100);
 *     }
 *
 * Conditions are polled every millisecond of simulated time. When a reaction must come before
 * the messages an input produces (cut a new leader off before its first Append leaves), use
 * `afterInput`, which runs synchronously after each member input.
 */
import { RaftError, Role } from '@keyval/raft';
import { encodeCommand } from '../kv-state-machine';
import type { RaftStatus } from '@keyval/raft';
import type { SimMember } from '../sim-member';
import type { SimRandom } from '../sim-random';
import { SimWorld } from '../sim-world';

export type Wait = { readonly kind: 'until'; readonly cond: () => boolean; readonly withinMs: number } | { readonly kind: 'sleep'; readonly ms: number };
export type Script = Generator<Wait, void, boolean>;

/** Conditions are polled this often (simulated ms). */
const POLL_MS = 1;

/** What a script may do to the world, and ask of it. */
export class ScenarioContext {
  private ended = false;
  private writes = 0;

  constructor(
    readonly world: SimWorld,
    /** The scenario's own random stream (choices, delays). */
    readonly r: SimRandom,
  ) {}

  get now(): number {
    return this.world.now;
  }

  log(line: string): void {
    this.world.log(`SCENARIO ${line}`);
  }

  /** The sequence lined up: the trap is set (counted per run; tests check scenarios get there). */
  sprung(what: string): void {
    this.world.counters.scenarioTraps++;
    this.log(`trap sprung: ${what}`);
  }

  until(cond: () => boolean, withinMs: number): Wait {
    return { kind: 'until', cond, withinMs };
  }

  sleep(ms: number): Wait {
    return { kind: 'sleep', ms };
  }

  /** Waits for a leader (the up member leading the highest term), or undefined after `withinMs`. */
  *leader(withinMs: number, accept: (m: SimMember) => boolean = () => true): Generator<Wait, SimMember | undefined, boolean> {
    const found = (): SimMember | undefined => {
      const l = this.world.currentLeader();
      return l !== undefined && accept(SimWorld.sim(l)) ? SimWorld.sim(l) : undefined;
    };
    const ok = yield this.until(() => found() !== undefined, withinMs);
    return ok ? found() : undefined;
  }

  /**
   * Waits up to 3 s for a leader, lets it lead a seeded while (minMs..maxMs), and returns it if
   * it still leads; otherwise logs why (prefixed with `label`) and returns undefined.
   */
  *steadyLeader(label: string, minMs: number, maxMs: number): Generator<Wait, SimMember | undefined, boolean> {
    const leader = yield* this.leader(3000);
    if (leader === undefined) {
      this.log(`${label}: no leader`);
      return undefined;
    }
    yield this.sleep(this.r.between(minMs, maxMs));
    if (!this.isLeader(leader)) {
      this.log(`${label}: m${leader.num} lost its leadership`);
      return undefined;
    }
    return leader;
  }

  member(num: number): SimMember {
    const m = this.world.members.get(num);
    if (m === undefined) {
      throw new RangeError(`scenario: no member ${num}`);
    }
    return SimWorld.sim(m);
  }

  status(m: SimMember): RaftStatus | undefined {
    return m.up ? m.node?.status() : undefined;
  }

  isLeader(m: SimMember): boolean {
    return m.up && m.node?.role === Role.Leader;
  }

  /** Cuts every link between different groups (both ways); members in no group keep their links. */
  partition(groups: readonly (readonly number[])[]): void {
    const cuts: [number, number][] = [];
    for (let a = 0; a < groups.length; a++) {
      for (let b = 0; b < groups.length; b++) {
        if (a === b) {
          continue;
        }
        for (const x of groups[a] as readonly number[]) {
          for (const y of groups[b] as readonly number[]) {
            cuts.push([x, y]);
          }
        }
      }
    }
    const description = groups.map((g) => `{${g.join(',')}}`).join(' | ');
    this.world.network.apply({ kind: 'halves', description, cuts });
    this.world.counters.partitions++;
    this.world.log(`PARTITION ${description} (scenario)`);
  }

  /** Every member ever started and not removed, up or down (a partition must cover restarts). */
  allIds(): number[] {
    return [...this.world.members.values()].filter((m) => !m.removed).map((m) => m.num);
  }

  /** Isolates one member from every other (both ways), including members down now. */
  isolate(num: number): void {
    const others = this.allIds().filter((n) => n !== num);
    this.partition([[num], others]);
  }

  heal(): void {
    this.world.network.heal();
    this.world.log('HEAL network (scenario)');
  }

  /** Crashes `m`; with `loseUnsynced`, nothing it had not fsynced survives. */
  crash(m: SimMember, loseUnsynced = false): void {
    if (m.up) {
      this.world.crash(m, false, loseUnsynced ? 0 : undefined);
    }
  }

  restart(m: SimMember): void {
    if (!m.up && !m.removed) {
      m.start();
    }
  }

  /**
   * Proposes `count` writes through `leader`, as a burst of clients nobody waits on would
   * (keys of their own, so the clients' history is untouched). Returns how many it accepted.
   */
  proposeWrites(leader: SimMember, count: number): number {
    let accepted = 0;
    leader.input(() => {
      for (let k = 0; k < count; k++) {
        const n = ++this.writes;
        try {
          leader.core().propose(encodeCommand({ kind: 'put', opId: `scenario-${n}`, key: `s${n % 3}`, value: `w${n}` }));
          accepted++;
        } catch (error) {
          if (!(error instanceof RaftError)) {
            throw error;
          }
          return;
        }
      }
    });
    return accepted;
  }

  /** Runs `watch` after every member input until it returns true or the script ends. */
  afterInput(watch: (m: SimMember) => boolean): void {
    this.world.watchInputs((m) => this.ended || watch(m));
  }

  /** Arms a crash of the first member whose fsync `strikes` accepts (disarmed when the script ends). */
  armCrash(trigger: (writer: SimMember) => void, strikes: Parameters<SimWorld['armCrash']>[1]): void {
    this.world.armCrash(trigger, strikes);
  }

  /** The script is over (finished, or its time ran out): watchers and armed crashes lapse. */
  end(): void {
    if (!this.ended) {
      this.ended = true;
      this.world.armCrash(undefined);
    }
  }
}

/** Drives a script through the world's agenda. */
export class ScriptRunner {
  private finished = false;

  constructor(
    private readonly context: ScenarioContext,
    private readonly script: Script,
  ) {}

  private get world(): SimWorld {
    return this.context.world;
  }

  get done(): boolean {
    return this.finished;
  }

  start(): void {
    this.resume(true);
  }

  /** Ends the script where it is (the safety phase is over). */
  stop(): void {
    if (!this.finished) {
      this.finished = true;
      this.script.return();
      this.context.end();
      this.world.log('SCENARIO script stopped at the end of the safety phase');
    }
  }

  private resume(value: boolean): void {
    if (this.finished) {
      return;
    }
    const step = this.script.next(value);
    if (step.done === true) {
      this.finished = true;
      this.context.end();
      this.world.log('SCENARIO script finished');
      return;
    }
    const wait = step.value;
    if (wait.kind === 'sleep') {
      this.world.schedule(Math.max(0, Math.round(wait.ms)), () => this.resume(true));
      return;
    }
    const deadline = this.world.now + wait.withinMs;
    const poll = (): void => {
      if (wait.cond()) {
        this.resume(true);
      } else if (this.world.now >= deadline) {
        this.resume(false);
      } else {
        this.world.schedule(POLL_MS, poll);
      }
    };
    poll();
  }
}
