import { ChaosUsageError } from './chaos.errors';
import { ALL_FAULTS, DEFAULT_OPTIONS, parseChaosArgs, parseFaults } from './chaos-options';

describe('parseChaosArgs', () => {
  it('has defaults for everything (the seed from the clock)', () => {
    expect(parseChaosArgs([], 1234)).toEqual({ ...DEFAULT_OPTIONS, seed: 1234 });
  });

  it('reads the README command', () => {
    const options = parseChaosArgs(['--time', '60', '--faults', 'all', '--workload', 'register', '--members', '5', '--seed', '42']);
    expect(options).toMatchObject({ timeSeconds: 60, faults: ALL_FAULTS, faultsLabel: 'all', workload: 'register', members: 5, seed: 42 });
  });

  it('turns lease reads off on request', () => {
    expect(parseChaosArgs(['--lease-reads', 'off'])?.leaseReads).toBe(false);
  });

  it('runs with mutual TLS on request (plaintext by default)', () => {
    expect(parseChaosArgs([])?.tls).toBe(false);
    expect(parseChaosArgs(['--tls'])?.tls).toBe(true);
  });

  it.each([
    [['--members', '4'], /--members/],
    [['--workload', 'queue'], /--workload/],
    [['--time', '0'], /--time/],
    [['--time', 'soon'], /--time/],
    [['--rate', '1e9'], /--rate/],
    [['--lease-reads', 'maybe'], /--lease-reads/],
    [['--faults', 'kill,flood'], /unknown fault "flood"/],
    [['--bogus'], /unknown option/],
  ])('refuses %j', (argv, message) => {
    expect(() => parseChaosArgs(argv)).toThrow(ChaosUsageError);
    expect(() => parseChaosArgs(argv)).toThrow(message);
  });
});

describe('parseFaults', () => {
  it('expands all (without clock-monotonic) and keeps a list in order without repeats', () => {
    expect(parseFaults('all').faults).toEqual(ALL_FAULTS);
    expect(ALL_FAULTS).not.toContain('clock-monotonic');
    expect(parseFaults('kill, pause,kill').faults).toEqual(['kill', 'pause']);
    expect(parseFaults('kill,pause').label).toBe('kill,pause');
    expect(parseFaults('none').faults).toEqual([]);
  });

  it('refuses clock with clock-monotonic (one libfaketime mode per member)', () => {
    expect(() => parseFaults('clock,clock-monotonic')).toThrow(/cannot be combined/);
    expect(() => parseFaults('all,clock-monotonic')).toThrow(/cannot be combined/);
    expect(parseFaults('clock-monotonic,kill').faults).toEqual(['clock-monotonic', 'kill']);
  });

  it('refuses an empty list', () => {
    expect(() => parseFaults(' , ')).toThrow(ChaosUsageError);
  });
});
