/**
 * Runs a command (`npm run sim`, `npm run sim:mutants`) as the process entry point: its lines go
 * to stdout and stderr, its result becomes the exit code, and an unexpected error is printed
 * with exit code 3.
 */
export type Print = (line: string) => void;
export type Command = (argv: readonly string[], print: Print, printError: Print) => Promise<number>;

export function runAsMain(command: Command): void {
  command(
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
}
