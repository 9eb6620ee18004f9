/**
 * History commands: `watch` (a key, a range or a prefix, from a revision, with the previous
 * values; printed as etcdctl prints events) and `compaction` (etcdctl's wording). A watch that
 * loses its member resumes on another endpoint from the revision after the last one printed,
 * so no event is printed twice or skipped.
 */
import type { Command } from 'commander';
import { createClient } from '@keyval/grpc';
import { etcd, mvcc } from '@keyval/proto';
import type { CliContext } from '../cli/cli-context';
import { parseIntFlag } from '../cli/cli-context';
import { CommandFailedError, UsageError } from '../cli/cli-errors';
import { retryable } from '../client/keyval-client';
import { kvJson, text } from './data-commands';
import { prefixEnd } from './txn-parser';

/** Most events `--max-events` accepts. */
const MAX_EVENTS = 1_000_000_000;
/** Largest revision a flag accepts (etcd's revisions are int64; this is far beyond any cluster). */
const MAX_REVISION = Number.MAX_SAFE_INTEGER;

export function registerHistoryCommands(program: Command, ctx: CliContext): void {
  program
    .command('watch')
    .description('print every change to a key, a range [key, range_end) or a prefix, as it happens (until interrupted or --max-events)')
    .argument('<key>')
    .argument('[range_end]')
    .option('--prefix', 'every key starting with <key>')
    .option('--rev <revision>', 'start at this revision (history first, then live changes)')
    .option('--prev-kv', 'also print the value before each change')
    .option('--max-events <n>', 'exit 0 after printing n events')
    .action(async (key: string, end: string | undefined, o: { prefix?: boolean; rev?: string; prevKv?: boolean; maxEvents?: string }, cmd: Command) => {
      if (key.length === 0) throw new UsageError('the key is empty');
      if (end !== undefined && o.prefix === true) throw new UsageError('give [range_end] or --prefix, not both');
      const k = Buffer.from(key, 'utf8');
      await watch(ctx, cmd, {
        key: k,
        rangeEnd: o.prefix === true ? prefixEnd(k) : end === undefined ? Buffer.alloc(0) : Buffer.from(end, 'utf8'),
        startRevision: o.rev === undefined ? 0 : parseIntFlag(o.rev, '--rev', 1, MAX_REVISION),
        prevKv: o.prevKv === true,
        maxEvents: o.maxEvents === undefined ? Infinity : parseIntFlag(o.maxEvents, '--max-events', 1, MAX_EVENTS),
      });
    });

  program
    .command('compaction')
    .alias('compact')
    .description('discard the history before <revision> (reads below it then fail as compacted)')
    .argument('<revision>')
    .option('--physical', 'wait until the compaction is done on the member that answers')
    .action(async (rev: string, o: { physical?: boolean }, cmd: Command) => {
      const revision = parseIntFlag(rev, 'revision', 1, MAX_REVISION);
      const client = ctx.client(cmd);
      await client.call('change', (e, timeoutMs) => createClient(etcd.KVDefinition, client.channel(e)).compact(etcd.CompactionRequest.fromPartial({ revision: BigInt(revision), physical: o.physical === true }), { timeoutMs }));
      if (ctx.globals(cmd).output === 'json') ctx.print(cmd, { compacted: revision }, [], []);
      else ctx.out(`compacted revision ${revision}\n`);
    });
}

interface WatchSpec {
  readonly key: Buffer;
  readonly rangeEnd: Buffer;
  /** 0: from now. */
  readonly startRevision: number;
  readonly prevKv: boolean;
  readonly maxEvents: number;
}

function eventJson(e: mvcc.Event): Record<string, unknown> {
  const kv = (x: mvcc.KeyValue | undefined): Record<string, unknown> | undefined => (x === undefined ? undefined : { ...kvJson(x), lease: x.lease.toString(16) });
  return { type: e.type === mvcc.Event_EventType.DELETE ? 'DELETE' : 'PUT', kv: kv(e.kv), prevKv: kv(e.prevKv) };
}

/** etcdctl's lines for one event: the type, the previous pair (with --prev-kv), the pair. */
function eventText(e: mvcc.Event, prevKv: boolean): string {
  const type = e.type === mvcc.Event_EventType.DELETE ? 'DELETE' : 'PUT';
  const prev = prevKv && e.prevKv !== undefined ? `${text(e.prevKv.key)}\n${text(e.prevKv.value)}\n` : '';
  return `${type}\n${prev}${text(e.kv?.key ?? Buffer.alloc(0))}\n${text(e.kv?.value ?? Buffer.alloc(0))}\n`;
}

/** A watch the cluster cancelled (compacted history, or another reason it gave). */
export class WatchCanceledError extends CommandFailedError {
  constructor(reason: string) {
    super(`watch canceled: ${reason}`);
    this.name = 'WatchCanceledError';
  }
}

async function watch(ctx: CliContext, cmd: Command, spec: WatchSpec): Promise<void> {
  const client = ctx.client(cmd);
  const json = ctx.globals(cmd).output === 'json';
  let printed = 0;
  let nextRevision = spec.startRevision;
  // Each attempt streams until the member goes away; the retry resumes after the last event
  // printed. A stream that was up starts a new round of attempts (with a new deadline).
  let streamed = false;
  for (;;) {
    let done: boolean;
    try {
      done = await attempt();
    } catch (error) {
      if (streamed && retryable('read', error)) {
        streamed = false;
        continue;
      }
      throw error;
    }
    if (done) return;
  }

  async function attempt(): Promise<boolean> {
    return client.call('read', async (endpoint) => {
      const call = createClient(etcd.WatchDefinition, client.channel(endpoint)).watch();
      try {
        await call.send(
          etcd.WatchRequest.fromPartial({ requestUnion: { $case: 'createRequest', value: { key: spec.key, rangeEnd: spec.rangeEnd, startRevision: BigInt(nextRevision), prevKv: spec.prevKv } } }),
        );
        for await (const r of call.responses) {
          if (r.canceled) {
            throw new WatchCanceledError(r.compactRevision > 0n ? `etcdserver: mvcc: required revision has been compacted (compacted to ${r.compactRevision})` : r.cancelReason || 'by the member');
          }
          if (r.created) {
            streamed = true;
            if (nextRevision === 0) nextRevision = Number(r.header?.revision ?? 0n) + 1;
          }
          for (const e of r.events) {
            ctx.out(json ? `${JSON.stringify(eventJson(e))}\n` : eventText(e, spec.prevKv));
            nextRevision = Number(e.kv?.modRevision ?? 0n) + 1;
            if (++printed >= spec.maxEvents) return true;
          }
        }
        return false;
      } finally {
        call.cancel('kvctl watch ended');
      }
    });
  }
}
