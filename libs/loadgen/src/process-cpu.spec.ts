import { spawn } from 'node:child_process';
import * as os from 'node:os';
import { describeDisk, probeDisk } from './disk-probe';
import { parseProcStat, processCpuSeconds, startCpuWindow, USER_HZ } from './process-cpu';

describe('parseProcStat', () => {
  it('reads utime and stime after a command name with spaces and parentheses', () => {
    const line = '4242 (node (weird) name) S 1 4242 4242 0 -1 4194560 3000 0 0 0 250 75 0 0 20 0 11 0 100 1000000 5000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0';
    expect(parseProcStat(line)).toEqual({ userSeconds: 250 / USER_HZ, systemSeconds: 75 / USER_HZ });
  });

  it('refuses a line that is not one', () => {
    expect(() => parseProcStat('nonsense')).toThrow(/not a \/proc\/<pid>\/stat line/);
    expect(() => parseProcStat('1 (x) S 1 2')).toThrow(/not a \/proc\/<pid>\/stat line/);
  });
});

describe('process CPU accounting', () => {
  it('sees a child that burns 300 ms of CPU spend that much, and an idle one next to none', async () => {
    // The busy child waits for "go", burns 300 ms of its own CPU time (not wall time: the
    // machine may be loaded), says "done" and waits to be killed.
    const burn = `process.stdin.once('data', () => { const t = process.cpuUsage(); while ((process.cpuUsage(t).user + process.cpuUsage(t).system) < 300000) {} process.stdout.write('done'); }); process.stdout.write('ready');`;
    const busy = spawn(process.execPath, ['-e', burn], { stdio: ['pipe', 'pipe', 'inherit'] });
    const idle = spawn(process.execPath, ['-e', "setTimeout(() => {}, 60000); process.stdout.write('ready')"], { stdio: ['ignore', 'pipe', 'inherit'] });
    const said = (child: { readonly stdout: NodeJS.ReadableStream | null }, what: string): Promise<void> => new Promise((resolve) => child.stdout?.on('data', (b: Buffer) => b.toString().includes(what) && resolve()));
    try {
      // Both have booted (Node's start-up is CPU too).
      await Promise.all([said(busy, 'ready'), said(idle, 'ready')]);
      const window = await startCpuWindow([
        { name: 'busy', pid: busy.pid as number },
        { name: 'idle', pid: idle.pid as number },
      ]);
      const done = said(busy, 'done');
      busy.stdin?.write('go');
      await done;
      const spent = await window.stop();
      expect(spent.get('busy')).toBeGreaterThanOrEqual(0.28);
      expect(spent.get('busy')).toBeLessThan(1);
      expect(spent.get('idle')).toBeLessThan(0.1);
      expect(spent.has('load generator')).toBe(true);
    } finally {
      busy.kill();
      idle.kill();
    }
  });

  it('answers undefined for a process that is gone', async () => {
    const child = spawn(process.execPath, ['-e', '']);
    await new Promise((r) => child.once('exit', r));
    await new Promise((r) => setTimeout(r, 50));
    expect(await processCpuSeconds(child.pid as number)).toBeUndefined();
  });
});

describe('probeDisk', () => {
  it('times appends with fdatasync and says so in one line', async () => {
    const r = await probeDisk(os.tmpdir(), 5);
    expect(r.samples).toBe(5);
    expect(r.p50Ms).toBeGreaterThan(0);
    expect(r.maxMs).toBeGreaterThanOrEqual(r.p99Ms);
    expect(describeDisk(r)).toMatch(/^disk: 5 appends of 4 KiB \+ fdatasync in .*: p50 [\d.]+ ms, p99 [\d.]+ ms, max [\d.]+ ms$/);
  });

  it('refuses zero samples', async () => {
    await expect(probeDisk(os.tmpdir(), 0)).rejects.toThrow(/at least one sample/);
  });
});
