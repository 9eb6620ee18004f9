/**
 * One seed of the simulation on production members (`--member production`): N members, each
 * libs/cluster's RaftDriver + libs/storage's WalLogStore on a SimFileSystem + libs/statemachine's
 * MemoryStateMachine (production-member.ts), over the simulation's network (SimNetwork: drops,
 * duplicates, delays, partitions), agenda and seeded randomness, with clients writing through
 * the driver's propose.
 *
 * The production code is asynchronous (promises), so the agenda runs one event, then lets
 * every promise continuation it caused run (a setImmediate turn: nothing real is pending, so
 * the microtask queue is empty when it fires), then the next event. Nothing but the agenda
 * makes time pass, and the same seed gives the same trace.
 *
 *     safety phase: crashes (unsynced writes lost or torn), fsync failures (the WAL fails, the
 *                   member exits and restarts), ENOSPC windows, slow fsyncs, partitions, a
 *                   lossy network, clock drift
 *     liveness phase: every fault healed, every member restarted; within 20 s a leader, every
 *                   client completes a write, every member applies what the leader committed
 *     end: every acknowledged write is in every member's state machine
 */
import { nodeId } from '@keyval/raft';
import type { Entry, Message, NodeId } from '@keyval/raft';
import { MemoryStateMachine, encodeCommand } from '@keyval/statemachine';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { describeMessage } from '../describe';
import { EventQueue } from '../event-queue';
import { SafetyChecker } from '../safety-checker';
import { SimNetwork, planPartition } from '../sim-network';
import { SimRandom, Stream } from '../sim-random';
import { SimViolation, ViolationKind } from '../sim.errors';
import { Trace } from '../trace';
import { ProductionMember } from './production-member';
import type { ProductionHost } from './production-member';
import { fatalCause } from './production-member';
import { SimFileSystem } from './sim-file-system';
import type { SimDiskFaults } from './sim-file-system';

export interface ProductionRunOptions {
  readonly seed: number;
  /** Length of the safety phase (simulated ms). Default: 3-8 s, by seed. */
  readonly safetyMs?: number;
  readonly traceTail?: number;
  readonly verbose?: (line: string) => void;
}

export interface ProductionRunResult {
  readonly seed: number;
  readonly members: number;
  readonly violation: SimViolation | undefined;
  readonly traceHash: string;
  readonly recent: readonly string[];
  readonly simulatedMs: number;
  readonly events: number;
  readonly stats: {
    readonly acked: number;
    readonly crashes: number;
    readonly fatal: number;
    readonly fsyncFailures: number;
    readonly tornWrites: number;
    readonly lostOps: number;
    readonly noSpaceErrors: number;
    readonly applied: number;
    readonly leaders: number;
    /** Members whose cold WAL data had a bit flipped / that then refused to start. */
    readonly bitFlips: number;
    readonly refusedCorruptWal: number;
  };
}

/** Liveness bound once faults are healed (simulated ms). */
export const PRODUCTION_LIVENESS_MS = 20_000;

const CLIENTS = 3;
const TICK_MS = 10;
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

class ProductionWorld implements ProductionHost {
  now = 0;
  readonly queue = new EventQueue();
  readonly checker = new SafetyChecker();
  readonly members: ProductionMember[] = [];
  readonly voters: NodeId[] = [];
  readonly raft;
  readonly tickMs = TICK_MS;
  readonly network: SimNetwork;
  readonly faultRandom: SimRandom;
  readonly clientRandom: SimRandom;
  readonly diskFaults: SimDiskFaults[] = [];
  firstViolation: SimViolation | undefined;
  /** key → value of every acknowledged write. */
  readonly acked = new Map<string, string>();
  /** Writes each client completed (acknowledged) so far. */
  readonly clientDone: number[] = new Array<number>(CLIENTS).fill(0);
  clientsRunning = true;
  leaders = 0;

