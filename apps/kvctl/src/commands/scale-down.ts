/**
 * `kvctl member scale-down <replicas> [--statefulset keyval]`: the one step before
 * `kubectl scale statefulset keyval --replicas=<replicas>`. It removes the members of the
 * StatefulSet's pods whose ordinal is at or beyond <replicas>, highest first, each removal
 * checked by the cluster (live quorum); and it refuses up front when the members kept would
 * not have a live quorum of their voters. A removed member's pod stops serving and stays idle
 * until the StatefulSet is scaled down (docs/deploy.md).
 */
import type { Command } from 'commander';
import type { admin } from '@keyval/proto';
import type { CliContext } from '../cli/cli-context';
import { CommandFailedError, UsageError } from '../cli/cli-errors';
import { hexId } from '../output/format';
import { gatherStatus, listMembers } from './cluster-status';

/** What scaling the StatefulSet down to `replicas` means for the members. */
export interface ScaleDownPlan {
  /** Members of ordinals ≥ replicas, highest ordinal first. */
  readonly remove: readonly admin.Member[];
  readonly keep: readonly admin.Member[];
  /** Voters kept, and how many of them answered. */
  readonly keptVoters: number;
  readonly keptVotersLive: number;
}

/** Why a scale-down must not happen (without --force), or undefined. */
export function scaleDownProblem(plan: ScaleDownPlan): string | undefined {
  const quorum = Math.floor(plan.keptVoters / 2) + 1;
  if (plan.keptVoters === 0) return 'no voter would be left';
  if (plan.keptVotersLive < quorum) {
    return `the ${plan.keptVoters} voters kept would have ${plan.keptVotersLive} running, fewer than the quorum of ${quorum}`;
  }
  return undefined;
}

/** Splits the members by ordinal. Pure; `live` holds the ids of the members that answered. */
export function planScaleDown(members: readonly admin.Member[], statefulSet: string, replicas: number, live: ReadonlySet<bigint>): ScaleDownPlan {
  const pattern = new RegExp(`^${statefulSet.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-(0|[1-9][0-9]*)$`);
  const ordinal = (m: admin.Member): number | undefined => {
    const match = pattern.exec(m.name);
    return match === null ? undefined : Number(match[1]);
  };
  const remove = members.filter((m) => (ordinal(m) ?? -1) >= replicas).sort((a, b) => (ordinal(b) ?? 0) - (ordinal(a) ?? 0));
  const keep = members.filter((m) => !remove.includes(m));
  const keptVoters = keep.filter((m) => !m.isLearner);
  return { remove, keep, keptVoters: keptVoters.length, keptVotersLive: keptVoters.filter((m) => live.has(m.id)).length };
}

export function registerScaleDown(member: Command, ctx: CliContext): void {
  member
    .command('scale-down')
    .description('remove the members of StatefulSet pods at ordinal <replicas> and above (highest first), before `kubectl scale statefulset --replicas=<replicas>`')
    .argument('<replicas>', 'the replica count to scale down to')
    .option('--statefulset <name>', 'the StatefulSet (its pods are <name>-<ordinal>)', 'keyval')
    .option('--force', 'remove even when the members kept would not have a live quorum')
    .action(async (replicasText: string, o: { statefulset: string; force?: boolean }, cmd: Command) => {
      if (!/^[1-9][0-9]*$/.test(replicasText)) throw new UsageError(`<replicas> must be a whole number of at least 1, got ${JSON.stringify(replicasText)}`);
      const replicas = Number(replicasText);
      const client = ctx.client(cmd);
      const members = (await listMembers(client, false)).members;
      const rows = await gatherStatus(client);
      const live = new Set(members.filter((m) => rows.some((r) => r.id === hexId(m.id) && r.role !== 'unreachable')).map((m) => m.id));
      const plan = planScaleDown(members, o.statefulset, replicas, live);
      const problem = scaleDownProblem(plan);
      if (problem !== undefined && o.force !== true) {
        throw new CommandFailedError(`refused: ${problem}; nothing was removed. Pass --force to do it anyway`);
      }
      const removed: admin.Member[] = [];
      for (const target of plan.remove) {
        try {
          await client.call('change', (endpoint, timeoutMs) => client.admin(endpoint).memberRemove({ id: target.id, force: o.force === true }, { timeoutMs }));
        } catch (error) {
          const done = removed.length === 0 ? 'nothing was removed' : `removed so far: ${removed.map((m) => m.name).join(', ')}`;
          throw new CommandFailedError(`removing ${target.name} (${hexId(target.id)}) failed (${done}): ${error instanceof Error ? error.message : String(error)}`);
        }
        removed.push(target);
      }
      const next = `kubectl scale statefulset ${o.statefulset} --replicas=${replicas}`;
      if (ctx.globals(cmd).output === 'json') {
        ctx.print(cmd, { removed: removed.map((m) => ({ id: hexId(m.id), name: m.name })), kept: plan.keep.map((m) => ({ id: hexId(m.id), name: m.name })), next }, [], []);
        return;
      }
      ctx.out(removed.length === 0 ? `No member of ${o.statefulset} has an ordinal of ${replicas} or more.\n` : `Removed ${removed.map((m) => m.name).join(', ')}.\nNow scale the StatefulSet: ${next}\n`);
    });
}
