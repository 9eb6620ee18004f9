// Lets plain `node` run this repository's TypeScript sources, for the crash tests' child
// processes and CLI: `node -r ./test/crash/ts-register.js file.ts`. Each .ts file is compiled by
// SWC when first required, and `@keyval/<lib>` resolves to libs/<lib>/src/index.ts as in Jest,
// so the children always run the current sources, built or not.
'use strict';
const fs = require('node:fs');
const Module = require('node:module');
const path = require('node:path');
const { transformSync } = require('@swc/core');

const root = path.resolve(__dirname, '..', '..');
const resolveFilename = Module._resolveFilename;

Module._resolveFilename = function resolveKeyval(request, ...rest) {
  const match = /^@keyval\/([a-z-]+)$/.exec(request);
  if (match !== null) {
    return path.join(root, 'libs', match[1], 'src', 'index.ts');
  }
  return resolveFilename.call(this, request, ...rest);
};

Module._extensions['.ts'] = function compileTypeScript(module, filename) {
  const { code } = transformSync(fs.readFileSync(filename, 'utf8'), {
    filename,
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'commonjs' },
    sourceMaps: 'inline',
  });
  module._compile(code, filename);
};
