#!/usr/bin/env node
// Entry point of `npm run lincheck -- FILE...`; the command itself is run-cli.ts.
import { runCli } from './run-cli';

process.exitCode = runCli(process.argv.slice(2), {
  stdout: (line) => process.stdout.write(`${line}\n`),
  stderr: (line) => process.stderr.write(`${line}\n`),
});
