/**
 * One member per data dir: a LOCK file holding the owner's pid, created exclusively. A lock
 * left by a process that no longer runs (a crash, kill -9) is taken over; a live owner makes
 * the second process refuse to start instead of corrupting the log.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

export class DataDirLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly ownerPid: number,
  ) {
    super(`data dir ${dataDir} is in use by another running member (pid ${ownerPid})`);
    this.name = 'DataDirLockedError';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface DataDirLock {
  release(): Promise<void>;
}

/** Takes the data dir's lock for this process. Throws DataDirLockedError. */
export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  const file = path.join(dataDir, 'LOCK');
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await fs.open(file, 'wx');
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return { release: () => fs.rm(file, { force: true }) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw error;
      }
    }
    const owner = Number.parseInt((await fs.readFile(file, 'utf8').catch(() => '')).trim(), 10);
    if (Number.isSafeInteger(owner) && owner > 0 && owner !== process.pid && alive(owner)) {
      throw new DataDirLockedError(dataDir, owner);
    }
    // A stale lock (its process is gone): remove it and try again.
    await fs.rm(file, { force: true });
  }
  throw new Error(`could not lock data dir ${dataDir}`);
}
