/**
 * `npm run sim -- --member production ...`: seeds of the simulation on production members
 * (production-run.ts), one at a time in this process. Prints each violation with its seed, the
 * replay command and the last events of its trace; `--seed S` prints the seed's trace hash;
 * then totals and, as the very last line, `sim: N seeds, V violations`. Exit code 0, or 1 on
 * any violation.
 */
import type { CliOptions } from '../cli-args';
import type { Print } from '../entry';
import { runProductionSeed } from './production-run';
import type { ProductionRunResult } from './production-run';

export function productionReplayCommand(seed: number): string {
  return `npm run sim -- --member production-standalone --seed ${seed} --verbose`;
}

export async function runProductionCli(o: CliOptions, print: Print, printError: Print): Promise<number> {
  const startedMs = performance.now();
  const results: ProductionRunResult[] = [];
  let reported = 0;
  let lastProgressMs = startedMs;
  for (let seed = o.first; seed < o.first + o.count; seed++) {
    const result = await runProductionSeed({
      seed,
      ...(o.traceTail === undefined ? {} : { traceTail: o.traceTail }),
      ...(o.verbose && o.single ? { verbose: print } : {}),
    });
    results.push(result);
    const v = result.violation;
    if (v !== undefined) {
      print(`VIOLATION seed ${seed} (${result.members} members, production) at ${result.simulatedMs} ms: ${v.message}`);
      print(`  replay: ${productionReplayCommand(seed)}`);
      if (o.single || reported < o.maxReports) {
        print(`  last ${result.recent.length} events (ms, event):`);
        for (const line of result.recent) {
          print(`    ${line}`);
        }
      }
      reported++;
    }
    if (o.single) {
      print(`seed ${seed}: trace hash ${result.traceHash}, ${result.events} events, simulated ${result.simulatedMs} ms, ${result.stats.acked} writes acknowledged`);
    }
    const now = performance.now();
    if (now - lastProgressMs > 10_000) {
      lastProgressMs = now;
      printError(`sim: ${results.length}/${o.count} seeds, ${reported} violations, ${((now - startedMs) / 1000).toFixed(0)} s`);
    }
  }
  const wallMs = performance.now() - startedMs;
  const total = (pick: (r: ProductionRunResult) => number): number => results.reduce((a, r) => a + pick(r), 0);
  const sizes = [...new Set(results.map((r) => r.members))].sort((a, b) => a - b);
  print(`production members: ${results.length} seeds (cluster sizes ${sizes.join(', ')}), ${(total((r) => r.simulatedMs) / results.length / 1000).toFixed(1)} s simulated and ${Math.round(total((r) => r.events) / results.length)} events per seed`);
  print(`  writes acknowledged ${total((r) => r.stats.acked)}, entries applied ${total((r) => r.stats.applied)}, leaders elected ${total((r) => r.stats.leaders)}`);
  print(`  crashes ${total((r) => r.stats.crashes)} (unsynced operations lost ${total((r) => r.stats.lostOps)}, torn writes ${total((r) => r.stats.tornWrites)}), failed fsyncs ${total((r) => r.stats.fsyncFailures)} (fatal exits ${total((r) => r.stats.fatal)}), ENOSPC ${total((r) => r.stats.noSpaceErrors)}, bit flips in cold WAL data ${total((r) => r.stats.bitFlips)} (WAL refused to open ${total((r) => r.stats.refusedCorruptWal)})`);
  print(`wall: ${(wallMs / 1000).toFixed(1)} s, ${(wallMs / results.length).toFixed(1)} ms per seed in one thread (machine-dependent)`);
  print(`sim: ${results.length} seeds, ${reported} violations`);
  return reported > 0 ? 1 : 0;
}
