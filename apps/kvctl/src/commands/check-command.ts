/**
 * `kvctl check [hashkv]`: compares every member's key space at one revision (etcd's HashKV,
 * as etcd's corruption check does) and exits 1 naming the member(s) that diverge.
 *
 *     revision R ── given (--rev) or the cluster's current one (a linearizable read)
 *     every member ── Maintenance.HashKV(R) ── a member not yet at R ("future revision") or
 *                     not yet at the others' compacted revision is asked again until --timeout
 *     equal hashes at equal compacted revisions ─▶ exit 0; otherwise the members whose hash
 *     differs from the majority's are named ─▶ exit 1 (also when a member cannot be checked)
 */
import type { Command } from 'commander';
import { GrpcStatus, GrpcStatusError, createClient } from '@keyval/grpc';
import { etcd } from '@keyval/proto';
import type { KeyvalClient } from '../client/keyval-client';
import { normalizeEndpoint } from '../client/endpoints';
import type { CliContext } from '../cli/cli-context';
import { CommandFailedError, UsageError, describeError } from '../cli/cli-errors';
import { hexId } from '../output/format';
import { listMembers } from './cluster-status';

/** Pause between asking a member that is behind again, ms. */
const BEHIND_RETRY_MS = 100;

export interface HashKvRow {
  readonly name: string;
  readonly id: string;
  readonly endpoint: string | undefined;
  readonly revision: number;
  readonly hash?: number;
  readonly compactRevision?: number;
  /** Why the member could not be checked. */
  readonly error?: string;
  /** Its hash differs from the majority's. */
  readonly divergent: boolean;
}

export function registerCheckCommand(program: Command, ctx: CliContext): void {
  const check = program
    .command('check')
    .description('check the cluster’s consistency (default: hashkv)')
    .option('--rev <revision>', 'for hashkv: the revision to compare at (default: the current one)')
    .action((o: { rev?: string }, cmd: Command) => runHashKv(ctx, cmd, o.rev));
  check
    .command('hashkv')
    .description('compare every member’s hash of the key space at one revision (etcd’s HashKV); exits 1 naming a member that diverges or cannot be checked')
    .option('--rev <revision>', 'the revision to compare at (default: the current one)')
    .action((o: { rev?: string }, cmd: Command) => runHashKv(ctx, cmd, o.rev ?? (cmd.parent?.opts() as { rev?: string } | undefined)?.rev));
}

function parseRevision(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[1-9][0-9]{0,15}$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new UsageError(`--rev must be a positive whole number, got ${JSON.stringify(text)}`);
  }
  return Number(text);
}

async function runHashKv(ctx: CliContext, cmd: Command, revText: string | undefined): Promise<void> {
  const requested = parseRevision(revText);
  const client = ctx.client(cmd);
  const rows = await compareHashKv(client, requested);
  ctx.print(
    cmd,
    rows,
    ['NAME', 'ID', 'ENDPOINT', 'REVISION', 'COMPACTED', 'HASH', 'RESULT'],
    rows.map((r) => [
      r.name,
      r.id,
      r.endpoint ?? '-',
      String(r.revision),
      r.compactRevision === undefined ? '-' : String(r.compactRevision),
      r.hash === undefined ? '-' : String(r.hash),
      r.error ?? (r.divergent ? 'DIVERGES' : 'ok'),
    ]),
  );
  const failure = hashKvFailure(rows);
  if (failure !== undefined) throw new CommandFailedError(failure);
}