  constructor(
    readonly seed: number,
    readonly trace: Trace,
  ) {
    const profile = SimRandom.stream(seed, Stream.Profile);
    const n = profile.pick([1, 3, 3, 5]);
    this.raft = { electionTimeoutTicks: 10, heartbeatTicks: 1, preVote: profile.chance(0.8), checkQuorum: profile.chance(0.8) };
    this.network = new SimNetwork(SimRandom.stream(seed, Stream.Network), {
      dropProb: profile.chance(0.5) ? profile.nextFloat() * 0.1 : 0,
      dupProb: profile.chance(0.3) ? profile.nextFloat() * 0.03 : 0,
      delay: { baseMs: 1, jitterMs: profile.between(0, 5), tailProb: profile.chance(0.3) ? 0.02 : 0, tailMeanMs: 50 },
    });
    this.faultRandom = SimRandom.stream(seed, Stream.Faults);
    this.clientRandom = SimRandom.stream(seed, Stream.Clients);
    for (let i = 1; i <= n; i++) {
      this.voters.push(nodeId(i));
    }
    this.profileNote = `members=${n} preVote=${this.raft.preVote} checkQuorum=${this.raft.checkQuorum} drop=${this.network.faults.dropProb.toFixed(3)}`;
  }

  readonly profileNote: string;

  async createMembers(snapshotRoot: string): Promise<void> {
    const memberRandom = SimRandom.stream(this.seed, Stream.Members);
    for (const id of this.voters) {
      const num = Number(id);
      const faults: SimDiskFaults = {
        fsyncDelayMs: (r) => 1 + r.nextInt(4) + (r.chance(0.02) ? r.exponential(30) : 0),
        fsyncFailProb: 0,
        noSpace: false,
        tornWriteProb: 0.5,
      };
      this.diskFaults.push(faults);
      const fs = new SimFileSystem(this, SimRandom.stream(this.seed, Stream.Disk, num), faults);
      const sm = await MemoryStateMachine.create({ snapshotDir: path.join(snapshotRoot, `m${num}`) });
      const rate = 1 + (memberRandom.nextFloat() * 2 - 1) * 0.03;
      this.members.push(new ProductionMember(id, fs, sm, this, rate));
    }
  }

  schedule(delayMs: number, run: () => void): void {
    this.queue.push(this.now + Math.max(0, Math.round(delayMs)), run);
  }

  log(line: string): void {
    this.trace.log(this.now, line);
  }

  violation(violation: SimViolation): void {
    this.firstViolation ??= violation;
  }

  member(num: number): ProductionMember | undefined {
    return this.members[num - 1];
  }

  send(from: ProductionMember, messages: readonly Message[]): void {
    for (const m of messages) {
      const to = Number(m.to);
      for (const delay of this.network.plan(from.num, to)) {
        this.schedule(delay, () => {
          const target = this.member(to);
          if (target === undefined || !target.up || !this.network.linkOpen(from.num, to)) {
            return;
          }
          this.log(`recv ${describeMessage(m)}`);
          target.deliver(m);
        });
      }
    }
  }

  onLeader(member: ProductionMember, term: number): void {
    this.leaders++;
    this.log(`m${member.num} LEADER t${term}`);
    try {
      this.checker.onLeader(member.num, term);
    } catch (error) {
      this.violation(error as SimViolation);
    }
  }

  onApplied(member: ProductionMember, entry: Entry): void {
    try {
      this.checker.onApply(member.num, entry, member.appliedChain);
    } catch (error) {
      this.violation(error as SimViolation);
    }
  }

  onFatal(member: ProductionMember, error: Error, context = `m${member.num} stopped on a fatal error`): void {
    const cause = fatalCause(member, error);
    if (cause === 'retired') {
      this.log(`m${member.num} refuses to start: ${error.message}`);
      return;
    }
    if (cause === 'violation') {
      this.violation(new SimViolation(ViolationKind.CoreCrash, `${context}: ${error.message}`));
      return;
    }
    this.log(`m${member.num} fatal (injected disk fault): ${error.message}`);
    this.restartLater(member, 'fatal disk error', 10 + this.faultRandom.nextInt(200));
  }

  restartLater(member: ProductionMember, reason: string, afterMs: number): void {
    member.crash(reason);
    const incarnation = member.incarnation;
    this.schedule(afterMs, () => {
      if (member.incarnation === incarnation && !member.retired) {
        void member.start();
      }
    });
  }

