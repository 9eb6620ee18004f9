/**
 * CPU time of other processes (the members a benchmark started), read from Linux's
 * `/proc/<pid>/stat`, so a benchmark can print the CPU each process spent per operation.
 */
import { promises as fs } from 'node:fs';

/**
 * Clock ticks per second of `/proc/<pid>/stat` times (USER_HZ). Linux reports them in units
 * of 1/100 s on every architecture it exposes to user space (the kernel converts from its own HZ).
 */
export const USER_HZ = 100;

/** User and system CPU seconds in one `/proc/<pid>/stat` line. Throws on a line it cannot read. */
export function parseProcStat(line: string): { userSeconds: number; systemSeconds: number } {
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses; fields resume after the last ')'.
  const close = line.lastIndexOf(')');
  const fields = close < 0 ? [] : line.slice(close + 2).trim().split(/\s+/);
  // fields[0] is field 3 (state), so utime (field 14) is fields[11] and stime (15) fields[12].
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (fields.length < 13 || !Number.isSafeInteger(utime) || !Number.isSafeInteger(stime)) {
    throw new Error(`not a /proc/<pid>/stat line: ${JSON.stringify(line.slice(0, 80))}`);
  }
  return { userSeconds: utime / USER_HZ, systemSeconds: stime / USER_HZ };
}

/** CPU seconds (user + system) process `pid` has used so far; undefined once it is gone or without /proc. */
export async function processCpuSeconds(pid: number): Promise<number | undefined> {
  let line: string;
  try {
    line = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const { userSeconds, systemSeconds } = parseProcStat(line);
  return userSeconds + systemSeconds;
}

/** A named process to account for. */
export interface WatchedProcess {
  readonly name: string;
  readonly pid: number;
}

/** CPU each process spent between `start()` and the `stop()` of the returned handle. */
export async function startCpuWindow(processes: readonly WatchedProcess[]): Promise<{ stop(): Promise<Map<string, number>> }> {
  const before = await Promise.all(processes.map((p) => processCpuSeconds(p.pid)));
  const self = process.cpuUsage();
  return {
    stop: async () => {
      const after = await Promise.all(processes.map((p) => processCpuSeconds(p.pid)));
      const spent = new Map<string, number>();
      processes.forEach((p, i) => {
        const a = before[i];
        const b = after[i];
        if (a !== undefined && b !== undefined) {
          spent.set(p.name, b - a);
        }
      });
      const used = process.cpuUsage(self);
      spent.set('load generator', (used.user + used.system) / 1e6);
      return spent;
    },
  };
}