/** Every member's HashKV at `requested` (or the current revision), with the divergent ones marked. */
export async function compareHashKv(client: KeyvalClient, requested: number | undefined): Promise<HashKvRow[]> {
  const list = await listMembers(client, true);
  const revision = requested ?? Number((await client.range(etcd.RangeRequest.fromPartial({ key: Buffer.of(0) }))).header?.revision ?? 0n);
  const deadline = Date.now() + client.options.timeoutMs;
  const members = list.members.map((m) => {
    const url = m.clientUrls[0];
    return {
      name: m.name,
      id: hexId(m.id),
      endpoint: url === undefined ? undefined : normalizeEndpoint(url),
    };
  });
  let answers = await Promise.all(
    members.map((m) => (m.endpoint === undefined ? Promise.resolve(new Error('not started (no client URL published yet)')) : hashKvAt(client, m.endpoint, revision, deadline))),
  );
  // A member behind the others on compaction hashes history they no longer hold: ask it
  // again once it caught up (each member applies the same compaction at the same point).
  for (;;) {
    const compacted = answers.filter((a): a is etcd.HashKVResponse => !(a instanceof Error)).map((a) => Number(a.compactRevision));
    const highest = Math.max(...compacted);
    const behind = answers.map((a, k) => (!(a instanceof Error) && Number(a.compactRevision) < highest ? k : -1)).filter((k) => k >= 0);
    if (behind.length === 0 || Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, BEHIND_RETRY_MS));
    const again = await Promise.all(behind.map((k) => hashKvAt(client, members[k]?.endpoint as string, revision, deadline)));
    answers = answers.map((a, k) => {
      const at = behind.indexOf(k);
      return at < 0 ? a : (again[at] as etcd.HashKVResponse | Error);
    });
  }
  const hashes = answers.filter((a): a is etcd.HashKVResponse => !(a instanceof Error)).map((a) => `${a.hash}/${a.compactRevision}`);
  const majority = mostCommon(hashes);
  return members.map((m, k): HashKvRow => {
    const answer = answers[k] as etcd.HashKVResponse | Error;
    if (answer instanceof Error) return { ...m, revision, error: answer.message, divergent: false };
    return {
      ...m,
      revision,
      hash: answer.hash,
      compactRevision: Number(answer.compactRevision),
      divergent: `${answer.hash}/${answer.compactRevision}` !== majority,
    };
  });
}

/** One member's HashKV at `revision`, asked again while it has not applied that far (until `deadline`). */
async function hashKvAt(client: KeyvalClient, endpoint: string, revision: number, deadline: number): Promise<etcd.HashKVResponse | Error> {
  const maintenance = createClient(etcd.MaintenanceDefinition, client.channel(endpoint));
  for (;;) {
    try {
      return await maintenance.hashKV({ revision: BigInt(revision) }, { timeoutMs: Math.max(1, deadline - Date.now()) });
    } catch (error) {
      const behind = error instanceof GrpcStatusError && error.code === GrpcStatus.OUT_OF_RANGE && error.details.includes('future revision');
      if (!behind || Date.now() + BEHIND_RETRY_MS >= deadline) {
        return new Error(behind ? `has not applied revision ${revision} yet` : describeError(error));
      }
      await new Promise((resolve) => setTimeout(resolve, BEHIND_RETRY_MS));
    }
  }
}

function mostCommon(values: readonly string[]): string | undefined {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best: string | undefined;
  let bestCount = 0;
  for (const [v, n] of counts) {
    if (n > bestCount) {
      best = v;
      bestCount = n;
    }
  }
  return best;
}

/** Why the check fails (naming the members), or undefined when every member agrees. */
export function hashKvFailure(rows: readonly HashKvRow[]): string | undefined {
  const revision = rows[0]?.revision ?? 0;
  const divergent = rows.filter((r) => r.divergent);
  if (divergent.length > 0) {
    const agreed = rows.find((r) => !r.divergent && r.hash !== undefined);
    const others = agreed === undefined ? '' : ` (the others: ${agreed.hash} compacted at ${agreed.compactRevision})`;
    return `the key space at revision ${revision} diverges on ${divergent.map((r) => `member ${r.name} (${r.id}): hash ${r.hash} compacted at ${r.compactRevision}`).join('; ')}${others}`;
  }
  const unchecked = rows.filter((r) => r.error !== undefined);
  if (unchecked.length > 0) {
    return `could not check ${unchecked.map((r) => `member ${r.name} (${r.id}): ${r.error}`).join('; ')}`;
  }
  return undefined;
}
