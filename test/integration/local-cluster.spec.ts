/**
 * The README's first command (`npm run cluster` = tools/local-cluster.js): three members and
 * the gateway start, clients use the gateway's one address, Ctrl-C — SIGINT to the whole
 * foreground process group, as a terminal sends it — stops every process cleanly (exit 0),
 * and running it again restarts on the same data. With --tls everything speaks mutual TLS
 * (the printed etcdctl command works; a client without a certificate is refused).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { etcdctl } from './harness/etcdctl';
import { waitFor } from './harness/wait-for';

jest.setTimeout(120_000);

const SCRIPT = path.resolve(__dirname, '..', '..', 'tools', 'local-cluster.js');

interface Running {
  readonly child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

/** Starts the script in a process group of its own (as a shell does for a foreground job). */
function start(dataDir: string, portBase: number, flags: readonly string[] = []): Running {
  const child = spawn(process.execPath, [SCRIPT, ...flags], {
    env: { ...process.env, KEYVAL_LOCAL_DATA_DIR: dataDir, KEYVAL_LOCAL_PORT_BASE: String(portBase) },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

/** Ctrl-C: SIGINT to every process of the job's group. */
function ctrlC(running: Running): void {
  process.kill(-(running.child.pid as number), 'SIGINT');
}

describe('npm run cluster (tools/local-cluster.js)', () => {
  let dir = '';
  const running: Running[] = [];
  // Ports below the ephemeral range, spread per run to avoid a neighbour's leftovers.
  const base = 21_000 + 100 * Math.floor(Math.random() * 60);

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'keyval-local-'));
  });

  afterAll(async () => {
    for (const r of running) {
      if (r.child.exitCode === null) process.kill(-(r.child.pid as number), 'SIGKILL');
    }
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('serves through the gateway, stops cleanly on Ctrl-C, and restarts on the same data', async () => {
    const gateway = [`127.0.0.1:${base}`];
    const first = start(dir, base);
    running.push(first);
    await waitFor(() => first.output().includes(`clients use: 127.0.0.1:${base}`), { timeoutMs: 30_000, what: 'the address line' });
    await waitFor(async () => (await etcdctl(gateway, ['put', 'greeting', 'hello'])).code === 0, { timeoutMs: 30_000, intervalMs: 250, what: 'a put through the gateway' });

    ctrlC(first);
    expect(await first.exited).toBe(0);
    for (const name of ['n1', 'n2', 'n3', 'gw']) {
      expect(first.output()).toMatch(new RegExp(`${name} *\\| exited \\(0\\)`));
    }
    expect(first.output()).not.toContain('second signal');

    const second = start(dir, base);
    running.push(second);
    const read = await waitFor(
      async () => {
        const r = await etcdctl(gateway, ['get', 'greeting', '--print-value-only']);
        return r.code === 0 && r.stdout.trim() !== '' ? r.stdout.trim() : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 250, what: 'the key after the restart' },
    );
    expect(read).toBe('hello');
    ctrlC(second);
    expect(await second.exited).toBe(0);
  });

  it('--tls: mutual TLS everywhere, with the etcdctl command it prints', async () => {
    const tlsDir = path.join(dir, 'tls');
    const run = start(tlsDir, base + 50, ['--tls']);
    running.push(run);
    const line = await waitFor(() => /try: etcdctl (.*) put hello world/.exec(run.output())?.[1], { timeoutMs: 30_000, what: 'the etcdctl line' });
    const args = line.split(' ');
    const endpoint = (args.find((a) => a.startsWith('--endpoints=')) as string).slice('--endpoints='.length);
    expect(endpoint).toBe(`https://127.0.0.1:${base + 50}`);
    const tlsFlags = args.filter((a) => !a.startsWith('--endpoints='));
    expect(tlsFlags).toEqual([expect.stringMatching(/^--cacert=/), expect.stringMatching(/^--cert=/), expect.stringMatching(/^--key=/)]);
    await waitFor(async () => (await etcdctl([endpoint], [...tlsFlags, 'put', 'greeting', 'over TLS'])).code === 0, { timeoutMs: 30_000, intervalMs: 250, what: 'a put through the gateway over TLS' });
    const got = await etcdctl([`https://127.0.0.1:${base + 50 + 10}`], [...tlsFlags, 'get', 'greeting', '--print-value-only']);
    expect(got.stdout.trim()).toBe('over TLS');
    const noCert = await etcdctl([endpoint], [tlsFlags[0] as string, 'get', 'greeting'], { commandTimeoutMs: 2_000 });
    expect(noCert.code).not.toBe(0);
    ctrlC(run);
    expect(await run.exited).toBe(0);
  });
});
