/**
 * The options of one chaos run and their command line (`npm run chaos -- …`). Every option has
 * a default and a range; bad input is a ChaosUsageError naming the flag.
 */
import { Command, CommanderError, Option } from 'commander';
import { ChaosUsageError } from './chaos.errors';

/**
 * The faults the scheduler can inject. `clock` shifts and rescales the wall clock only (the
 * monotonic clock runs true, as on a real machine whose time is stepped or slewed);
 * `clock-monotonic` lets libfaketime shift CLOCK_MONOTONIC too, which no real kernel does —
 * it is not part of `all` (see docs/chaos.md: it breaks the lease's premise by design).
 */
export const FAULT_KINDS = ['kill', 'pause', 'partition', 'loss', 'delay', 'clock', 'disk', 'membership', 'transfer', 'clock-monotonic'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** What `--faults all` means. */
export const ALL_FAULTS: readonly FaultKind[] = FAULT_KINDS.filter((kind) => kind !== 'clock-monotonic');

export const WORKLOAD_KINDS = ['register', 'set', 'counter', 'watch', 'lease'] as const;

/** Where the clients send their calls: to the members directly, or through a gateway (`apps/gateway`) in the client namespace. */
export const VIA_KINDS = ['members', 'gateway'] as const;
export type ViaKind = (typeof VIA_KINDS)[number];
export type WorkloadKind = (typeof WORKLOAD_KINDS)[number];

/** One chaos run. Times are seconds unless the name says otherwise. */
export interface ChaosOptions {
  readonly timeSeconds: number;
  readonly faults: readonly FaultKind[];
  /** How the faults were given (`all` or the list), for the summary line. */
  readonly faultsLabel: string;
  readonly workload: WorkloadKind;
  /** The clients talk to the members, or to one gateway in front of them. */
  readonly via: ViaKind;
  readonly members: 3 | 5;
  readonly seed: number;
  /** Logical clients (Jepsen processes) running the workload concurrently. */
  readonly clients: number;
  /** Target operations per second over all clients. */
  readonly rate: number;
  /** Members serve linearizable reads under the leader lease (`--lease-reads`). */
  readonly leaseReads: boolean;
  /** Mutual TLS on the members' client and peer ports, and the gateway's (a throwaway CA). */
  readonly tls: boolean;
  /** A fault window lasts between a third of this and this. */
  readonly faultWindowSeconds: number;
  /** Quiet time between fault windows. */
  readonly quietSeconds: number;
  /** Wall-clock budget of the linearizability check. */
  readonly checkTimeoutSeconds: number;
  /** Longest wait for the healed cluster to serve again before the final reads. */
  readonly recoverySeconds: number;
  /** Where run folders go. */
  readonly reportRoot: string;
  /** Longest wait for another chaos run to release the namespaces. */
  readonly lockWaitSeconds: number;
}

export const DEFAULT_OPTIONS: ChaosOptions = {
  timeSeconds: 60,
  faults: ALL_FAULTS,
  faultsLabel: 'all',
  workload: 'register',
  via: 'members',
  members: 3,
  seed: 1,
  clients: 8,
  rate: 100,
  leaseReads: true,
  tls: false,
  faultWindowSeconds: 8,
  quietSeconds: 3,
  checkTimeoutSeconds: 120,
  recoverySeconds: 60,
  reportRoot: 'reports/chaos',
  lockWaitSeconds: 600,
};

/** Parses `all` or a comma list of fault kinds. */
export function parseFaults(text: string): { faults: FaultKind[]; label: string } {
  const words = text
    .split(',')
    .map((w) => w.trim())
    .filter((w) => w.length > 0);
  if (words.length === 0) {
    throw new ChaosUsageError('--faults: give `all`, `none` or a comma list of ' + FAULT_KINDS.join(', '));
  }
  if (words.length === 1 && words[0] === 'none') {
    return { faults: [], label: 'none' };
  }
  const faults: FaultKind[] = [];
  for (const word of words) {
    const kinds: readonly string[] = word === 'all' ? ALL_FAULTS : [word];
    for (const kind of kinds) {
      if (!(FAULT_KINDS as readonly string[]).includes(kind)) {
        throw new ChaosUsageError(`--faults: unknown fault ${JSON.stringify(kind)}; known: all, none, ${FAULT_KINDS.join(', ')}`);
      }
      if (!faults.includes(kind as FaultKind)) faults.push(kind as FaultKind);
    }
  }
  if (faults.includes('clock') && faults.includes('clock-monotonic')) {
    // A member runs under one libfaketime mode; hour-long wall-clock jumps on the monotonic
    // clock would freeze its timers for hours.
    throw new ChaosUsageError('--faults: clock and clock-monotonic cannot be combined in one run');
  }
  return { faults, label: words.join(',') };
}

function bounded(flag: string, text: string, min: number, max: number, integer = true): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || (integer && !Number.isSafeInteger(value)) || value < min || value > max) {
    throw new ChaosUsageError(`${flag}: expected ${integer ? 'a whole number' : 'a number'} in [${min}, ${max}], got ${JSON.stringify(text)}`);
  }
  return value;
}

