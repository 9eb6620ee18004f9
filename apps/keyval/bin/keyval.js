#!/usr/bin/env -S node --max-semi-space-size=16 --initial-old-space-size=96
'use strict';
// Heap settings measured under load (docs/operations.md, "Node.js heap"): a 16 MiB young
// generation (Node's 64-bit default, stated so it does not vary with the machine) and a
// first full-GC limit of 96 MiB (fewer mark-compacts).
// Runs the compiled app; `npm run build` at the repository root produces it.
const path = require('node:path');
const fs = require('node:fs');
const main = path.join(__dirname, '..', 'dist', 'main.js');
if (!fs.existsSync(main)) {
  process.stderr.write('keyval: not built yet; run `npm run build` at the repository root first\n');
  process.exit(1);
}
require(main);
