#!/usr/bin/env node
'use strict';
// Runs the compiled app; `npm run build` at the repository root produces it.
const path = require('node:path');
const fs = require('node:fs');
const main = path.join(__dirname, '..', 'dist', 'main.js');
if (!fs.existsSync(main)) {
  process.stderr.write('keyval: not built yet; run `npm run build` at the repository root first\n');
  process.exit(1);
}
require(main);
