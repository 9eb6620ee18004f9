/**
 * A disk probe running beside a benchmark: a child process appends 4 KiB to a scratch file
 * and fdatasyncs it every 20 ms (its own process, so neither the load generator's event loop
 * nor the members' disturb it), and the benchmark asks what the disk did during each level's
 * window. A level whose window saw sync spikes is marked, so disk noise is not read as a
 * regression or a gain.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { LatencyRecorder } from './latency';

/** The probe, run with `node -e`: prints "<Date.now() at the start> <fdatasync ms>" per sample. */
const PROBE_SOURCE = `
const fs = require('node:fs');
const file = process.argv[1];
const everyMs = Number(process.argv[2]);
const block = Buffer.alloc(4096, 0x6b);
const fd = fs.openSync(file, 'w');
let writes = 0;
const cleanup = () => { try { fs.closeSync(fd); fs.rmSync(file, { force: true }); } catch {} process.exit(0); };
process.on('SIGTERM', cleanup);
process.stdin.on('end', cleanup).resume();
(function probe() {
  const at = Date.now();
  const started = performance.now();
  // Keep the file small: start over every 4 MiB.
  if (++writes % 1024 === 0) fs.ftruncateSync(fd, 0);
  fs.writeSync(fd, block, 0, block.length, (writes % 1024) * 4096);
  fs.fdatasyncSync(fd);
  const now = performance.now();
  process.stdout.write(at + ' ' + (now - started).toFixed(3) + '\\n');
  setTimeout(probe, Math.max(0, everyMs - (now - started)));
})();
`;

/** A sample whose fdatasync took at least this long counts as a spike. */
export const SPIKE_MS = 10;

export interface DiskWindow {
  readonly samples: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Samples of at least SPIKE_MS. */
  readonly spikes: number;
}

/** p50/p99/max and spikes of fdatasync samples (ms). Pure. */
export function summarizeSyncs(latencies: readonly number[]): DiskWindow {
  const recorder = new LatencyRecorder();
  let max = 0;
  let spikes = 0;
  for (const ms of latencies) {
    recorder.record(ms);
    max = Math.max(max, ms);
    if (ms >= SPIKE_MS) spikes++;
  }
  return { samples: latencies.length, p50Ms: recorder.quantile(0.5), p99Ms: recorder.quantile(0.99), maxMs: max, spikes };
}

/** One line for a benchmark's output. */
export function describeDiskWindow(w: DiskWindow): string {
  if (w.samples === 0) {
    return 'disk: no probe samples in this window';
  }
  const spikes = w.spikes === 0 ? '' : `  ** ${w.spikes} sync spike${w.spikes === 1 ? '' : 's'} >= ${SPIKE_MS} ms: disk noise in this level **`;
  return `disk fdatasync: p50 ${w.p50Ms.toFixed(2)}, p99 ${w.p99Ms.toFixed(2)}, max ${w.maxMs.toFixed(2)} ms (${w.samples} samples)${spikes}`;
}

export class DiskMonitor {
  private readonly samples: { atMs: number; ms: number }[] = [];
  private exited = false;

  private constructor(private readonly child: ChildProcess) {
    child.once('exit', () => (this.exited = true));
    readline.createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const [at, ms] = line.split(' ').map(Number);
      if (Number.isFinite(at) && Number.isFinite(ms)) {
        this.samples.push({ atMs: at as number, ms: ms as number });
      }
    });
  }

  /** Starts probing a scratch file in `dir` (the file system the data directories are on) every `everyMs`. */
  static start(dir: string, everyMs = 20): DiskMonitor {
    const file = path.join(dir, `.disk-monitor-${process.pid}`);
    // stdin is a pipe: the probe exits (and removes its file) when this process goes, however it goes.
    const child = spawn(process.execPath, ['-e', PROBE_SOURCE, file, String(everyMs)], { stdio: ['pipe', 'pipe', 'inherit'] });
    return new DiskMonitor(child);
  }

  /** The time (wall clock, ms: the probe runs in another process) to pass to `window`. */
  now(): number {
    return Date.now();
  }

  /** What the disk did between two `now()` readings. */
  window(fromMs: number, toMs: number): DiskWindow {
    return summarizeSyncs(this.samples.filter((s) => s.atMs >= fromMs && s.atMs <= toMs).map((s) => s.ms));
  }

  /** Stops the probe and waits for it to go. */
  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGTERM');
    await gone;
  }
}