  /** The seeded fault schedule of the safety phase. */
  injectFaults(untilMs: number): void {
    const step = (): void => {
      if (this.now >= untilMs) {
        return;
      }
      const r = this.faultRandom;
      const target = r.pick(this.members);
      const disk = this.diskFaults[target.num - 1] as SimDiskFaults;
      const kind = r.weighted<string>([['crash', 3], ['crash-leader', 2], ['partition', 2], ['fsync-fail', 1], ['no-space', 1], ['bit-flip', 1], ['calm', 2]]);
      if (kind === 'crash' && target.up) {
        this.restartLater(target, 'injected', 10 + r.nextInt(1500));
      } else if (kind === 'crash-leader') {
        const leader = this.members.find((m) => m.isLeader());
        if (leader !== undefined) {
          this.restartLater(leader, 'injected, leader', 10 + r.nextInt(1500));
        }
      } else if (kind === 'partition' && !this.network.partitioned && this.members.length > 1) {
        const leader = this.members.find((m) => m.isLeader())?.num;
        const plan = planPartition(r.pick(['halves', 'isolate-leader', 'majority-minority'] as const), this.members.map((m) => m.num), leader, r);
        this.network.apply(plan);
        this.log(`PARTITION ${plan.description}`);
        this.schedule(50 + r.nextInt(2000), () => {
          this.network.heal();
          this.log('HEAL');
        });
      } else if (kind === 'fsync-fail') {
        disk.fsyncFailProb = 0.2;
        this.log(`m${target.num} disk: fsyncs fail (20%)`);
        this.schedule(20 + r.nextInt(300), () => (disk.fsyncFailProb = 0));
      } else if (kind === 'bit-flip' && this.members.length >= 3 && this.members.every((m) => !m.diskDamaged)) {
        // One member per seed at most, so a quorum is left when its WAL refuses to open.
        if (target.up) {
          this.restartLater(target, 'injected, then a bit flipped on its disk', 10 + r.nextInt(500));
        }
        if (!target.up && target.incarnation > 0) {
          const flipped = target.fs.flipColdBit(4096, 64);
          if (flipped !== undefined) {
            target.diskDamaged = true;
            this.log(`m${target.num} disk: bit flipped at ${flipped.byte} of ${path.basename(flipped.file)}`);
          }
        }
      } else if (kind === 'no-space') {
        disk.noSpace = true;
        this.log(`m${target.num} disk: ENOSPC`);
        this.schedule(20 + r.nextInt(500), () => {
          disk.noSpace = false;
          this.log(`m${target.num} disk: space again`);
        });
      }
      this.schedule(50 + r.nextInt(400), step);
    };
    this.schedule(300 + this.faultRandom.nextInt(700), step);
  }

  /** Every fault off, every member up. */
  heal(): void {
    this.network.heal();
    this.network.faults = { dropProb: 0, dupProb: 0, delay: { baseMs: 1, jitterMs: 2, tailProb: 0, tailMeanMs: 0 } };
    for (const disk of this.diskFaults) {
      disk.fsyncFailProb = 0;
      disk.noSpace = false;
    }
    for (const m of this.members) {
      if (!m.up && m.incarnation > 0 && !m.retired) {
        this.restartLater(m, 'healing', 1);
      }
    }
    this.log('HEAL ALL (liveness phase)');
  }

  startClients(): void {
    for (let c = 0; c < CLIENTS; c++) {
      let seq = 0;
      let target = 1;
      const next = (): void => {
        if (!this.clientsRunning) {
          return;
        }
        const member = this.member(target);
        const known = member?.knownLeader() ?? 0;
        if (member === undefined || !member.isLeader()) {
          target = known > 0 && this.clientRandom.chance(0.8) ? known : this.clientRandom.pick(this.members).num;
          this.schedule(5 + this.clientRandom.nextInt(20), next);
          return;
        }
        seq++;
        const key = `c${c}-${seq}`;
        const value = `v${this.now}`;
        const data = encodeCommand({ timestampMs: 0, op: { type: 'put', request: { key: textEncoder.encode(key), value: textEncoder.encode(value) } } });
        this.log(`c${c} -> m${member.num} put ${key}`);
        member.propose(data, 1000).then(
          () => {
            this.acked.set(key, value);
            this.clientDone[c] = (this.clientDone[c] as number) + 1;
            this.log(`c${c} <- m${member.num} ok ${key}`);
            this.schedule(this.clientRandom.nextInt(10), next);
          },
          (error: unknown) => {
            this.log(`c${c} <- m${member.num} ${error instanceof Error ? error.name : 'error'} ${key}`);
            this.schedule(5 + this.clientRandom.nextInt(30), next);
          },
        );
      };
      this.schedule(this.clientRandom.nextInt(100), next);
    }
  }

