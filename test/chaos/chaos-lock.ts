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

function ownerAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A recycled pid belongs to some other program: only a chaos run counts as an owner.
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('chaos');
  } catch {
    return false;
  }
}

function tryTake(): boolean {
  try {
    fs.writeFileSync(LOCK_FILE, `${process.pid}\n`, { flag: 'wx' });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const owner = Number(fs.readFileSync(LOCK_FILE, 'utf8').trim());
  if (owner === process.pid) return true;
  if (ownerAlive(owner)) return false;
  fs.rmSync(LOCK_FILE, { force: true });
  return false;
}

/**
 * Takes the lock, waiting up to `waitSeconds` for a live owner to finish.
 * @throws ChaosBusyError when a live run still holds it at the end of the wait
 */
export async function acquireChaosLock(waitSeconds: number, log: (line: string) => void): Promise<void> {
  const deadline = Date.now() + waitSeconds * 1000;
  let told = false;
  for (;;) {
    if (tryTake()) return;
    if (fs.existsSync(LOCK_FILE)) {
      if (Date.now() >= deadline) {
        throw new ChaosBusyError(`another chaos run (pid ${fs.readFileSync(LOCK_FILE, 'utf8').trim()}) holds ${LOCK_FILE}`);
      }
      if (!told) {
        log(`chaos: waiting for the run holding ${LOCK_FILE} to finish (up to ${waitSeconds} s)`);
        told = true;
      }
      await delay(1000);
    }
  }
}

/** Releases the lock if this process holds it. */
export function releaseChaosLock(): void {
  try {
    if (Number(fs.readFileSync(LOCK_FILE, 'utf8').trim()) === process.pid) fs.rmSync(LOCK_FILE, { force: true });
  } catch {
    // not held
  }
}
