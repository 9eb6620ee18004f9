import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MUTANTS, MUTANTS_DIR, patchFile } from './catalog';
import { hunt } from './hunt';
import { MutantBuildError, buildMutant, checkPatchApplies, patchedProjects, projectClosure } from './mutant-build';
import { REPO_ROOT, parseMutantsCli } from './mutants-main';

describe('the mutation suite', () => {
  it('has one patch file per catalog entry, and no other', () => {
    const files = readdirSync(join(REPO_ROOT, MUTANTS_DIR)).filter((f) => f.endsWith('.patch')).sort();
    expect(files).toEqual(MUTANTS.map((m) => `${m.name}.patch`).sort());
    expect(MUTANTS.length).toBeGreaterThanOrEqual(8);
    for (const m of MUTANTS) {
      expect(m.maxSeeds).toBeGreaterThan(0);
      expect(m.maxSeeds).toBeLessThanOrEqual(500);
      expect(m.breaks).toMatch(/§\d/);
    }
  });

  it.each(MUTANTS.map((m) => [m.name]))('%s still applies to the current sources, and marks its change', (name) => {
    const mutant = MUTANTS.find((m) => m.name === name)!;
    expect(() => checkPatchApplies(REPO_ROOT, mutant.name, patchFile(REPO_ROOT, mutant))).not.toThrow();
    expect(readFileSync(patchFile(REPO_ROOT, mutant), 'utf8')).toContain(`MUTANT ${name}`);
  });

  it('fails loudly when a patch no longer applies', () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyval-stale-patch-'));
    try {
      const stale = join(dir, 'stale.patch');
      const original = readFileSync(patchFile(REPO_ROOT, MUTANTS[0]!), 'utf8');
      // The context no longer matches, as if someone had edited the lines around the change.
      const lines = original.split('\n');
      const context = lines.findIndex((line, k) => k > lines.findIndex((l) => l.startsWith('@@')) && line.startsWith(' ') && line.trim() !== '');
      lines[context] = `${lines[context]} // edited since`;
      writeFileSync(stale, lines.join('\n'));
      expect(() => checkPatchApplies(REPO_ROOT, 'stale', stale)).toThrow(MutantBuildError);
      expect(() => checkPatchApplies(REPO_ROOT, 'stale', stale)).toThrow(/patch failed: git apply/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('copies only what the simulation loads and lets a patch touch only their sources', () => {
    const closure = projectClosure(REPO_ROOT, 'raft-sim');
    expect(closure[closure.length - 1]).toBe('raft-sim');
    expect(closure).toEqual(expect.arrayContaining(['raft', 'lincheck', 'storage', 'cluster', 'statemachine']));
    expect(closure.indexOf('raft')).toBeLessThan(closure.indexOf('raft-sim'));
    const header = (path: string): string => `--- a/${path}\n+++ b/${path}\n@@ -1 +1 @@\n-x\n+y\n`;
    expect(patchedProjects('m', header('libs/raft/src/quorum.ts'), closure)).toEqual(['raft']);
    expect(() => patchedProjects('m', header('libs/raft/package.json'), closure)).toThrow('may only change libs/<project>/src/*.ts');
    expect(() => patchedProjects('m', header('libs/api/src/kv-service.ts'), closure)).toThrow('which the simulation does not load');
    expect(patchedProjects('m', header('libs/cluster/src/driver/ready-loop.ts'), closure)).toEqual(['cluster']);
    expect(() => patchedProjects('m', 'no diff here\n', closure)).toThrow('changes no file');
  });

  it('parses its command line and refuses what it does not know', () => {
    expect(parseMutantsCli(['--only', 'double-vote,no-noop', '--seeds', '5']).mutants.map((m) => m.name)).toEqual(['double-vote', 'no-noop']);
    expect(parseMutantsCli(['--schedules', 'random,figure8']).schedules).toEqual([undefined, 'figure8']);
    expect(() => parseMutantsCli(['--only', 'bogus'])).toThrow('unknown mutant "bogus"');
    expect(() => parseMutantsCli(['--schedules', 'bogus'])).toThrow('unknown schedule "bogus"');
    expect(() => parseMutantsCli(['--seeds', '0'])).toThrow('--seeds must be an integer');
  });

  // End to end on two mutants: a build in a temporary copy, seeds run in worker threads on the
  // mutated core, the bug found by the check aimed at it, and the repository left untouched.
  it.each([
    ['double-vote', 'undurable-promise'],
    ['no-noop', 'liveness'],
  ])('builds %s in a copy and finds it on the first random seed (%s)', async (name, kind) => {
    const mutant = MUTANTS.find((m) => m.name === name)!;
    const build = buildMutant(REPO_ROOT, mutant.name, patchFile(REPO_ROOT, mutant));
    try {
      expect(build.patched).toEqual(['raft']);
      expect(readFileSync(join(build.dir, 'libs', 'raft', 'src', 'raft.ts'), 'utf8')).toContain(`MUTANT ${name}`);
      expect(readFileSync(join(REPO_ROOT, 'libs', 'raft', 'src', 'raft.ts'), 'utf8')).not.toContain('MUTANT');
      const result = await hunt({ workerFile: build.workerFile, workers: 1, schedules: [undefined], firstSeed: 1, maxSeeds: 2, base: { skipLincheck: true }, runTimeoutMs: 120_000 });
      expect(result.finding).toMatchObject({ seed: 1, schedule: 'random', runs: 1, kind });
    } finally {
      build.dispose();
    }
    const diff = execFileSync('git', ['status', '--porcelain', '--', 'libs/raft'], { cwd: REPO_ROOT }).toString();
    expect(diff).toBe('');
  }, 180_000);
});
