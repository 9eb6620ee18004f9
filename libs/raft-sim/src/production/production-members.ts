/**
 * The initial production members of a SimWorld (`--member production`): each with an empty
 * simulated disk, its state machine and its drifting clock. The one piece of real I/O is
 * each MemoryStateMachine's snapshot directory, created in a temporary directory before the
 * run starts, never written, and removed by `close`.
 */
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { nodeId } from '@keyval/raft';
import type { SimWorld } from '../sim-world';
import { WorldProductionMember } from './world-production-member';

export interface ProductionMembers {
  readonly members: readonly WorldProductionMember[];
  /** Members for the ids membership changes may add (empty storage, not bootstrapped). */
  readonly spares: readonly WorldProductionMember[];
  /** Kills every member and closes its state machine, then removes the temporary directory. */
  close(): Promise<void>;
}

export async function createProductionMembers(world: SimWorld): Promise<ProductionMembers> {
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), 'keyval-sim-'));
  const members: WorldProductionMember[] = [];
  const spares: WorldProductionMember[] = [];
  try {
    const drift = world.profile.clockDrift;
    for (const id of world.initialVoters()) {
      const num = Number(id);
      const fixed = world.profile.clockRates?.[num];
      const rate = fixed ?? 1 + (drift === 0 ? 0 : (world.memberRandom.nextFloat() * 2 - 1) * drift);
      members.push(await WorldProductionMember.create(world, id, root, rate));
    }
    if (world.profile.membershipGapMs > 0) {
      for (let k = 0; k < world.profile.maxAddedMembers; k++) {
        const id = nodeId(world.profile.members + 1 + k);
        const rate = 1 + (drift === 0 ? 0 : (world.memberRandom.nextFloat() * 2 - 1) * drift);
        const spare = await WorldProductionMember.create(world, id, root, rate);
        spare.member.joining = true;
        spares.push(spare);
      }
    }
  } catch (error) {
    await fsp.rm(root, { recursive: true, force: true });
    throw error;
  }
  return {
    members,
    spares,
    close: async () => {
      for (const m of [...members, ...spares]) {
        if (m.up) {
          m.crash(0);
        }
        await m.member.sm.close();
      }
      await fsp.rm(root, { recursive: true, force: true });
    },
  };
}
