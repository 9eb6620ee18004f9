import { Command, Option } from 'commander';
import { UsageError } from './cli-values';
import { addServerLimitFlags, parseDurationMs, parseServerLimits, SERVER_LIMIT_FLAGS } from './server-limit-flags';

const defaults = Object.fromEntries(SERVER_LIMIT_FLAGS.map((f, i) => [f.key, i + 1]));

function parse(argv: string[], check: (limits: Record<string, number>) => void = () => undefined): Record<string, number> {
  const command = addServerLimitFlags(new Command('t').exitOverride(), (flags, description, value) => new Option(flags, description).default(value), defaults);
  command.parse(argv, { from: 'user' });
  return parseServerLimits(command.opts(), check);
}

describe('server limit flags', () => {
  it('gives every limit its default', () => {
    expect(parse([])).toEqual(defaults);
  });

  it.each(SERVER_LIMIT_FLAGS.map((f) => [f.flag, f.key, f.unit] as const))('%s sets %s', (flag, key, unit) => {
    expect(parse([flag, unit === 'ms' ? '1m' : '77'])[key]).toBe(unit === 'ms' ? 60_000 : 77);
  });

  it.each([
    ['250', 250],
    ['2h', 7_200_000],
    ['20s', 20_000],
    ['1m30s', 90_000],
    ['500ms', 500],
    ['1.5s', 1500],
    ['2h0m0s', 7_200_000],
  ])('reads the duration %s as %d ms', (text, ms) => {
    expect(parseDurationMs(text, '--x')).toBe(ms);
  });

  it.each(['', '5x', 's', '-1', '1 s', '1h2'])('refuses the duration %j, naming the flag', (text) => {
    expect(() => parseDurationMs(text, '--idle-timeout')).toThrow(new UsageError(`--idle-timeout: expected milliseconds or a duration like 2h, 20s, 1m30s or 500ms, got ${JSON.stringify(text)}`));
  });

  it('refuses a count that is not a whole number, naming the flag', () => {
    expect(() => parse(['--max-connections', '1e3'])).toThrow(/--max-connections: expected a whole number/);
  });

  it("turns the server's range check into a usage error naming the flag", () => {
    const check = (limits: Record<string, number>): void => {
      if ((limits['maxConcurrentStreams'] as number) < 1) {
        throw Object.assign(new RangeError('out of range'), { limit: 'maxConcurrentStreams', min: 1, max: 100, value: 0 });
      }
    };
    expect(() => parse(['--max-concurrent-streams', '0'], check)).toThrow(new UsageError('--max-concurrent-streams: expected 1 to 100, got 0'));
  });
});
