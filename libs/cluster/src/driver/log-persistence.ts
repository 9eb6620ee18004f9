/**
 * Makes a Ready's entries and hard state durable. A full disk is not fatal: writes wait for
 * space (with back-off) and nothing acknowledged is lost; every other storage error is.
 *
 *     Ready ─▶ only the commit index moved? ── yes ─▶ save lazily (no fsync, not awaited, §5.3)
 *                     │ no
 *                     ▼
 *              save (fsync if mustSync) ── DiskFullError ─▶ fail waiting proposals once,
 *                     ▲                                      wait 50 ms … 1 s, try again
 *                     └──────────────────────────────────────┘
 */
import type { Ready } from '@keyval/raft';
import { DiskFullError } from '@keyval/storage';
import type { LogStore } from '@keyval/storage';
import { sleep } from './clock';
import type { Clock } from './clock';
import type { DriverLogger } from './driver-options';
import { ResourceExhaustedError } from './driver.errors';

export interface PersistenceHost {
  readonly logStore: LogStore;
  readonly clock: Clock;
  readonly logger: DriverLogger;
  /** The member's stop reason, once it stopped. */
  stopped(): Error | undefined;
  /** Fails every waiting proposal (the disk is full: the client should retry). */
  failProposals(error: Error): void;
  /** A fatal error (a storage failure): the member must stop. */
  fatal(error: Error): void;
}

/** Back-off before write attempt `attempt + 1` on a full disk, ms. */
function diskFullBackoffMs(attempt: number): number {
  return Math.min(1_000, 50 * 2 ** Math.min(attempt, 5));
}

/** Persists `ready`'s entries and hard state; on a full disk, waits for space (nothing is lost). */
export async function persistReady(host: PersistenceHost, ready: Ready): Promise<void> {
  const update = { entries: ready.entries, hardState: ready.hardState };
  if (ready.entries.length === 0 && !ready.mustSync) {
    // Only the commit index moved: it is persisted lazily (losing it is safe, §5.3), so do
    // not hold the Ready loop for the write. Writes stay in call order in the store.
    host.logStore.save(update, { sync: false }).catch((error: unknown) => {
      if (!(error instanceof DiskFullError)) {
        host.fatal(error instanceof Error ? error : new Error(String(error)));
      }
    });
    return;
  }
  for (let attempt = 0; ; attempt++) {
    try {
      await host.logStore.save(update, { sync: ready.mustSync });
      return;
    } catch (error) {
      if (!(error instanceof DiskFullError)) {
        throw error;
      }
      if (attempt === 0) {
        host.logger.error('disk full: writes refused until space returns', { error: error.message });
        host.failProposals(new ResourceExhaustedError('disk space (the write may or may not have been applied; retrying with the same client id and sequence is safe)', 'maybe-applied'));
      }
      await sleep(host.clock, diskFullBackoffMs(attempt));
      const stopped = host.stopped();
      if (stopped !== undefined) {
        throw stopped;
      }
    }
  }
}
