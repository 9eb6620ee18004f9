/**
 * Crash test with a real process: a child applies batches of puts to a RocksStateMachine and
 * reports each applied index once apply resolves; the test SIGKILLs it at a random moment,
 * reopens the data dir, and checks that the state is exactly the log's prefix up to the
 * durable applied index (never less than acknowledged, nothing applied twice or half-way),
 * then lets the next child continue from there. More rounds: KEYVAL_SM_CRASH_ROUNDS=N.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { removeDir, tempDir } from '../testing/log-builder.test';
import { RocksStateMachine } from './rocks-state-machine';

const SRC = path.resolve(__dirname, '..');
const ROOT = path.resolve(SRC, '../../..');
const ROUNDS = Number(process.env['KEYVAL_SM_CRASH_ROUNDS'] ?? 3);
const BATCH = 50;

/** The child: registers an SWC require hook for TypeScript, then applies until killed. */
const CHILD = `
const Module = require('module');
const path = require('path');
const swc = require(require.resolve('@swc/core', { paths: [${JSON.stringify(ROOT)}] }));
require.extensions['.ts'] = (module, filename) => {
  const { code } = swc.transformFileSync(filename, { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } });
  module._compile(code, filename);
};
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  const match = /^@keyval\\/([a-z-]+)$/.exec(request);
  return match ? path.join(${JSON.stringify(ROOT)}, 'libs', match[1], 'src', 'index.ts') : resolve.call(this, request, ...rest);
};
const { RocksStateMachine } = require(${JSON.stringify(path.join(SRC, 'rocks/rocks-state-machine.ts'))});
const { encodeCommand } = require(${JSON.stringify(path.join(SRC, 'codec/command-codec.ts'))});
(async () => {
  const sm = await RocksStateMachine.open({ dataDir: process.argv[1] });
  let index = sm.appliedIndex() + 1;
  for (;;) {
    const entries = [];
    for (let k = 0; k < ${BATCH}; k++, index++) {
      const op = { type: 'put', request: { key: Buffer.from('k' + index), value: Buffer.from('v' + index) } };
      entries.push({ index, term: 1, type: 0, data: encodeCommand({ timestampMs: index, op }) });
    }
    await sm.apply(entries);
    process.stdout.write(sm.appliedIndex() + '\\n');
  }
})();
`;

/** Runs a child until it has acknowledged `acks` batches, then SIGKILLs it; returns the last acknowledged index. */
function runAndKill(dataDir: string, acks: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', CHILD, dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let acknowledged = 0;
    let seen = 0;
    let stderr = '';
    let pending = '';
    child.stdout.on('data', (data: Buffer) => {
      pending += data.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        acknowledged = Number(line);
        if (++seen === acks) {
          child.kill('SIGKILL');
        }
      }
    });
    child.stderr.on('data', (data: Buffer) => (stderr += data.toString()));
    child.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve(acknowledged) : reject(new Error(`child exited with ${code}: ${stderr}`))));
  });
}

describe('RocksStateMachine under kill -9', () => {
  it(`keeps exactly the applied prefix of the log across ${ROUNDS} SIGKILLs`, async () => {
    const dataDir = await tempDir('crash');
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const acknowledged = await runAndKill(dataDir, 3 + Math.floor(Math.random() * 20));
        const sm = await RocksStateMachine.open({ dataDir });
        try {
          const applied = sm.appliedIndex();
          expect(applied).toBeGreaterThanOrEqual(acknowledged);
          expect(applied % BATCH).toBe(0); // whole batches only
          expect(sm.revision()).toBe(applied + 1); // one revision per put, none twice
          const all = await sm.range({ key: Uint8Array.of(0), rangeEnd: Uint8Array.of(0), keysOnly: true });
          expect(all.count).toBe(applied);
          for (const index of [1, applied, Math.ceil(applied / 2)]) {
            const kv = (await sm.range({ key: Buffer.from(`k${index}`) })).kvs[0];
            expect(kv && { mod: kv.modRevision, value: Buffer.from(kv.value).toString() }).toEqual({ mod: index + 1, value: `v${index}` });
          }
        } finally {
          await sm.close();
        }
      }
    } finally {
      await removeDir(dataDir);
    }
  }, 120_000);
});
