import { UsageError, parseCli, replayCommand } from './cli-args';
import { runCli } from './cli-main';
import { SCENARIO_NAMES } from './scenarios';

async function run(argv: string[], hooks = {}): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, (l) => out.push(l), (l) => err.push(l), hooks);
  return { code, out, err };
}

describe('sim command line', () => {
  it('parses seeds, a replayed seed and the overrides', () => {
    expect(parseCli(['--seeds', '10'])).toMatchObject({ first: 1, count: 10, single: false });
    expect(parseCli(['--seeds', '10', '--first', '100'])).toMatchObject({ first: 100, count: 10 });
    expect(parseCli(['--seed', '77', '--members', '5', '--ticks', '300', '--verbose'])).toMatchObject({ first: 77, count: 1, single: true, members: 5, safetyTicks: 300, verbose: true });
  });

  it.each([
    [[], 'exactly one of'],
    [['--seeds', '5', '--seed', '3'], 'exactly one of'],
    [['--seeds', '0'], '--seeds must be an integer'],
    [['--seeds', '1e3'], '--seeds must be an integer'],
    [['--seed', '1', '--members', '12'], '--members must be an integer in [1, 9]'],
    [['--seed', '1', '--first', '3'], '--first goes with --seeds'],
    [['--seeds', '2', '--bogus'], 'bogus'],
  ])('refuses %j with a clear message', (argv, message) => {
    expect(() => parseCli(argv)).toThrow(UsageError);
    expect(() => parseCli(argv)).toThrow(message);
  });

  it('builds the replay command with the same overrides', () => {
    expect(replayCommand(9, { members: 7, safetyTicks: undefined, tickMs: undefined, skipLincheck: false })).toBe('npm run sim -- --seed 9 --members 7 --verbose');
    expect(replayCommand(9, { members: undefined, safetyTicks: undefined, tickMs: undefined, skipLincheck: true, classicChecks: true }, 'figure8')).toBe(
      'npm run sim -- --seed 9 --scenario figure8 --no-lincheck --classic-checks --verbose',
    );
  });

  it('parses scenarios and the classic checks', () => {
    expect(parseCli(['--seeds', '5']).schedules).toEqual([undefined]);
    expect(parseCli(['--seeds', '5', '--scenario', 'figure8']).schedules).toEqual(['figure8']);
    expect(parseCli(['--seeds', '5', '--scenario', 'all']).schedules).toEqual(SCENARIO_NAMES);
    expect(parseCli(['--seed', '5', '--classic-checks']).classicChecks).toBe(true);
    expect(() => parseCli(['--seeds', '5', '--scenario', 'bogus'])).toThrow('--scenario must be one of');
    expect(() => parseCli(['--seed', '5', '--scenario', 'all'])).toThrow('--scenario all goes with --seeds');
    expect(() => parseCli(['--seed', '5', '--scenario', 'figure8', '--members', '3'])).toThrow('--members does not go with --scenario');
  });

  it('replays a scenario seed, naming the scenario in its profile', async () => {
    const { code, out } = await run(['--seed', '2', '--scenario', 'lost-vote', '--no-lincheck']);
    expect(code).toBe(0);
    expect(out[0]).toContain('mix=scenario:lost-vote');
    expect(out.some((l) => l.startsWith('scenario runs that sprang their trap: lost-vote '))).toBe(true);
    expect(out[out.length - 1]).toBe('sim: 1 seeds, 0 violations');
  });

  it('runs seeds and ends with exactly "sim: N seeds, V violations", exit code 0', async () => {
    const { code, out } = await run(['--seeds', '3', '--workers', '1', '--ticks', '200']);
    expect(code).toBe(0);
    expect(out[out.length - 1]).toBe('sim: 3 seeds, 0 violations');
    expect(out.some((l) => l.startsWith('time to first leader (n=3): p50 '))).toBe(true);
    expect(out.some((l) => /ticks \(\d+ ms\)/.test(l))).toBe(true);
  });

  it('prints the whole trace of a replayed seed with --verbose', async () => {
    const { code, out } = await run(['--seed', '4', '--ticks', '150', '--verbose', '--no-lincheck']);
    expect(code).toBe(0);
    expect(out.filter((l) => / recv \d+->\d+ /.test(l)).length).toBeGreaterThan(100);
    expect(out.some((l) => l.startsWith('seed 4: trace hash '))).toBe(true);
  });

  it('exits 1 on a violation and prints the seed, the replay command, member states and the last events', async () => {
    const { code, out } = await run(['--seed', '2', '--no-lincheck'], { mutation: 'lying-fsync' });
    expect(code).toBe(1);
    expect(out[out.length - 1]).toBe('sim: 1 seeds, 1 violations');
    const head = out.findIndex((l) => l.startsWith('VIOLATION seed 2 '));
    expect(head).toBeGreaterThanOrEqual(0);
    expect(out[head + 1]).toBe('  replay: npm run sim -- --seed 2 --no-lincheck --verbose');
    expect(out).toContain('  members at the failure:');
    expect(out.some((l) => /^ {2}last \d+ events \(ms, event\):$/.test(l))).toBe(true);
    expect(out.some((l) => / VIOLATION /.test(l))).toBe(true);
  });

  it('exits 2 on bad usage', async () => {
    const { code, err } = await run(['--seeds', 'many']);
    expect(code).toBe(2);
    expect(err.join('\n')).toContain('usage: npm run sim');
  });

  it('runs production members with --member production (in SimWorld) or production-standalone, and refuses the options they do not take', async () => {
    const { code, out } = await run(['--member', 'production', '--seed', '3']);
    expect(code).toBe(0);
    expect(out.some((l) => /^seed 3: trace hash [0-9a-f]+, \d+ events/.test(l))).toBe(true);
    expect(out[out.length - 1]).toBe('sim: 1 seeds, 0 violations');
    expect(parseCli(['--seeds', '2']).member).toBe('sim');
    expect(() => parseCli(['--member', 'production', '--seeds', '2', '--scenario', 'figure8'])).toThrow(UsageError);
    expect(() => parseCli(['--member', 'production-standalone', '--seeds', '2', '--workers', '2'])).toThrow(UsageError);
    expect(parseCli(['--member', 'production', '--seeds', '2', '--workers', '2']).workers).toBe(2);
    expect(() => parseCli(['--member', 'real', '--seeds', '2'])).toThrow(/--member must be sim, production or production-standalone/);
  }, 60_000);
});

