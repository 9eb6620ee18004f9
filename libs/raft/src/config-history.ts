/**
 * The configurations recorded in the log after the latest snapshot, so the member can always
 * say which configuration is in effect (the latest in its log, committed or not — §4.1) and
 * fall back to the previous one when a conflicting suffix is truncated away.
 */
import { decodeConfChangeEntry } from './conf-change-codec';
import { invariant } from './errors';
import type { RaftStorage } from './storage';
import { EntryType } from './types';
import type { Entry, LogIndex, MembershipConfig, SnapshotMeta } from './types';

interface ConfigAt {
  readonly index: LogIndex;
  readonly config: MembershipConfig;
}

const SCAN_PAGE_BYTES = 4 * 1024 * 1024;

export class ConfigHistory {
  private constructor(
    private base: ConfigAt,
    private readonly changes: ConfigAt[],
  ) {}

  /** Rebuilds the history from a store: the snapshot's configuration, then every ConfChange entry after it. */
  static load(storage: RaftStorage): ConfigHistory {
    const snapshot = storage.snapshotMeta();
    const history = new ConfigHistory({ index: snapshot.index, config: snapshot.config }, []);
    const last = storage.lastIndex();
    let next = storage.firstIndex();
    while (next <= last) {
      const page = storage.entries(next, (last + 1) as LogIndex, SCAN_PAGE_BYTES);
      invariant(page.length > 0, 'storage returned no entries while scanning for configurations');
      history.record(page);
      next = (next + page.length) as LogIndex;
    }
    return history;
  }

  current(): MembershipConfig {
    return (this.changes[this.changes.length - 1] ?? this.base).config;
  }

  /** Index of the entry that set the current configuration (the snapshot index for the base). */
  currentIndex(): LogIndex {
    return (this.changes[this.changes.length - 1] ?? this.base).index;
  }

  /** The configuration in effect at `index`: the latest set at or before it. */
  configAt(index: LogIndex): MembershipConfig {
    for (let k = this.changes.length - 1; k >= 0; k--) {
      const at = this.changes[k] as ConfigAt;
      if (at.index <= index) {
        return at.config;
      }
    }
    return this.base.config;
  }

  /**
   * Records entries just appended at entries[0].index (replacing anything from there on).
   * Returns true when the configuration in effect changed.
   */
  onAppend(entries: readonly Entry[]): boolean {
    const first = entries[0];
    if (first === undefined) {
      return false;
    }
    const before = this.current();
    while (this.changes.length > 0 && (this.changes[this.changes.length - 1] as ConfigAt).index >= first.index) {
      this.changes.pop();
    }
    this.record(entries);
    return this.current() !== before;
  }

  private record(entries: readonly Entry[]): void {
    for (const entry of entries) {
      if (entry.type === EntryType.ConfChange) {
        this.changes.push({ index: entry.index, config: decodeConfChangeEntry(entry.data).config });
      }
    }
  }

  /** Adopts a snapshot received from the leader: its configuration becomes the base. */
  restore(snapshot: SnapshotMeta): void {
    this.base = { index: snapshot.index, config: snapshot.config };
    this.changes.length = 0;
  }
}
