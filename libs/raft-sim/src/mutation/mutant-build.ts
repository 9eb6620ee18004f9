/**
 * A mutant build: a private copy of the projects the simulation loads, with one patch applied
 * and the patched projects recompiled, in a temporary directory. The repository's sources and
 * builds are never touched, so a mutant can never leak into a commit or a running test.
 *
 *     <tmp>/tsconfig.base.json
 *     <tmp>/libs/<project>/{package.json,tsconfig.json,src/,dist/}   for raft-sim and its @keyval deps
 *     <tmp>/node_modules/<package>      → symlinks to the repository's node_modules
 *     <tmp>/node_modules/@keyval/<p>    → <tmp>/libs/<p>             (so the copy loads the copy)
 *
 * The patch is applied with `git apply`, which refuses any hunk whose context does not match
 * exactly: a patch that no longer applies to the current sources fails loudly (MutantBuildError)
 * instead of silently testing nothing. Only projects the patch touches are recompiled (`tsc -p`,
 * type-checked, incremental from the copied build); a patch that does not compile fails too.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';

/** The project whose worker runs the seeds (its dependency closure is copied). */
export const SIM_PROJECT = 'raft-sim';
/** Entries of node_modules that are not linked into a copy. */
const NOT_LINKED = new Set(['@keyval', '.bin', '.cache', '.package-lock.json']);

export class MutantBuildError extends Error {
  constructor(
    readonly mutant: string,
    readonly step: 'patch' | 'compile' | 'layout',
    detail: string,
  ) {
    super(`mutant ${mutant}: ${step} failed: ${detail}`);
    this.name = 'MutantBuildError';
  }
}

export interface MutantBuild {
  readonly mutant: string;
  readonly dir: string;
  /** The simulation's worker-thread entry point inside the copy. */
  readonly workerFile: string;
  /** Projects the patch changed (recompiled). */
  readonly patched: readonly string[];
  /** Removes the copy. */
  dispose(): void;
}

/** The @keyval projects `project` needs at run time, itself included, dependencies first. */
export function projectClosure(repoRoot: string, project: string): string[] {
  const order: string[] = [];
  const visit = (name: string, path: readonly string[]): void => {
    if (order.includes(name)) {
      return;
    }
    if (path.includes(name)) {
      throw new MutantBuildError('-', 'layout', `dependency cycle through ${[...path, name].join(' -> ')}`);
    }
    const manifest = join(repoRoot, 'libs', name, 'package.json');
    if (!existsSync(manifest)) {
      throw new MutantBuildError('-', 'layout', `no project libs/${name}`);
    }
    const deps = Object.keys((JSON.parse(readFileSync(manifest, 'utf8')) as { dependencies?: Record<string, string> }).dependencies ?? {});
    for (const dep of deps) {
      if (dep.startsWith('@keyval/')) {
        visit(dep.slice('@keyval/'.length), [...path, name]);
      }
    }
    order.push(name);
  };
  visit(project, []);
  return order;
}

/** The projects a unified diff touches (`+++ b/libs/<project>/...`); anything else is refused. */
export function patchedProjects(mutant: string, patch: string, closure: readonly string[]): string[] {
  const projects = new Set<string>();
  for (const line of patch.split('\n')) {
    if (!line.startsWith('+++ ') && !line.startsWith('--- ')) {
      continue;
    }
    const path = line.slice(4).trim();
    if (path === '/dev/null') {
      continue;
    }
    const match = /^[ab]\/libs\/([a-z0-9-]+)\/src\/[A-Za-z0-9_./-]+\.ts$/.exec(path);
    if (match === null || match[1] === undefined) {
      throw new MutantBuildError(mutant, 'patch', `the patch touches ${path}; mutants may only change libs/<project>/src/*.ts`);
    }
    if (!closure.includes(match[1])) {
      throw new MutantBuildError(mutant, 'patch', `the patch touches libs/${match[1]}, which the simulation does not load (${closure.join(', ')})`);
    }
    projects.add(match[1]);
  }
  if (projects.size === 0) {
    throw new MutantBuildError(mutant, 'patch', 'the patch changes no file');
  }
  return closure.filter((p) => projects.has(p));
}

/**
 * Builds the mutant `mutant` from `patchFile` against the sources and builds in `repoRoot`
 * (which must be built: `npm run build`). Throws MutantBuildError when the patch does not
 * apply or the result does not compile; the temporary copy is removed then.
 */
