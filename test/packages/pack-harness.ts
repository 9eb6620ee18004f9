/**
 * Packs the published libraries (tools/published-packages.js) with `npm pack`, reads what
 * each tarball holds, and installs the tarballs into a fresh project outside the workspace:
 * the @keyval packages from the tarballs only, third-party packages from npm's cache first
 * (`--prefer-offline`: a CI clone that ran `npm ci` has them) and the npm registry otherwise.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import { builtinModules } from 'node:module';
import * as path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const WORKSPACE = path.resolve(__dirname, '../..');
export const PUBLISHED: readonly string[] = require(path.join(WORKSPACE, 'tools/published-packages.js'));

export interface PackedPackage {
  readonly dir: string;
  readonly name: string;
  readonly tarball: string;
  /** Paths inside the package (no leading "package/"). */
  readonly files: readonly string[];
  readonly manifest: PackageManifest;
}

export interface PackageManifest {
  readonly name: string;
  readonly version: string;
  readonly private?: boolean;
  readonly license?: string;
  readonly main?: string;
  readonly types?: string;
  readonly exports?: Record<string, { types: string; default: string } | string>;
  readonly bin?: Record<string, string>;
  readonly files?: readonly string[];
  readonly engines?: Record<string, string>;
  readonly description?: string;
  readonly dependencies?: Record<string, string>;
  readonly peerDependencies?: Record<string, string>;
}

/** Packs every published library into `into`; fails if the workspace is not built. */
export async function packAll(into: string): Promise<PackedPackage[]> {
  for (const dir of PUBLISHED) {
    if (!fs.existsSync(path.join(WORKSPACE, 'libs', dir, 'dist/index.js'))) {
      throw new Error(`libs/${dir}/dist/index.js is missing: run \`npm run build\` first`);
    }
  }
  const args = ['pack', '--json', '--pack-destination', into, ...PUBLISHED.map((d) => `--workspace=libs/${d}`)];
  const { stdout } = await run('npm', args, { cwd: WORKSPACE, maxBuffer: 64 << 20 });
  const packed = JSON.parse(stdout) as { name: string; filename: string; files: { path: string }[] }[];
  return PUBLISHED.map((dir) => {
    const manifest = JSON.parse(fs.readFileSync(path.join(WORKSPACE, 'libs', dir, 'package.json'), 'utf8')) as PackageManifest;
    const entry = packed.find((p) => p.name === manifest.name);
    if (entry === undefined) throw new Error(`npm pack did not pack ${manifest.name}`);
    return { dir, name: manifest.name, tarball: path.join(into, entry.filename), files: entry.files.map((f) => f.path), manifest };
  });
}

/** Every file a manifest names as an entry point (main, types, exports, bin). */
export function entryPoints(manifest: PackageManifest): string[] {
  const named = [manifest.main, manifest.types, ...Object.values(manifest.bin ?? {})];
  for (const target of Object.values(manifest.exports ?? {})) {
    named.push(...(typeof target === 'string' ? [target] : [target.types, target.default]));
  }
  return [...new Set(named.filter((f): f is string => f !== undefined).map((f) => path.posix.normalize(f)))];
}

/** Bare module names a package's compiled JavaScript requires (node builtins excluded). */
export function requiredModules(packageRoot: string, files: readonly string[]): string[] {
  const names = new Set<string>();
  for (const file of files.filter((f) => f.endsWith('.js'))) {
    const source = fs.readFileSync(path.join(packageRoot, file), 'utf8');
    for (const m of source.matchAll(/\brequire\(["']([^"'.][^"']*)["']\)/g)) {
      const spec = m[1] as string;
      if (spec.startsWith('node:') || builtinModules.includes(spec.split('/')[0] as string)) continue;
      names.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] as string));
    }
  }
  return [...names].sort();
}

/**
 * A fresh project in the system's temporary directory with the tarballs (and @types/node, to
 * compile TypeScript against the packed declarations) installed. Returns its directory.
 */
export async function installInFreshProject(packages: readonly PackedPackage[], root: string): Promise<string> {
  const project = path.join(root, 'project');
  fs.mkdirSync(project);
  const rootManifest = JSON.parse(fs.readFileSync(path.join(WORKSPACE, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
  const dependencies: Record<string, string> = { '@types/node': rootManifest.devDependencies['@types/node'] as string };
  for (const p of packages) dependencies[p.name] = `file:${p.tarball}`;
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'keyval-package-check', private: true, dependencies }, null, 2));
  // --ignore-scripts: nothing needs building (rocksdb loads its bundled prebuilt binary).
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'], { cwd: project, maxBuffer: 64 << 20 });
  return project;
}

export interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to its end; never throws on a non-zero exit. */
export async function runToEnd(command: string, args: readonly string[], cwd: string, timeoutMs = 120_000): Promise<Ran> {
  try {
    const { stdout, stderr } = await run(command, args, { cwd, timeout: timeoutMs, maxBuffer: 64 << 20 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number | string; stdout?: string; stderr?: string; message: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? e.message };
  }
}
