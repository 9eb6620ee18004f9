/**
 * The kvctl command line (commander): global flags, the commands, and how a run ends —
 * exit 0 when the command succeeded, 1 when it failed (one line on standard error), 2 for a
 * usage error (an unknown command or flag, a missing argument, a bad value).
 */
import { Command, CommanderError, Option } from 'commander';
import { registerBenchCommand } from '../commands/bench-command';
import { registerCheckCommand } from '../commands/check-command';
import { registerClusterCommands } from '../commands/cluster-commands';
import { registerDataCommands } from '../commands/data-commands';
import { registerHistoryCommands } from '../commands/history-commands';
import { registerLeaseCommands } from '../commands/lease-commands';
import { registerSnapshotCommands } from '../commands/snapshot-commands';
import { DEFAULT_ENDPOINTS } from '../client/endpoints';
import { CliContext } from './cli-context';
import type { CliIo } from './cli-context';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, describeError, exitCodeOf } from './cli-errors';

export const KVCTL_VERSION = '0.1.0';

/** Builds the program; output goes to `io`. */
export function buildProgram(ctx: CliContext): Command {
  const program = new Command('kvctl')
    .description('Operate a KeyVal cluster: data, history (watch, compaction), leases, cluster status, members, leadership, snapshots and benchmarks.')
    .version(KVCTL_VERSION)
    .addOption(new Option('--endpoints <list>', `comma-separated host:port or http://host:port (default: ${DEFAULT_ENDPOINTS.join(',')})`).env('KEYVAL_ENDPOINTS'))
    .addOption(new Option('-o, --output <format>', 'table, json or simple (etcdctl-style lines)').default('table'))
    .addOption(new Option('--timeout <duration>', 'deadline of the command’s cluster calls (e.g. 5000, 5s)').default('5s'))
    .addOption(new Option('--dial-timeout <duration>', 'an endpoint not connected within this is unreachable').default('2s'))
    .addOption(new Option('--cacert <path>', 'verify the members with this CA bundle (TLS)').env('KEYVAL_CACERT'))
    .addOption(new Option('--cert <path>', 'client certificate for TLS (members started with --client-cert-auth ask for one)').env('KEYVAL_CERT'))
    .addOption(new Option('--key <path>', 'key of --cert').env('KEYVAL_KEY'))
    .addOption(new Option('--insecure-skip-tls-verify', 'TLS without verifying the members\' certificates (tests only)'))
    .exitOverride()
    .configureOutput({ writeOut: (s) => ctx.io.stdout.write(s), writeErr: (s) => ctx.io.stderr.write(s), outputError: (s, write) => write(`kvctl: ${s.replace(/^error: /, '')}`) })
    .showSuggestionAfterError(true)
    .allowExcessArguments(false);
  registerDataCommands(program, ctx);
  registerHistoryCommands(program, ctx);
  registerLeaseCommands(program, ctx);
  registerClusterCommands(program, ctx);
  registerSnapshotCommands(program, ctx);
  registerBenchCommand(program, ctx);
  registerCheckCommand(program, ctx);
  program.addHelpText(
    'after',
    `
Examples:
  kvctl put greeting hello
  kvctl get greeting
  kvctl get app/ --prefix -o json
  kvctl txn --if 'counter == 1' --then 'put counter 2' --else 'get counter'
  kvctl watch app/ --prefix --rev 1 --prev-kv
  kvctl lease grant 60 && kvctl put session/a up --lease <id>
  kvctl status
  kvctl member add n4 --peer-urls http://127.0.0.1:42380
  kvctl leader transfer n2
  kvctl snapshot save backup.snap
  kvctl bench put --clients 64 --ops 50000

Exit codes: 0 ok, 1 failure, 2 usage. KEYVAL_ENDPOINTS sets --endpoints.`,
  );
  return program;
}

/** Runs kvctl with `argv` (without node and the script); resolves with the exit code. */
export async function runKvctl(argv: readonly string[], io: CliIo): Promise<number> {
  const ctx = new CliContext(io);
  const program = buildProgram(ctx);
  if (argv.length === 0) {
    program.outputHelp();
    return EXIT_USAGE;
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT_OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return EXIT_OK;
      if (error.code === 'commander.help') return EXIT_USAGE; // a command group without its subcommand
      io.stderr.write(`Run 'kvctl --help' (or 'kvctl <command> --help') for usage.\n`);
      return EXIT_USAGE;
    }
    const explained = await ctx.explain(error);
    io.stderr.write(`kvctl: ${describeError(explained)}\n`);
    return exitCodeOf(explained) === EXIT_USAGE ? EXIT_USAGE : EXIT_FAILURE;
  } finally {
    ctx.close();
  }
}
