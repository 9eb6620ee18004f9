/**
 * The CI chaos matrix: short runs of the real harness (real members in network namespaces,
 * every fault, every workload), each asserting verdict linearizable, nothing lost and the
 * healed cluster serving again, and all together that every fault of `all` was attempted at
 * least once; plus the watch and lease workloads (their checkers' `violated` fails the run).
 * About seven minutes in total.
 * Skipped, with the reason printed, only when not root or when `ip netns` is unavailable.
 * Longer runs: `npm run chaos -- --time 600 …` (docs/chaos.md).
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ALL_FAULTS } from './chaos-options';
import { REPO_ROOT, TS_REGISTER } from './ipc-child';
import { KEYVAL_MAIN } from './member-process';

function unsupportedReason(): string | undefined {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'not root (network namespaces, iptables and tmpfs mounts need root)';
  const probe = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (probe.error !== undefined || probe.status !== 0) return `\`ip netns\` is unavailable: ${probe.error?.message ?? probe.stderr.trim()}`;
  return undefined;
}

interface MatrixRun {
  readonly name: string;
  readonly args: readonly string[];
  /** Fewest operations in the history (the lease workload records only its key puts). */
  readonly minOps?: number;
}

/**
 * Every workload under all faults; members and seeds vary; one through the gateway (its
 * retries and write batches under the same faults); plus ReadIndex under a monotonic clock
 * that jumps.
 */
const RUNS: readonly MatrixRun[] = [
  { name: 'register, all faults, 3 members', args: ['--workload', 'register', '--faults', 'all', '--members', '3', '--time', '50', '--seed', '101'] },
  { name: 'set, all faults, 5 members', args: ['--workload', 'set', '--faults', 'all', '--members', '5', '--time', '50', '--seed', '202'] },
  { name: 'counter, all faults, 3 members', args: ['--workload', 'counter', '--faults', 'all', '--members', '3', '--time', '50', '--seed', '303'] },
  { name: 'counter through the gateway (write batching), all faults, 3 members', args: ['--workload', 'counter', '--via', 'gateway', '--faults', 'all', '--members', '3', '--time', '40', '--seed', '505'] },
  {
    name: 'register, monotonic clock jumps with lease reads off (ReadIndex needs no clock)',
    args: ['--workload', 'register', '--faults', 'clock-monotonic,kill', '--lease-reads', 'off', '--members', '3', '--time', '30', '--seed', '404'],
  },
  { name: 'watch, watchers resuming across kill, pause and partition, 3 members', args: ['--workload', 'watch', '--faults', 'kill,pause,partition', '--members', '3', '--time', '35', '--seed', '606'] },
  { name: 'lease, expiry and keepalives under kill, pause and partition, 3 members', args: ['--workload', 'lease', '--faults', 'kill,pause,partition', '--members', '3', '--time', '35', '--seed', '707'], minOps: 20 },
];

const SUMMARY = /^chaos: (\S+) (\S+) ops=(\d+) ok=(\d+) info=(\d+) fail=(\d+) verdict=(linearizable|NOT-linearizable|violated|unknown) lost=(\d+)$/;

/** Runs the chaos CLI; resolves with its stdout lines and exit code. */
function runChaosCli(args: readonly string[]): Promise<{ lines: string[]; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-r', TS_REGISTER, path.join(__dirname, 'chaos-cli.ts'), '--fault-window', '6', '--quiet', '2', '--report-dir', 'reports/chaos', ...args], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (err.trim() !== '') process.stderr.write(`chaos stderr:\n${err}\n`);
      resolve({ lines: out.trimEnd().split('\n'), code });
    });
  });
}

const reason = unsupportedReason();
if (reason !== undefined) console.warn(`chaos matrix skipped: ${reason}`);
const describeChaos = reason === undefined ? describe : describe.skip;

describeChaos('chaos matrix (real members, network namespaces, faults)', () => {
  const faultsSeen = new Set<string>();

  beforeAll(() => {
    if (!fs.existsSync(KEYVAL_MAIN)) throw new Error(`${KEYVAL_MAIN} is missing: the chaos matrix runs the BUILT member (npm run build)`);
  });

  it.each(RUNS)(
    '$name: linearizable, nothing lost, recovered',
    async ({ args, minOps }) => {
      const { lines, code } = await runChaosCli(args);
      const last = lines[lines.length - 1] ?? '';
      process.stdout.write(`${lines.slice(-4).join('\n')}\n`);
      const match = SUMMARY.exec(last);
      expect({ last, code, match: match !== null }).toEqual({ last, code, match: true });
      const [, , , ops, , , , verdict, lost] = match as RegExpExecArray;
      expect(Number(ops)).toBeGreaterThan(minOps ?? 100);
      expect({ verdict, lost: Number(lost) }).toEqual({ verdict: 'linearizable', lost: 0 });
      const folder = /report: (.*)\/index\.html$/.exec(lines.find((l) => l.includes('report: ')) ?? '')?.[1];
      expect(folder).toBeDefined();
      const timeline = JSON.parse(fs.readFileSync(path.join(folder as string, 'timeline.json'), 'utf8')) as { kind: string; error?: string; description: string }[];
      for (const entry of timeline) if (entry.description !== 'skipped') faultsSeen.add(entry.kind);
      // Liveness: once every fault was healed, the cluster served again.
      const summary = JSON.parse(fs.readFileSync(path.join(folder as string, 'summary.json'), 'utf8')) as { recovered: boolean };
      expect({ recovered: summary.recovered, heal: timeline.find((t) => t.kind === 'heal')?.error }).toEqual({ recovered: true, heal: undefined });
      // ...and took writes again: a fault that leaves writes refused (a NOSPACE alarm nobody
      // disarmed after a full disk) would otherwise pass, its refusals being definite failures.
      const lastFaultEndMs = Math.max(0, ...(timeline as { kind: string; endMs?: number }[]).filter((t) => t.kind !== 'heal').map((t) => t.endMs ?? 0));
      const history = JSON.parse(fs.readFileSync(path.join(folder as string, 'history.json'), 'utf8')) as { ops: { f: string; status: string; returnTime?: number }[] };
      const writesAfter = history.ops.filter((o) => o.f !== 'get' && o.f !== 'read' && o.status === 'ok' && (o.returnTime ?? 0) > lastFaultEndMs).length;
      expect({ writesAfterTheLastFault: writesAfter > 0 }).toEqual({ writesAfterTheLastFault: true });
    },
    600_000,
  );

  it('attempted every fault of `all` at least once across the matrix', () => {
    expect(ALL_FAULTS.filter((kind) => !faultsSeen.has(kind))).toEqual([]);
  });
});