export function buildMutant(repoRoot: string, mutant: string, patchPath: string): MutantBuild {
  const patchFile = resolve(patchPath);
  const patch = readFileSync(patchFile, 'utf8');
  const closure = projectClosure(repoRoot, SIM_PROJECT);
  const patched = patchedProjects(mutant, patch, closure);
  const dir = mkdtempSync(join(tmpdir(), `keyval-mutant-${mutant}-`));
  const dispose = (): void => rmSync(dir, { recursive: true, force: true });
  try {
    copyProjects(repoRoot, dir, closure);
    linkNodeModules(repoRoot, dir, closure);
    applyPatch(mutant, dir, patchFile);
    for (const project of patched) {
      compile(repoRoot, mutant, dir, project);
    }
  } catch (error) {
    dispose();
    throw error;
  }
  return { mutant, dir, workerFile: join(dir, 'libs', SIM_PROJECT, 'dist', 'sim-worker.js'), patched, dispose };
}

/** Checks that `patchFile` applies to the sources in `repoRoot` (nothing is written). */
export function checkPatchApplies(repoRoot: string, mutant: string, patchPath: string): void {
  const patchFile = resolve(patchPath);
  const patch = readFileSync(patchFile, 'utf8');
  patchedProjects(mutant, patch, projectClosure(repoRoot, SIM_PROJECT));
  runGitApply(mutant, repoRoot, ['--check', patchFile]);
}

function copyProjects(repoRoot: string, dir: string, closure: readonly string[]): void {
  cpSync(join(repoRoot, 'tsconfig.base.json'), join(dir, 'tsconfig.base.json'));
  for (const project of closure) {
    const from = join(repoRoot, 'libs', project);
    const to = join(dir, 'libs', project);
    if (!existsSync(join(from, 'dist', 'index.js'))) {
      throw new MutantBuildError('-', 'layout', `libs/${project} is not built (run npm run build first)`);
    }
    mkdirSync(to, { recursive: true });
    for (const entry of ['package.json', 'tsconfig.json', 'src', 'dist']) {
      // Timestamps are kept so the incremental compiler sees the copied build as up to date.
      cpSync(join(from, entry), join(to, entry), { recursive: true, preserveTimestamps: true });
    }
  }
}

function linkNodeModules(repoRoot: string, dir: string, closure: readonly string[]): void {
  const source = join(repoRoot, 'node_modules');
  const target = join(dir, 'node_modules');
  mkdirSync(join(target, '@keyval'), { recursive: true });
  for (const entry of readdirSync(source)) {
    if (!NOT_LINKED.has(entry)) {
      symlinkSync(join(source, entry), join(target, entry));
    }
  }
  for (const project of closure) {
    symlinkSync(join(dir, 'libs', project), join(target, '@keyval', project));
  }
}

function applyPatch(mutant: string, dir: string, patchFile: string): void {
  runGitApply(mutant, dir, ['--check', patchFile]);
  runGitApply(mutant, dir, [patchFile]);
  // Record what was applied next to the copy, for whoever inspects it.
  writeFileSync(join(dir, 'MUTANT'), `${mutant}\n${relative(dirname(patchFile), patchFile)}\n`);
}

function runGitApply(mutant: string, cwd: string, args: readonly string[]): void {
  try {
    // --recount: patch files may be edited by hand; the hunk headers' counts are not trusted.
    // GIT_CEILING_DIRECTORIES keeps git from treating an enclosing repository as the target.
    execFileSync('git', ['apply', '--recount', '--whitespace=nowarn', ...args], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, GIT_CEILING_DIRECTORIES: dirname(cwd) },
    });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim() ?? String(error);
    throw new MutantBuildError(mutant, 'patch', `git apply ${args.join(' ')} (in ${cwd}):\n${stderr}\nThe sources changed under the patch: regenerate it (see docs/simulation.md).`);
  }
}

function compile(repoRoot: string, mutant: string, dir: string, project: string): void {
  const tsc = require.resolve('typescript/bin/tsc', { paths: [repoRoot] });
  try {
    execFileSync(process.execPath, [tsc, '-p', join(dir, 'libs', project, 'tsconfig.json')], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const out = `${(error as { stdout?: Buffer }).stdout?.toString() ?? ''}${(error as { stderr?: Buffer }).stderr?.toString() ?? ''}`.trim();
    throw new MutantBuildError(mutant, 'compile', `tsc -p libs/${project}:\n${out}`);
  }
}
