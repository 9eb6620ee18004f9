/**
 * Helpers that inspect and damage WAL files on disk (for tests only).
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { StorageLogger } from '../log-store';
import { checkFrame } from '../wal/record-codec';
import { SEGMENT_HEADER_BYTES } from '../wal/segment-format';

/** Offsets of the whole records of a segment file. */
export async function recordOffsets(file: string): Promise<number[]> {
  const bytes = await fsp.readFile(file);
  const offsets: number[] = [];
  for (let offset = SEGMENT_HEADER_BYTES; offset < bytes.byteLength; ) {
    const frame = checkFrame(bytes, offset, bytes.byteLength);
    if (!frame.ok) {
      break;
    }
    offsets.push(offset);
    offset += frame.frameBytes;
  }
  return offsets;
}

export async function segmentFiles(dir: string): Promise<string[]> {
  return (await fsp.readdir(path.join(dir, 'wal'))).filter((name) => name.endsWith('.wal')).map((name) => path.join(dir, 'wal', name));
}

export async function flipByte(file: string, offset: number): Promise<void> {
  const handle = await fsp.open(file, 'r+');
  const byte = Buffer.alloc(1);
  await handle.read(byte, 0, 1, offset);
  byte[0] = (byte[0] as number) ^ 0x5a;
  await handle.write(byte, 0, 1, offset);
  await handle.close();
}

/** A logger that keeps what it is told. */
export function recordingLogger(): StorageLogger & { lines: { level: string; message: string; fields?: Record<string, unknown> }[] } {
  const lines: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) => lines.push({ level, message, fields });
  return { lines, info: at('info'), warn: at('warn'), error: at('error') };
}
