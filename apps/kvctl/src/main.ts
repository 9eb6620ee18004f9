/**
 * kvctl: the KeyVal operator's command line (see apps/kvctl/README.md). Exit codes: 0 ok,
 * 1 failure, 2 usage.
 */
import { runKvctl } from './cli/program';

runKvctl(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr }).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`kvctl: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
