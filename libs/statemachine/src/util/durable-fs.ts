/**
 * File-system steps for durable replacement: write to a temporary name, fsync the file, rename
 * over the final name, fsync the directory (so the rename itself survives a power loss).
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

/** fsyncs a directory so entries created, renamed or removed in it are durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Replaces `file` with `data` atomically and durably (tmp, fsync, rename, fsync dir). */
export async function writeFileDurably(file: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${file}.tmp`;
  const handle = await fs.open(tmp, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.rename(tmp, file);
  await fsyncDir(path.dirname(file));
}

/** Removes a file or directory tree if it exists. */
export async function removePath(target: string): Promise<void> {
  await fs.rm(target, { recursive: true, force: true });
}

/** True when the path exists. */
export async function pathExists(target: string): Promise<boolean> {
  try {
    await fs.access(target);
    return true;
  } catch {
    return false;
  }
}
