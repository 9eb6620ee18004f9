/**
 * Disk faults for production members in SimWorld, beside the fault injector's crashes,
 * pauses, partitions and network faults: windows in which a member's fsyncs fail with EIO
 * (20 % of them, for 20–320 ms: its WAL fails, the driver stops, the process exits and
 * restarts) and windows of ENOSPC (20–520 ms: the WAL refuses writes and the driver backs off
 * until its probe finds space), and once per seed at most a bit flipped in the cold WAL data of
 * a member that is down (its WAL must refuse to open; it stays down). Seeded from its own stream, so the fault injector's draws
 * are those of the simulation's own member for the same seed.
 */
import { SimRandom, Stream } from '../sim-random';
import type { SimWorld } from '../sim-world';
import type { WorldProductionMember } from './world-production-member';

/** Sub-stream of Stream.Faults for disk faults (the injector uses sub-stream 0). */
const DISK_FAULT_STREAM = 7;

export class DiskFaultInjector {
  private active = false;
  private readonly random: SimRandom;
  /** Windows opened so far, by kind. */
  readonly counts = { fsyncFailing: 0, noSpace: 0, bitFlips: 0 };

  constructor(
    private readonly world: SimWorld,
    private readonly members: readonly WorldProductionMember[],
  ) {
    this.random = SimRandom.stream(world.seed, Stream.Faults, DISK_FAULT_STREAM);
  }

  /** Half the seeds have disk faults, at a gap of 200–1500 ms between windows. */
  start(): void {
    const r = this.random;
    if (!r.chance(0.5) || this.members.length === 0) {
      return;
    }
    this.active = true;
    const gapMs = r.between(200, 1500);
    const step = (): void => {
      if (!this.active) {
        return;
      }
      this.window(r.pick(this.members));
      this.world.schedule(r.exponential(gapMs), step);
    };
    this.world.schedule(r.exponential(gapMs), step);
  }

  private window(member: WorldProductionMember): void {
    const r = this.random;
    const w = this.world;
    const disk = member.disk;
    if (r.chance(0.15)) {
      this.maybeFlipBit(member);
    } else if (r.chance(0.5)) {
      this.counts.fsyncFailing++;
      disk.fsyncFailProb = 0.2;
      w.log(`m${member.num} disk: fsyncs fail (20%)`);
      w.schedule(r.between(20, 320), () => (disk.fsyncFailProb = 0));
    } else {
      this.counts.noSpace++;
      disk.noSpace = true;
      w.log(`m${member.num} disk: ENOSPC`);
      w.schedule(r.between(20, 520), () => {
        disk.noSpace = false;
        w.log(`m${member.num} disk: space again`);
      });
    }
  }

  /**
   * One bit flipped in cold WAL data (the first half of a durable segment) of a member that is
   * down, once per seed and only in clusters of 3 or more, so a quorum is left when its WAL
   * refuses to open (CorruptLogError) and it stays down.
   */
  private maybeFlipBit(member: WorldProductionMember): void {
    const w = this.world;
    if (member.up || member.incarnation === 0 || this.members.length < 3 || this.members.some((m) => m.member.diskDamaged)) {
      return;
    }
    const flipped = member.member.fs.flipColdBit(4096, 64);
    if (flipped !== undefined) {
      this.counts.bitFlips++;
      member.member.diskDamaged = true;
      w.log(`m${member.num} disk: bit flipped at ${flipped.byte} of ${flipped.file}`);
    }
  }

  /** No new windows, and every disk healthy again (the liveness phase). */
  stop(): void {
    this.active = false;
    for (const m of this.members) {
      m.disk.fsyncFailProb = 0;
      m.disk.noSpace = false;
    }
  }
}
