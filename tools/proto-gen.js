#!/usr/bin/env node
// Generates TypeScript from proto/ with buf and the ts-proto plugin from node_modules, so a
// plain `npm ci` needs no system protoc. Does nothing when there are no .proto files yet.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const protoDir = path.join(root, 'proto');
const hasProtos = (dir) =>
  fs.existsSync(dir) &&
  fs.readdirSync(dir, { withFileTypes: true }).some((e) => (e.isDirectory() ? hasProtos(path.join(dir, e.name)) : e.name.endsWith('.proto')));
if (!hasProtos(protoDir) || !fs.existsSync(path.join(root, 'buf.gen.yaml'))) {
  process.exit(0);
}
execFileSync(path.join(root, 'node_modules', '.bin', 'buf'), ['generate'], { cwd: root, stdio: 'inherit' });
