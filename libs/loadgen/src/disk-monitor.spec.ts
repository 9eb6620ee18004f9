import * as os from 'node:os';
import { describeDiskWindow, DiskMonitor, SPIKE_MS, summarizeSyncs } from './disk-monitor';

describe('summarizeSyncs', () => {
  it('gives percentiles and counts the spikes', () => {
    const w = summarizeSyncs([0.2, 0.3, 0.25, SPIKE_MS + 5, 0.2]);
    expect(w).toMatchObject({ samples: 5, p50Ms: 0.25, maxMs: SPIKE_MS + 5, spikes: 1 });
    expect(describeDiskWindow(w)).toMatch(/1 sync spike >= 10 ms: disk noise in this level/);
    expect(describeDiskWindow(summarizeSyncs([0.2]))).not.toMatch(/spike/);
    expect(describeDiskWindow(summarizeSyncs([]))).toBe('disk: no probe samples in this window');
  });
});

describe('DiskMonitor', () => {
  it('samples fdatasync in its own process about every 20 ms and reports a window', async () => {
    const monitor = DiskMonitor.start(os.tmpdir());
    try {
      const from = monitor.now();
      const deadline = Date.now() + 10_000;
      while (monitor.window(from, monitor.now()).samples < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const to = monitor.now();
      const w = monitor.window(from, to);
      expect(w.samples).toBeGreaterThanOrEqual(5);
      // Not faster than one sample per 20 ms.
      expect(w.samples).toBeLessThanOrEqual((to - from) / 20 + 2);
      expect(w.p50Ms).toBeGreaterThan(0);
      expect(monitor.window(0, from - 10_000).samples).toBe(0);
    } finally {
      await monitor.stop();
    }
  });
});
