/**
 * `kvctl bench put|get|mixed`: a closed-loop load (libs/loadgen) against the endpoints, with a
 * progress bar on a terminal and a summary: operations, errors, ops/s, p50/p90/p99/max latency.
 */
import type { Command } from 'commander';
import { installLeanAsyncResourceBind } from '@keyval/grpc';
import { runLoad } from '@keyval/loadgen';
import type { Workload } from '@keyval/loadgen';
import type { CliContext } from '../cli/cli-context';
import { parseDurationMs, parseIntFlag } from '../cli/cli-context';
import { UsageError } from '../cli/cli-errors';
import { ProgressBar } from '../output/format';

interface BenchFlags {
  clients: string;
  ops: string;
  duration: string;
  valueBytes: string;
  keySpace: string;
  readRatio: string;
  serializable?: boolean;
  connections: string;
}

export function registerBenchCommand(program: Command, ctx: CliContext): void {
  program
    .command('bench')
    .description('measure throughput and latency: put (writes), get (linearizable reads) or mixed')
    .argument('<workload>', 'put, get or mixed')
    .option('--clients <n>', 'concurrent clients', '16')
    .option('--ops <n>', 'stop after this many operations', '10000')
    .option('--duration <duration>', 'or after this long', '60s')
    .option('--value-bytes <n>', 'size of each value written', '256')
    .option('--key-space <n>', 'distinct keys (bench-0 ... bench-N)', '10000')
    .option('--read-ratio <fraction>', 'share of reads in mixed', '0.5')
    .option('--serializable', 'serializable reads (no leader round trip)')
    .option('--connections <n>', 'HTTP/2 connections per endpoint', '1')
    .action(async (workload: string, o: BenchFlags, cmd: Command) => {
      if (workload !== 'put' && workload !== 'get' && workload !== 'mixed') throw new UsageError(`bench: the workload is put, get or mixed, got ${JSON.stringify(workload)}`);
      const readRatio = Number(o.readRatio);
      if (!(readRatio >= 0 && readRatio <= 1)) throw new UsageError(`--read-ratio: expected a fraction from 0 to 1, got ${JSON.stringify(o.readRatio)}`);
      const g = ctx.globals(cmd);
      const operations = parseIntFlag(o.ops, '--ops', 1, 100_000_000);
      const progress = new ProgressBar(`bench ${workload}`, operations);
      installLeanAsyncResourceBind(); // Node's HTTP/2 client per-call cost: @keyval/grpc lean-async-bind.ts
      const result = await runLoad({
        endpoints: g.endpoints,
        workload: workload as Workload,
        clients: parseIntFlag(o.clients, '--clients', 1, 10_000),
        operations,
        durationMs: parseDurationMs(o.duration, '--duration'),
        valueBytes: parseIntFlag(o.valueBytes, '--value-bytes', 0, 1 << 20),
        keySpace: parseIntFlag(o.keySpace, '--key-space', 1, 100_000_000),
        readRatio,
        serializable: o.serializable === true,
        timeoutMs: g.timeoutMs,
        connections: parseIntFlag(o.connections, '--connections', 1, 64),
        onProgress: (done) => progress.update(done),
      });
      progress.finish(result.operations);
      const ms = (n: number): string => n.toFixed(2);
      const summary = { workload, ...result };
      ctx.print(
        cmd,
        summary,
        ['WORKLOAD', 'OPS', 'ERRORS', 'SECONDS', 'OPS/S', 'P50 MS', 'P90 MS', 'P99 MS', 'MAX MS'],
        [[workload, String(result.operations), String(result.errors), result.seconds.toFixed(1), String(Math.round(result.opsPerSecond)), ms(result.p50Ms), ms(result.p90Ms), ms(result.p99Ms), ms(result.maxMs)]],
      );
      if (result.firstError !== undefined && g.output !== 'json') ctx.io.stderr.write(`first error: ${result.firstError}\n`);
    });
}
