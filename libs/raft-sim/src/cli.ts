/**
 * Entry point of `npm run sim` (see cli-main.ts for what it does and prints).
 */
import { runCli } from './cli-main';

runCli(
  process.argv.slice(2),
  (line) => console.log(line),
  (line) => console.error(line),
).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 3;
  },
);
