/**
 * One chaos run at a time per machine: the namespaces, the subnet and the work root have
 * fixed names. The lock is a file holding the owner's pid; a lock whose owner is gone (a
 * crashed run) is taken over, and the caller then removes that run's leftovers.
 */
import * as fs from 'node:fs';
import { ChaosBusyError } from './chaos.errors';
import { delay } from './command';

/** The lock file (outside the work root, which teardown deletes). */
export const LOCK_FILE = '/tmp/kvchaos.lock';

/** A lock: its file, and a word the owner's command line contains (to tell a recycled pid). */
export interface LockSpec {
  readonly file: string;
  readonly ownerMarker: string;
}
export const CHAOS_LOCK: LockSpec = { file: LOCK_FILE, ownerMarker: 'chaos' };

function ownerAlive(pid: number, marker: string): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A recycled pid belongs to some other program: only a chaos run counts as an owner.
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker);
  } catch {
    return false;
  }
}

function tryTake(spec: LockSpec): boolean {
  try {
    fs.writeFileSync(spec.file, `${process.pid}\n`, { flag: 'wx' });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const owner = Number(fs.readFileSync(spec.file, 'utf8').trim());
  if (owner === process.pid) return true;
  if (ownerAlive(owner, spec.ownerMarker)) return false;
  fs.rmSync(spec.file, { force: true });
  return false;
}

/**
 * Takes the lock, waiting up to `waitSeconds` for a live owner to finish.
 * @throws ChaosBusyError when a live run still holds it at the end of the wait
 */
export async function acquireChaosLock(waitSeconds: number, log: (line: string) => void, spec: LockSpec = CHAOS_LOCK): Promise<void> {
  const deadline = Date.now() + waitSeconds * 1000;
  let told = false;
  for (;;) {
    if (tryTake(spec)) return;
    if (fs.existsSync(spec.file)) {
      if (Date.now() >= deadline) {
        throw new ChaosBusyError(`another chaos run (pid ${fs.readFileSync(spec.file, 'utf8').trim()}) holds ${spec.file}`);
      }
      if (!told) {
        log(`chaos: waiting for the run holding ${spec.file} to finish (up to ${waitSeconds} s)`);
        told = true;
      }
      await delay(1000);
    }
  }
}

/** Releases the lock if this process holds it. */
export function releaseChaosLock(spec: LockSpec = CHAOS_LOCK): void {
  try {
    if (Number(fs.readFileSync(spec.file, 'utf8').trim()) === process.pid) fs.rmSync(spec.file, { force: true });
  } catch {
    // not held
  }
}
