/**
 * Property test (STYLE.md layer 3): the RocksDB state machine against the in-memory one over
 * random command sequences: random writes and txns, client sessions with retries, stale and
 * skipped sequence numbers, log time moving (sessions expiring, being evicted), apply batches
 * of random sizes, a record cache small enough to evict, reopening the RocksDB machine, and
 * snapshots restored into both, compactions, and reads at past revisions (with sorting and
 * filters, alone and inside txns). After every step the results, the data, the history, the
 * sessions and the metadata must be identical.
 */
import fc from 'fast-check';
import * as path from 'node:path';
import type { ApplyResult, ClientId, WriteRequest } from '../command-types';
import type { StateMachineLimits } from '../limits';
import { MemoryStateMachine } from '../memory/memory-state-machine';
import type { StateMachine } from '../state-machine';
import { arbRange, arbWriteWeighted } from '../testing/arbitraries.test';
import { dump, rangeText } from '../testing/conformance-harness.test';
import { LogBuilder, removeDir, tempDir } from '../testing/log-builder.test';
import { RocksStateMachine } from './rocks-state-machine';

// A record cache of a few entries: apply meets hits, misses and evictions (RecordCache).
// Compaction steps of a few writes: a step boundary falls anywhere.
const LIMITS: Partial<StateMachineLimits> = { maxSessions: 2, sessionTtlMs: 60, maxRememberedResponseBytes: 160, maxApplyBatchEntries: 4, recordCacheBytes: 600, compactionStepWrites: 3 };
const CLIENTS: ClientId[] = ['alice', 'bob', 7n];

type SeqIntent = 'next' | 'retry' | 'stale' | 'skip';
interface Step {
  readonly kind: 'apply' | 'reopen' | 'snapshot' | 'read';
  readonly commands: ReadonlyArray<{ op: WriteRequest; client: number; intent: SeqIntent | 'none'; advanceMs: number }>;
}

// Mostly puts, so keys live long enough to reach high versions between deletes.
const arbCommandStep = fc.record({
  op: arbWriteWeighted({ put: 10, deleteRange: 1, txn: 3, compact: 1, lease: 2, noop: 1 }),
  client: fc.nat(CLIENTS.length - 1),
  intent: fc.constantFrom<SeqIntent | 'none'>('none', 'none', 'next', 'next', 'retry', 'stale', 'skip'),
  advanceMs: fc.constantFrom(0, 0, 1, 5, 30, 70),
});

const arbStep: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.array(arbCommandStep, { minLength: 1, maxLength: 16 }).map((commands) => ({ kind: 'apply' as const, commands })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const, commands: [] }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'snapshot' as const, commands: [] }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'read' as const, commands: [] }) },
);

/** Results as plain data (errors by class and message). */
function plain(results: readonly ApplyResult[]): unknown {
  return results.map((r) => (r.kind === 'rejected' ? { ...r, error: `${r.error.name}: ${r.error.message}` } : r));
}

/** Every revision's full key space the history still holds (from the compacted revision on). */
async function history(sm: StateMachine): Promise<unknown[]> {
  const out: unknown[] = [];
  for (let revision = Math.max(1, sm.compactRevision()); revision <= sm.revision(); revision++) {
    out.push(rangeText(await sm.range({ key: Uint8Array.of(0), rangeEnd: Uint8Array.of(0), revision })));
  }
  return out;
}

async function observe(sm: StateMachine): Promise<unknown> {
  return {
    data: await dump(sm),
    history: await history(sm),
    applied: sm.appliedIndex(),
    revision: sm.revision(),
    compactRevision: sm.compactRevision(),
    logTimeMs: sm.logTimeMs(),
    sessions: sm.sessions(),
    membership: sm.membership(),
    leases: sm.leases().map((lease) => sm.lease(lease.id)),
    // etcd's Hash and HashKV: equal states hash equal, whatever the implementation.
    hash: await sm.hashStore(),
    hashKv: await sm.hashKv(0),
  };
}

/** A range's outcome as plain data: the response, or the error's class. */
async function rangeOutcome(sm: StateMachine, request: Parameters<StateMachine['range']>[0]): Promise<unknown> {
  try {
    return rangeText(await sm.range(request));
  } catch (error) {
    return (error as Error).name;
  }
}

class Run {
  private readonly log = new LogBuilder();
  private readonly lastSeq = new Map<number, number>();

  constructor(
    private memory: StateMachine,
    private rocks: StateMachine,
    private readonly root: string,
  ) {}

  async step(step: Step): Promise<void> {
    switch (step.kind) {
      case 'apply': {
        const entries = step.commands.map((command) => {
          this.log.timeMs += command.advanceMs;
          return this.log.command(command.op, command.op.type === 'noop' || command.op.type === 'leaseCheckpoint' ? undefined : this.session(command.client, command.intent));
        });
        expect(plain(await this.rocks.apply(entries))).toEqual(plain(await this.memory.apply(entries)));
        break;
      }
      case 'reopen':
        await this.rocks.close();
        this.rocks = await RocksStateMachine.open({ dataDir: path.join(this.root, 'rocks'), limits: LIMITS });
        break;
      case 'snapshot': {
        // Snapshots hold the history as compacted, whatever the physical compaction did yet.
        const fromRocks = await this.rocks.createSnapshot();
        const fromMemory = await this.memory.createSnapshot();
        expect(fromRocks.sizeBytes).toBe(fromMemory.sizeBytes);
        // Cross over: each implementation restores the other's file.
        await this.rocks.restore(fromMemory.path);
        await this.memory.restore(fromRocks.path);
        break;
      }
      case 'read': // only the comparisons below
        break;
    }
    expect(await observe(this.rocks)).toEqual(await observe(this.memory));
  }

  async compareRange(request: Parameters<StateMachine['range']>[0]): Promise<void> {
    expect(await rangeOutcome(this.rocks, request)).toEqual(await rangeOutcome(this.memory, request));
  }

  private session(client: number, intent: SeqIntent | 'none'): { clientId: ClientId; seq: number } | undefined {
    if (intent === 'none') {
      return undefined;
    }
    const last = this.lastSeq.get(client) ?? 0;
    const seq = intent === 'next' ? last + 1 : intent === 'retry' ? Math.max(1, last) : intent === 'stale' ? Math.max(1, last - 1) : last + 3;
    this.lastSeq.set(client, Math.max(last, seq));
    return { clientId: CLIENTS[client] as ClientId, seq };
  }

  async close(): Promise<void> {
    await this.rocks.close();
    await this.memory.close();
  }
}

describe('RocksStateMachine vs MemoryStateMachine', () => {
  it('agree on every result, range, session and metadata over random command sequences', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(arbStep, { minLength: 1, maxLength: 10 }), fc.array(arbRange, { minLength: 1, maxLength: 3 }), async (steps, ranges) => {
        const root = await tempDir('prop');
        const memory = await MemoryStateMachine.create({ snapshotDir: path.join(root, 'memory-snapshots'), limits: LIMITS });
        const rocks = await RocksStateMachine.open({ dataDir: path.join(root, 'rocks'), limits: LIMITS });
        const run = new Run(memory, rocks, root);
        try {
          for (const step of steps) {
            await run.step(step);
            for (const request of ranges) {
              await run.compareRange(request);
            }
          }
        } finally {
          await run.close();
          await removeDir(root);
        }
      }),
      { numRuns: 40 },
    );
  }, 120_000);
});
