// Entry point of the keyval app. A runnable shell until its issue lands.
export {};
function main(argv: readonly string[]): number {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write('usage: keyval [--help]\n\nNot yet implemented beyond this shell.\n');
    return 0;
  }
  process.stderr.write('keyval: not yet implemented; see the open issues\n');
  return 1;
}

process.exitCode = main(process.argv.slice(2));
