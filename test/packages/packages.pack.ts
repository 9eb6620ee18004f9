/**
 * The published libraries as a newcomer gets them: `npm pack` each one, check what the tarball
 * holds, install the tarballs into a fresh project outside the workspace, require every
 * package, compile the examples (examples/src) there against the packed declarations with
 * Node16 resolution (which honours `exports`), and run them. `npm run test:packages` (CI runs
 * it; it needs the workspace built and reaches the npm registry only for what npm's cache lacks).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { entryPoints, installInFreshProject, packAll, requiredModules, runToEnd, WORKSPACE } from './pack-harness';
import type { PackedPackage } from './pack-harness';

jest.setTimeout(600_000);

const EXAMPLES = fs.readdirSync(path.join(WORKSPACE, 'examples/src')).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'));
const FORBIDDEN = /(^|\/)(testing|bench)\/|\.(spec|test|conformance)\.|tsbuildinfo$/;

describe('the published libraries, packed and installed outside the workspace', () => {
  let scratch: string;
  let packages: PackedPackage[];
  let project: string;

  beforeAll(async () => {
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'keyval-packages-'));
    expect(path.relative(WORKSPACE, scratch).startsWith('..')).toBe(true);
    packages = await packAll(scratch);
  });

  afterAll(() => {
    if (scratch !== undefined) fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('each manifest is publishable: not private, 0.x, licensed, with exports, types, files and engines', () => {
    for (const { manifest } of packages) {
      expect({ name: manifest.name, private: manifest.private ?? false }).toEqual({ name: manifest.name, private: false });
      expect(manifest.version).toMatch(/^0\.\d+\.\d+$/);
      expect(manifest.license).toBe('Apache-2.0');
      expect(manifest.description?.length ?? 0).toBeGreaterThan(20);
      expect(manifest.engines?.node).toBeDefined();
      expect(manifest.exports?.['.']).toEqual({ types: manifest.types, default: manifest.main });
      for (const [dep, range] of Object.entries(manifest.dependencies ?? {})) {
        if (dep.startsWith('@keyval/')) expect(`${dep}@${range}`).toBe(`${dep}@${manifest.version}`);
      }
    }
  });

  it('each tarball holds its entry points, README, CHANGELOG and the LICENSE, and no specs, test helpers or benchmarks', () => {
    const license = fs.readFileSync(path.join(WORKSPACE, 'LICENSE'), 'utf8');
    for (const p of packages) {
      const expected = ['package.json', 'README.md', 'CHANGELOG.md', 'LICENSE', ...entryPoints(p.manifest)];
      expect({ name: p.name, missing: expected.filter((f) => !p.files.includes(f)) }).toEqual({ name: p.name, missing: [] });
      expect({ name: p.name, unwanted: p.files.filter((f) => FORBIDDEN.test(f)) }).toEqual({ name: p.name, unwanted: [] });
      expect(fs.readFileSync(path.join(WORKSPACE, 'libs', p.dir, 'LICENSE'), 'utf8')).toBe(license);
      const changelog = fs.readFileSync(path.join(WORKSPACE, 'libs', p.dir, 'CHANGELOG.md'), 'utf8');
      expect(changelog).toContain(`## ${p.manifest.version}`);
    }
  });

  it('installs from the tarballs alone: every @keyval package in the project came from a tarball', async () => {
    project = await installInFreshProject(packages, scratch);
    const lock = JSON.parse(fs.readFileSync(path.join(project, 'package-lock.json'), 'utf8')) as { packages: Record<string, { resolved?: string }> };
    const ours = Object.entries(lock.packages).filter(([where]) => where.includes('node_modules/@keyval/'));
    expect(ours.map(([where]) => where).sort()).toEqual(packages.map((p) => `node_modules/${p.name}`).sort());
    for (const [where, entry] of ours) expect({ where, resolved: entry.resolved?.startsWith('file:') }).toEqual({ where, resolved: true });
  });

  it('every module a package requires is a declared dependency (or peer) of it', () => {
    for (const p of packages) {
      const root = path.join(project, 'node_modules', p.name);
      const declared = new Set([...Object.keys(p.manifest.dependencies ?? {}), ...Object.keys(p.manifest.peerDependencies ?? {})]);
      const undeclared = requiredModules(root, p.files).filter((m) => m !== p.name && !declared.has(m));
      expect({ name: p.name, undeclared }).toEqual({ name: p.name, undeclared: [] });
    }
  });

  it('each installed package loads and exports what the workspace build exports', async () => {
    const names = packages.map((p) => p.name);
    const script = `for (const n of ${JSON.stringify(names)}) console.log(JSON.stringify([n, Object.keys(require(n)).sort()]));`;
    const installed = await runToEnd(process.execPath, ['-e', script], project);
    expect(installed).toMatchObject({ code: 0, stderr: '' });
    const lines = installed.stdout.trim().split('\n').map((l) => JSON.parse(l) as [string, string[]]);
    for (const [name, keys] of lines) {
      const dir = packages.find((p) => p.name === name)?.dir ?? name;
      const built = Object.keys(require(path.join(WORKSPACE, 'libs', dir, 'dist/index.js')) as object).sort();
      expect({ name, keys }).toEqual({ name, keys: built });
    }
  });

  it('the examples compile against the packed declarations (Node16 resolution, through exports) and run to PASS', async () => {
    fs.cpSync(path.join(WORKSPACE, 'examples/src'), path.join(project, 'src'), { recursive: true });
    const imports = packages.map((p, k) => `import * as p${k} from '${p.name}';\nexport const n${k} = Object.keys(p${k}).length;`).join('\n');
    fs.writeFileSync(path.join(project, 'src/every-package.ts'), `${imports}\n`);
    const compilerOptions = { target: 'ES2022', lib: ['ES2022'], module: 'node16', moduleResolution: 'node16', strict: true, types: ['node'], rootDir: 'src', outDir: 'dist', skipLibCheck: false };
    fs.writeFileSync(path.join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions, include: ['src'] }, null, 2));
    const tsc = path.join(WORKSPACE, 'node_modules/typescript/bin/tsc');
    const compiled = await runToEnd(process.execPath, [tsc, '-p', 'tsconfig.json'], project);
    expect({ code: compiled.code, errors: compiled.stdout }).toEqual({ code: 0, errors: '' });
    for (const example of EXAMPLES) {
      const ran = await runToEnd(process.execPath, [path.join('dist', example.replace(/\.ts$/, '.js'))], project);
      expect({ example, code: ran.code, stderr: ran.stderr }).toEqual({ example, code: 0, stderr: '' });
      expect(ran.stdout).toMatch(/^PASS: /m);
    }
  });
});
