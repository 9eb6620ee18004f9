/**
 * Entry point of `npm run sim` (see cli-main.ts for what it does and prints).
 */
import { runCli } from './cli-main';
import { runAsMain } from './entry';

runAsMain(runCli);