  /** Applies `run` one agenda event at a time until `done` or `untilMs`; returns events run. */
  async runUntil(untilMs: number, done: () => boolean = () => false): Promise<number> {
    let events = 0;
    while (this.firstViolation === undefined && !done()) {
      const time = this.queue.peekTime();
      if (time === undefined || time > untilMs) {
        this.now = Math.max(this.now, untilMs);
        return events;
      }
      const event = this.queue.pop();
      if (event === undefined) {
        break;
      }
      this.now = event.time;
      event.run();
      events++;
      // Every promise continuation the event caused runs before the next event.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return events;
  }

  /** Converged: a leader, and every member up and applied to the leader's commit index. */
  converged(baseline: readonly number[]): boolean {
    const leader = this.members.find((m) => m.isLeader());
    if (leader === undefined) {
      return false;
    }
    const commit = leader.commitIndex();
    return this.members.every((m) => m.retired || (m.up && m.sm.appliedIndex() >= commit)) && this.clientDone.every((done, c) => done > (baseline[c] as number));
  }

  async checkAcked(): Promise<void> {
    for (const m of this.members.filter((member) => !member.retired)) {
      for (const [key, value] of this.acked) {
        const response = await m.sm.range({ key: textEncoder.encode(key) });
        const kv = response.kvs[0];
        const got = kv === undefined ? undefined : textDecoder.decode(kv.value);
        if (got !== value) {
          this.violation(new SimViolation(ViolationKind.LostWrite, `acknowledged write ${key}=${value} reads ${got ?? 'absent'} on m${m.num} (applied ${m.sm.appliedIndex()})`));
          return;
        }
      }
    }
  }
}


/** Runs one seed on production members. */
export async function runProductionSeed(options: ProductionRunOptions): Promise<ProductionRunResult> {
  const trace = new Trace(options.traceTail, options.verbose);
  const world = new ProductionWorld(options.seed, trace);
  const snapshotRoot = await fsp.mkdtemp(path.join(os.tmpdir(), 'keyval-sim-'));
  let events = 0;
  try {
    await world.createMembers(snapshotRoot);
    trace.log(0, `seed ${options.seed}: ${world.profileNote}`);
    for (const m of world.members) {
      void m.start();
    }
    const safetyMs = options.safetyMs ?? 3000 + SimRandom.stream(options.seed, Stream.Profile, 1).nextInt(5000);
    world.injectFaults(safetyMs);
    world.startClients();
    events += await world.runUntil(safetyMs);
    if (world.firstViolation === undefined) {
      world.heal();
      const baseline = [...world.clientDone];
      const deadline = world.now + PRODUCTION_LIVENESS_MS;
      events += await world.runUntil(deadline, () => world.converged(baseline));
      if (world.firstViolation === undefined && !world.converged(baseline)) {
        const state = world.members.map((m) => `m${m.num}: ${m.up ? 'up' : 'down'} applied=${m.sm.appliedIndex()} commit=${m.commitIndex()}${m.isLeader() ? ' leader' : ''}`).join('; ');
        world.violation(new SimViolation(ViolationKind.Liveness, `not converged within ${PRODUCTION_LIVENESS_MS} ms of healing (${state}; clients done ${world.clientDone.join(',')})`));
      }
      world.clientsRunning = false;
      if (world.firstViolation === undefined) {
        await world.checkAcked();
      }
    }
  } finally {
    for (const m of world.members) {
      m.crash('end of run');
      await m.sm.close();
    }
    await fsp.rm(snapshotRoot, { recursive: true, force: true });
  }
  const diskStats = world.members.map((m) => m.fs.stats);
  const sum = (pick: (s: (typeof diskStats)[number]) => number): number => diskStats.reduce((a, s) => a + pick(s), 0);
  return {
    seed: options.seed,
    members: world.members.length,
    violation: world.firstViolation,
    traceHash: trace.hash(),
    recent: trace.recent(),
    simulatedMs: world.now,
    events,
    stats: {
      acked: world.acked.size,
      crashes: world.members.reduce((a, m) => a + m.stats.crashes, 0),
      fatal: world.members.reduce((a, m) => a + m.stats.fatal, 0),
      fsyncFailures: sum((s) => s.fsyncFailures),
      tornWrites: sum((s) => s.tornWrites),
      lostOps: sum((s) => s.lostOps),
      noSpaceErrors: sum((s) => s.noSpaceErrors),
      applied: world.members.reduce((a, m) => a + m.stats.applied, 0),
      leaders: world.leaders,
      bitFlips: world.members.filter((m) => m.diskDamaged).length,
      refusedCorruptWal: world.members.filter((m) => m.retired).length,
    },
  };
}
