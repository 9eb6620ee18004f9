/**
 * The container image, built and run on this machine (`npm run test:image`, run by CI): the
 * real deployments/docker/Dockerfile built with podman on a local Debian base holding this
 * machine's Node.js 20 (deployments/docker/local-base.sh; no registry serves base images
 * here), then three members and a gateway started from it as containers on loopback ports
 * (host network), read-only root filesystem, each member with its own volume. Proven through
 * etcdctl and the image's own kvctl: data through the gateway and the members, the member
 * list, the HEALTHCHECK, the non-root user, the read-only root, and SIGTERM to PID 1 handing
 * leadership off and exiting 0. Prints the build time and the image size.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { etcdctlOk, parseEtcdctlJson } from '../integration/harness/etcdctl';
import { freePorts } from '../integration/harness/free-ports';
import { httpGet } from '../integration/harness/http-get';
import { waitFor } from '../integration/harness/wait-for';
import { REPO_ROOT } from './manifests';

jest.setTimeout(1_800_000);

const PODMAN = ['--runtime', 'runc', '--cgroup-manager=cgroupfs'];
const ULIMITS = ['--ulimit', 'nofile=20000:20000', '--ulimit', 'nproc=4096:4096'];
const BASE = 'localhost/keyval-base:bookworm-node20';
const IMAGE = 'localhost/keyval:ci-test';
const PREFIX = 'kvci-';
/** The image's user (Dockerfile USER). */
const IMAGE_UID = 10001;

function run(file: string, args: readonly string[], timeoutMs = 120_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, [...args], { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8', cwd: REPO_ROOT }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
    });
  });
}

async function podman(args: readonly string[], timeoutMs = 120_000): Promise<string> {
  const r = await run('podman', [...PODMAN, ...args], timeoutMs);
  if (r.code !== 0) throw new Error(`podman ${args.join(' ')}: exit ${r.code}: ${r.stderr.trim().slice(-3000)}`);
  return r.stdout;
}

/** npm's setting on this machine, or undefined. */
async function npmConfig(key: string): Promise<string | undefined> {
  const value = (await run('npm', ['config', 'get', key])).stdout.trim();
  return value === '' || value === 'null' || value === 'undefined' ? undefined : value;
}

async function removeContainers(): Promise<void> {
  const names = (await podman(['ps', '-a', '--format', '{{.Names}}'])).split('\n').filter((n) => n.startsWith(PREFIX));
  if (names.length > 0) await podman(['rm', '-f', '-t', '0', ...names]);
}

interface Member {
  readonly name: string;
  readonly client: number;
  readonly peer: number;
  readonly metrics: number;
  readonly volume: string;
}

