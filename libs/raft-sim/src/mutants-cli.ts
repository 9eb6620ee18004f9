/**
 * Entry point of `npm run sim:mutants` (see mutation/mutants-main.ts for what it does and prints).
 */
import { runAsMain } from './entry';
import { runMutantsCli } from './mutation/mutants-main';

runAsMain(runMutantsCli);
