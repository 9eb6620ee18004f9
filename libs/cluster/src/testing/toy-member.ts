/**
 * A toy member for driver tests: a RaftDriver over an in-memory log store, a Map state
 * machine (payload: JSON {key, value}) and in-memory snapshots, on a MemoryNetwork.
 */
import type { Tracer } from '@opentelemetry/api';
import type { DriverObserver } from '../member/member-observer';
import { EntryType, SeededRandom, bootstrapEntries, decodeConfChangeEntry } from '@keyval/raft';
import type { Entry, LogIndex, MembershipConfig, NodeId, SnapshotMeta, Term } from '@keyval/raft';
import { MemoryLogStore } from '@keyval/storage';
import { RaftDriver } from '../driver/raft-driver';
import type { DriverSnapshots, DriverStateMachine } from '../driver/raft-driver';
import type { MemoryNetwork } from '../transport/memory-transport';
import type { SnapshotChunkIn, SnapshotOffer, SnapshotSource } from '../transport/transport';
import type { Scheduler } from '../driver/clock';

export class ToyStateMachine implements DriverStateMachine<string | null> {
  data = new Map<string, string>();
  applied = 0 as LogIndex;
  appliedTerm = 0 as Term;
  config: MembershipConfig = { voters: [], learners: [] };

  appliedIndex(): LogIndex {
    return this.applied;
  }

  async apply(entries: readonly Entry[]): Promise<(string | null)[]> {
    return entries.map((e) => {
      this.applied = e.index;
      this.appliedTerm = e.term;
      if (e.type === EntryType.ConfChange) {
        this.config = decodeConfChangeEntry(e.data).config;
        return null;
      }
      if (e.data.byteLength === 0) {
        return null;
      }
      const { key, value } = JSON.parse(new TextDecoder().decode(e.data)) as { key: string; value: string };
      const previous = this.data.get(key) ?? null;
      this.data.set(key, value);
      return previous;
    });
  }
}

/** Snapshots kept in memory, "durable" for the member's lifetime. */
export class ToySnapshots implements DriverSnapshots {
  private readonly stored = new Map<number, { meta: SnapshotMeta; data: Buffer }>();
  private newest: SnapshotMeta | undefined;

  constructor(private readonly sm: ToyStateMachine) {}

  latest(): SnapshotMeta | undefined {
    return this.newest;
  }

  async open(meta: SnapshotMeta): Promise<SnapshotSource> {
    const data = this.stored.get(meta.index)!.data;
    return {
      totalBytes: data.length,
      crc32c: 0,
      async *chunks() {
        for (let at = 0; at < data.length; at += 1024) yield data.subarray(at, at + 1024);
      },
    };
  }

  async receive(offer: SnapshotOffer, chunks: AsyncIterable<SnapshotChunkIn>): Promise<void> {
    const parts: Buffer[] = [];
    for await (const c of chunks) parts.push(Buffer.from(c.data));
    this.stored.set(offer.meta.index, { meta: offer.meta, data: Buffer.concat(parts) });
  }

  async restore(meta: SnapshotMeta): Promise<void> {
    const { data } = this.stored.get(meta.index)!;
    this.sm.data = new Map(JSON.parse(data.toString()) as [string, string][]);
    this.sm.applied = meta.index;
    this.sm.appliedTerm = meta.term;
    this.sm.config = meta.config;
    this.newest = meta;
  }

  async create(): Promise<SnapshotMeta> {
    const meta: SnapshotMeta = { index: this.sm.applied, term: this.sm.appliedTerm, config: this.sm.config };
    this.stored.set(meta.index, { meta, data: Buffer.from(JSON.stringify([...this.sm.data])) });
    this.newest = meta;
    return meta;
  }
}

export interface ToyMember {
  readonly id: NodeId;
  readonly driver: RaftDriver<string | null>;
  readonly sm: ToyStateMachine;
  readonly store: MemoryLogStore;
  readonly fatal: Error[];
}

export async function startToyMember(network: MemoryNetwork, id: NodeId, peers: readonly NodeId[], options: { snapshotEveryEntries?: number; trailing?: number; bootstrap?: boolean; observer?: DriverObserver; tracer?: Tracer; scheduler?: Scheduler } = {}): Promise<ToyMember> {
  const store = new MemoryLogStore();
  if (options.bootstrap !== false) {
    const boot = bootstrapEntries(peers);
    await store.save({ entries: boot.entries, hardState: boot.hardState });
  }
  const sm = new ToyStateMachine();
  const fatal: Error[] = [];
  const receiver = { driver: undefined as RaftDriver<string | null> | undefined };
  const transport = network.transport(id, { deliver: (m) => receiver.driver!.deliver(m), receiveSnapshot: (o, c, p) => receiver.driver!.receiveSnapshot(o, c, p) });
  for (const peer of peers) transport.setPeer(peer, 'memory');
  const driver = new RaftDriver<string | null>({
    // A member's production settings (pre-vote, check-quorum), with an election timeout of
    // 200-400 ms: long enough that a loaded test machine does not depose leaders mid-test.
    raft: { id, electionTimeoutTicks: 20, heartbeatTicks: 2, preVote: true, checkQuorum: true, random: new SeededRandom(Number(id)) },
    tickMs: 10,
    logStore: store,
    stateMachine: sm,
    snapshots: new ToySnapshots(sm),
    transport,
    snapshotEveryEntries: options.snapshotEveryEntries ?? 0,
    compactionTrailingEntries: options.trailing ?? 5,
    onFatal: (e) => fatal.push(e),
    observer: options.observer,
    tracer: options.tracer,
    scheduler: options.scheduler,
  });
  receiver.driver = driver;
  await driver.start();
  return { id, driver, sm, store, fatal };
}

export function put(key: string, value: string): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ key, value }));
}

export async function waitUntil(what: string, condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}