describe('the container image (podman, on a local Debian base with this machine\'s Node.js 20)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyval-image-'));
  let members: Member[] = [];
  let gateway = { client: 0, metrics: 0 };

  beforeAll(async () => {
    for (const tool of ['podman', 'runc', 'mmdebstrap']) {
      if ((await run('sh', ['-c', `command -v ${tool}`])).code !== 0) throw new Error(`${tool} is not installed (.ci/run installs it)`);
    }
    await removeContainers();
    const base = await run(path.join(REPO_ROOT, 'deployments', 'docker', 'local-base.sh'), [BASE], 900_000);
    if (base.code !== 0) throw new Error(`local-base.sh failed: ${base.stderr.slice(-3000)}`);
    // The build installs from this machine's npm cache, online when it has to (through the
    // CA bundle npm is configured with here).
    const cache = (await npmConfig('cache')) ?? path.join(os.homedir(), '.npm');
    const cafile = await npmConfig('cafile');
    const npmFlags = ['--prefer-offline', ...(cafile === undefined ? [] : ['--cafile=/run/build-ca.crt'])].join(' ');
    const started = performance.now();
    await podman(
      ['build', ...ULIMITS, '--format', 'docker', '--network', 'host', '-v', `${cache}:/root/.npm`, ...(cafile === undefined ? [] : ['-v', `${cafile}:/run/build-ca.crt:ro`]), '--build-arg', `BASE_IMAGE=${BASE}`, '--build-arg', `NPM_CI_FLAGS=${npmFlags}`, '-f', 'deployments/docker/Dockerfile', '-t', IMAGE, '.'],
      1_500_000,
    );
    const seconds = Math.round((performance.now() - started) / 1000);
    const bytes = Number((await podman(['image', 'inspect', '--format', '{{.Size}}', IMAGE])).trim());
    process.stdout.write(`[image] built ${IMAGE} in ${seconds} s; ${(bytes / 1e6).toFixed(0)} MB (the base ${BASE}: ${(Number((await podman(['image', 'inspect', '--format', '{{.Size}}', BASE])).trim()) / 1e6).toFixed(0)} MB)\n`);

    const ports = await freePorts(11);
    members = [0, 1, 2].map((k) => ({ name: `n${k + 1}`, client: ports[3 * k] as number, peer: ports[3 * k + 1] as number, metrics: ports[3 * k + 2] as number, volume: path.join(dir, `n${k + 1}`) }));
    gateway = { client: ports[9] as number, metrics: ports[10] as number };
    const cluster = members.map((m) => `${m.name}=http://127.0.0.1:${m.peer}`).join(',');
    for (const m of members) {
      fs.mkdirSync(m.volume);
      fs.chownSync(m.volume, IMAGE_UID, IMAGE_UID);
      await podman([
        'run', '-d', '--name', `${PREFIX}${m.name}`, '--network', 'host', '--read-only', ...ULIMITS, '-v', `${m.volume}:/var/lib/keyval`, '-e', `KEYVAL_HEALTHCHECK_URL=http://127.0.0.1:${m.metrics}/healthz`,
        IMAGE, 'keyval', `--name=${m.name}`, `--listen-client-urls=http://127.0.0.1:${m.client}`, `--advertise-client-urls=http://127.0.0.1:${m.client}`, `--listen-peer-urls=http://127.0.0.1:${m.peer}`,
        `--listen-metrics-urls=http://127.0.0.1:${m.metrics}`, `--initial-cluster=${cluster}`, '--initial-cluster-token=kvci',
      ]);
    }
    await podman([
      'run', '-d', '--name', `${PREFIX}gateway`, '--network', 'host', '--read-only', ...ULIMITS, '-e', `KEYVAL_HEALTHCHECK_URL=http://127.0.0.1:${gateway.metrics}/healthz`,
      IMAGE, 'keyval-gateway', `--endpoints=${members.map((m) => `127.0.0.1:${m.client}`).join(',')}`, `--listen-client-urls=http://127.0.0.1:${gateway.client}`, `--listen-metrics-urls=http://127.0.0.1:${gateway.metrics}`,
    ]);
    for (const port of [...members.map((m) => m.metrics), gateway.metrics]) {
      await waitFor(async () => ((await httpGet(`http://127.0.0.1:${port}/readyz`).catch(() => ({ status: 0 }))).status === 200 ? true : undefined), { timeoutMs: 60_000, what: `readiness on port ${port}` });
    }
  });

  afterAll(async () => {
    await removeContainers();
    await run('podman', [...PODMAN, 'rmi', '-f', IMAGE]);
    await run('podman', [...PODMAN, 'image', 'prune', '-f', '--filter', 'label=org.keyval.stage=build']);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const clientEndpoints = (): string[] => members.map((m) => `127.0.0.1:${m.client}`);

  it('serves etcdctl through the gateway and the members', async () => {
    await etcdctlOk([`127.0.0.1:${gateway.client}`], ['put', 'image/greeting', 'hello']);
    expect(await etcdctlOk([`127.0.0.1:${gateway.client}`], ['get', 'image/greeting', '--print-value-only'])).toBe('hello\n');
    expect(await etcdctlOk(clientEndpoints().slice(2), ['get', 'image/greeting', '--print-value-only'])).toBe('hello\n');
    const list = parseEtcdctlJson(await etcdctlOk(clientEndpoints(), ['member', 'list', '-w', 'json'])) as { members: { name: string }[] };
    expect(list.members.map((m) => m.name).sort()).toEqual(['n1', 'n2', 'n3']);
  });

  it('runs kvctl from the same image', async () => {
    const out = await podman(['run', '--rm', '--network', 'host', '--read-only', ...ULIMITS, IMAGE, 'kvctl', `--endpoints=${clientEndpoints().join(',')}`, '-o', 'json', 'status']);
    expect((JSON.parse(out) as { name: string }[]).map((r) => r.name).sort()).toEqual(['n1', 'n2', 'n3']);
  });

  it('passes its HEALTHCHECK, runs as the unprivileged user on a read-only root', async () => {
    for (const n of ['n1', 'gateway']) await podman(['healthcheck', 'run', `${PREFIX}${n}`]);
    expect((await podman(['exec', `${PREFIX}n1`, 'id', '-u'])).trim()).toBe(String(IMAGE_UID));
    expect((await podman(['exec', `${PREFIX}n1`, 'cat', '/proc/1/cmdline'])).split('\0')[0]).toBe('node');
    const write = await run('podman', [...PODMAN, 'exec', `${PREFIX}n1`, 'touch', '/opt/keyval/x']);
    expect(write.code).not.toBe(0);
    expect(write.stderr).toContain('Read-only file system');
  });

  it('stops gracefully on SIGTERM to PID 1: leadership handed off, exit 0, well before the kill', async () => {
    const statuses = parseEtcdctlJson(await etcdctlOk(clientEndpoints(), ['endpoint', 'status', '-w', 'json'])) as { Status: { header: { member_id: bigint }; leader: bigint } }[];
    const leaderId = statuses[0]?.Status.leader;
    const index = statuses.findIndex((s) => s.Status.header.member_id === leaderId);
    const leader = members[index] as Member;
    const started = performance.now();
    await podman(['stop', '-t', '30', `${PREFIX}${leader.name}`]);
    const stopMs = performance.now() - started;
    expect((await podman(['inspect', '--format', '{{.State.ExitCode}}', `${PREFIX}${leader.name}`])).trim()).toBe('0');
    expect(stopMs).toBeLessThan(20_000);
    const others = members.filter((m) => m !== leader).map((m) => `127.0.0.1:${m.client}`);
    await etcdctlOk([`127.0.0.1:${gateway.client}`], ['put', 'image/after', 'leader-stopped']);
    expect(await etcdctlOk(others, ['get', 'image/after', '--print-value-only'])).toBe('leader-stopped\n');
    const logs = await run('podman', [...PODMAN, 'logs', `${PREFIX}${leader.name}`]);
    expect(logs.stdout).toContain('"signal":"SIGTERM"');
  });
});