function program(): Command {
  const d = DEFAULT_OPTIONS;
  return new Command('chaos')
    .description('Runs a KeyVal cluster in network namespaces under faults, records a history and checks it for linearizability.')
    .addOption(new Option('--time <seconds>', 'how long faults run').default(String(d.timeSeconds)))
    .addOption(new Option('--faults <list>', `all, none, or a comma list of: ${FAULT_KINDS.join(', ')}`).default('all'))
    .addOption(new Option('--workload <kind>', WORKLOAD_KINDS.join(', ')).default(d.workload))
    .addOption(new Option('--via <where>', 'clients talk to the `members`, or to a `gateway` in front of them').default(d.via))
    .addOption(new Option('--members <n>', '3 or 5').default(String(d.members)))
    .addOption(new Option('--seed <n>', 'seed of the fault schedule and the workload (default: from the clock)'))
    .addOption(new Option('--clients <n>', 'concurrent clients').default(String(d.clients)))
    .addOption(new Option('--rate <n>', 'target operations per second, all clients together').default(String(d.rate)))
    .addOption(new Option('--lease-reads <on|off>', 'members serve reads under the leader lease').default('on'))
    .addOption(new Option('--tls', 'mutual TLS on every client and peer connection (a throwaway CA, etcd\'s flags)'))
    .addOption(new Option('--fault-window <seconds>', 'longest fault window').default(String(d.faultWindowSeconds)))
    .addOption(new Option('--quiet <seconds>', 'quiet time between fault windows').default(String(d.quietSeconds)))
    .addOption(new Option('--check-timeout <seconds>', 'time budget of the linearizability check').default(String(d.checkTimeoutSeconds)))
    .addOption(new Option('--recovery <seconds>', 'longest wait for the healed cluster before the final reads').default(String(d.recoverySeconds)))
    .addOption(new Option('--report-dir <dir>', 'where run folders are written').default(d.reportRoot))
    .addOption(new Option('--lock-wait <seconds>', 'longest wait for another chaos run to finish').default(String(d.lockWaitSeconds)))
    .exitOverride()
    .configureOutput({ writeErr: () => undefined, writeOut: (s) => process.stdout.write(s) })
    .allowExcessArguments(false);
}

/** Parses argv (without node and script); undefined when --help was printed. */
export function parseChaosArgs(argv: readonly string[], now = Date.now()): ChaosOptions | undefined {
  const cmd = program();
  try {
    cmd.parse([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed') return undefined;
      throw new ChaosUsageError(error.message.replace(/^error: /, ''));
    }
    throw error;
  }
  const raw = cmd.opts<Record<string, string | boolean | undefined>>();
  const s = (key: string): string => String(raw[key] ?? '');
  const workload = s('workload');
  if (!(WORKLOAD_KINDS as readonly string[]).includes(workload)) {
    throw new ChaosUsageError(`--workload: expected one of ${WORKLOAD_KINDS.join(', ')}, got ${JSON.stringify(workload)}`);
  }
  const via = s('via');
  if (!(VIA_KINDS as readonly string[]).includes(via)) {
    throw new ChaosUsageError(`--via: expected one of ${VIA_KINDS.join(', ')}, got ${JSON.stringify(via)}`);
  }
  const members = bounded('--members', s('members'), 3, 5);
  if (members !== 3 && members !== 5) throw new ChaosUsageError(`--members: expected 3 or 5, got ${members}`);
  const lease = s('leaseReads');
  if (lease !== 'on' && lease !== 'off') throw new ChaosUsageError(`--lease-reads: expected on or off, got ${JSON.stringify(lease)}`);
  const { faults, label } = parseFaults(s('faults'));
  return {
    timeSeconds: bounded('--time', s('time'), 1, 86_400),
    faults,
    faultsLabel: label,
    workload: workload as WorkloadKind,
    via: via as ViaKind,
    members,
    seed: raw['seed'] === undefined ? now % 2_147_483_647 : bounded('--seed', s('seed'), 0, 2 ** 32 - 1),
    clients: bounded('--clients', s('clients'), 1, 64),
    rate: bounded('--rate', s('rate'), 1, 5_000),
    leaseReads: lease === 'on',
    tls: raw['tls'] === true,
    faultWindowSeconds: bounded('--fault-window', s('faultWindow'), 1, 3_600, false),
    quietSeconds: bounded('--quiet', s('quiet'), 0, 3_600, false),
    checkTimeoutSeconds: bounded('--check-timeout', s('checkTimeout'), 1, 86_400),
    recoverySeconds: bounded('--recovery', s('recovery'), 5, 3_600),
    reportRoot: s('reportDir'),
    lockWaitSeconds: bounded('--lock-wait', s('lockWait'), 0, 86_400),
  };
}

/** The help text, for usage errors. */
export function chaosHelp(): string {
  return program().helpInformation();
}
