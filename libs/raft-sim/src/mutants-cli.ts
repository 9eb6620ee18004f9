/**
 * Entry point of `npm run sim:mutants` (see mutation/mutants-main.ts for what it does and prints).
 */
import { runMutantsCli } from './mutation/mutants-main';

runMutantsCli(
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
