/**
 * The state machine's data directory. The live RocksDB database is `db-<generation>`, and the
 * file GENERATION names it; a restore builds `db-<generation + 1>` beside it and switches by
 * replacing GENERATION durably (tmp, fsync, rename, fsync dir): that rename is the commit
 * point. Opening removes every other `db-*` directory, so a crash at any step leaves either
 * the old database or the new one, never a mix.
 *
 *     <dataDir>/GENERATION       "3\n"
 *     <dataDir>/db-3/            the live RocksDB database
 *     <dataDir>/db-4/            (a restore in progress, or its leftovers)
 *     <dataDir>/snapshots/       snapshot files
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { StorageCorruptError } from '../errors';
import { fsyncDir, pathExists, removePath, writeFileDurably } from '../util/durable-fs';

const GENERATION_FILE = 'GENERATION';
const DB_DIR = /^db-(\d+)$/;

export function databasePath(dataDir: string, generation: number): string {
  return path.join(dataDir, `db-${generation}`);
}

export function snapshotsPath(dataDir: string): string {
  return path.join(dataDir, 'snapshots');
}

/** Reads the live generation (creating the directory and generation 1 when new) and clears leftovers. */
export async function openDataDir(dataDir: string): Promise<number> {
  await fs.mkdir(dataDir, { recursive: true });
  const file = path.join(dataDir, GENERATION_FILE);
  let generation: number;
  if (await pathExists(file)) {
    const text = await fs.readFile(file, 'utf8');
    if (!/^\d+\n$/.test(text)) {
      throw new StorageCorruptError(file, `not a generation number: ${JSON.stringify(text.slice(0, 40))}`);
    }
    generation = Number(text.trim());
  } else {
    generation = 1;
    await writeFileDurably(file, `${generation}\n`);
  }
  let removed = false;
  for (const name of await fs.readdir(dataDir)) {
    const match = DB_DIR.exec(name);
    if ((match !== null && Number(match[1]) !== generation) || name === `${GENERATION_FILE}.tmp`) {
      await removePath(path.join(dataDir, name));
      removed = true;
    }
  }
  if (removed) {
    await fsyncDir(dataDir);
  }
  return generation;
}

/** Makes `generation` the live database: the commit point of a restore. */
export async function commitGeneration(dataDir: string, generation: number): Promise<void> {
  await writeFileDurably(path.join(dataDir, GENERATION_FILE), `${generation}\n`);
}
