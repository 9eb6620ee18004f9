/**
 * The runnable examples (examples/src, built by `npm run build` into examples/dist) run in the
 * workspace and print PASS. The same examples run against the packed libraries in
 * packages.pack.ts (`npm run test:packages`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runToEnd, WORKSPACE } from './pack-harness';

const built = path.join(WORKSPACE, 'examples/dist');
const examples = fs.readdirSync(path.join(WORKSPACE, 'examples/src')).filter((f) => f.endsWith('.ts')).map((f) => f.replace(/\.ts$/, '.js'));

describe('the examples', () => {
  it.each(examples)('%s exits 0 and prints PASS', async (example) => {
    const file = path.join(built, example);
    expect({ built: fs.existsSync(file) }).toEqual({ built: true }); // `npm run build` compiles them
    const ran = await runToEnd(process.execPath, [file], WORKSPACE, 120_000);
    expect({ code: ran.code, stderr: ran.stderr }).toEqual({ code: 0, stderr: '' });
    expect(ran.stdout).toMatch(/^PASS: /m);
    expect(ran.stdout).not.toMatch(/^FAIL/m);
  }, 150_000);
});
