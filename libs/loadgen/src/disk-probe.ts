/**
 * How fast the disk makes a small append durable: the benchmarks print it beside every run,
 * since the machine's fdatasync latency changes from day to day and write latency follows it.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { LatencyRecorder } from './latency';

export interface DiskProbeResult {
  readonly dir: string;
  readonly samples: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

/**
 * Appends `blockBytes` to a scratch file in `dir` and fdatasyncs it, `samples` times, as a
 * WAL append does; the file is removed afterwards.
 */
export async function probeDisk(dir: string, samples = 200, blockBytes = 4096): Promise<DiskProbeResult> {
  if (!Number.isSafeInteger(samples) || samples < 1) {
    throw new Error(`the disk probe takes at least one sample, not ${samples}`);
  }
  const file = path.join(dir, `.disk-probe-${process.pid}`);
  const block = Buffer.alloc(blockBytes, 0x6b);
  const latency = new LatencyRecorder();
  let max = 0;
  const handle = await fs.open(file, 'w');
  try {
    for (let i = 0; i < samples; i++) {
      const started = performance.now();
      await handle.write(block);
      await handle.datasync();
      const ms = performance.now() - started;
      latency.record(ms);
      max = Math.max(max, ms);
    }
  } finally {
    await handle.close();
    await fs.rm(file, { force: true });
  }
  return { dir, samples, p50Ms: latency.quantile(0.5), p99Ms: latency.quantile(0.99), maxMs: max };
}

/** One line for a benchmark's header. */
export function describeDisk(r: DiskProbeResult): string {
  return `disk: ${r.samples} appends of 4 KiB + fdatasync in ${r.dir}: p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms, max ${r.maxMs.toFixed(2)} ms`;
}
