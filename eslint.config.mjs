// Lint for the whole workspace. Module boundaries come from the Nx project graph (tags in each
// package.json); libs/raft is additionally held to purity: no I/O, clocks, timers, process,
// global randomness or async code outside its spec files (DEVELOPERS.md, ../shared/STYLE.md).
import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

const nodeBuiltins = (await import('node:module')).builtinModules;

export default [
  { ignores: ['**/node_modules/**', '**/dist/**', 'libs/proto/src/gen/**', 'coverage/**', 'reports/**', 'data/**'] },
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  {
    files: ['**/*.ts'],
    languageOptions: { parser: tseslint.parser },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: [],
          depConstraints: [
            { sourceTag: 'scope:outcome', onlyDependOnLibsWithTags: ['scope:outcome'] },
            { sourceTag: 'scope:raft', onlyDependOnLibsWithTags: ['scope:raft'] },
            { sourceTag: 'scope:lincheck', onlyDependOnLibsWithTags: ['scope:lincheck'] },
            { sourceTag: 'scope:proto', onlyDependOnLibsWithTags: ['scope:proto'] },
            { sourceTag: 'scope:grpc', onlyDependOnLibsWithTags: ['scope:outcome', 'scope:grpc', 'scope:proto'] },
            { sourceTag: 'scope:sim', onlyDependOnLibsWithTags: ['scope:outcome', 'scope:raft', 'scope:lincheck', 'scope:storage', 'scope:statemachine', 'scope:cluster'] },
            { sourceTag: 'scope:storage', onlyDependOnLibsWithTags: ['scope:raft', 'scope:storage'] },
            { sourceTag: 'scope:cluster', onlyDependOnLibsWithTags: ['scope:outcome', 'scope:raft', 'scope:storage', 'scope:statemachine', 'scope:proto', 'scope:grpc', 'scope:cluster'] },
            { sourceTag: 'scope:api', onlyDependOnLibsWithTags: ['scope:outcome', 'scope:raft', 'scope:proto', 'scope:statemachine', 'scope:grpc', 'scope:cluster', 'scope:api'] },
            { sourceTag: 'scope:loadgen', onlyDependOnLibsWithTags: ['scope:proto', 'scope:grpc', 'scope:loadgen'] },
            { sourceTag: 'scope:gateway', onlyDependOnLibsWithTags: ['scope:outcome', 'scope:proto', 'scope:grpc', 'scope:gateway'] },
            { sourceTag: 'scope:ops', onlyDependOnLibsWithTags: ['scope:ops'] },
            { sourceTag: 'scope:metrics', onlyDependOnLibsWithTags: ['scope:raft', 'scope:grpc', 'scope:storage', 'scope:statemachine', 'scope:cluster', 'scope:gateway', 'scope:proto', 'scope:metrics'] },
            { sourceTag: 'type:lib', notDependOnLibsWithTags: ['type:app'] },
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:lib'] },
          ],
        },
      ],
    },
  },
  {
    // Tests may assert presence with `!` after checking it; production code may not.
    files: ['**/*.spec.ts', '**/testing/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
  {
    // Libraries never import Nest: the apps are the only adapters to it.
    files: ['libs/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['@nestjs/*'], message: 'libs never import Nest; keep Nest in apps/' }] }],
    },
  },
  {
    files: ['libs/raft/src/**/*.ts'],
    ignores: ['libs/raft/src/**/*.spec.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'libs/raft is pure: no I/O or platform modules' })),
          patterns: [
            { group: ['node:*'], message: 'libs/raft is pure: no node:* modules' },
            { group: ['@keyval/*', '@nestjs/*', '../../*'], message: 'libs/raft imports only its own files' },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'Date', message: 'libs/raft has no clock: time is ticks' },
        { name: 'process', message: 'libs/raft does not touch the process' },
        { name: 'setTimeout', message: 'libs/raft has no timers: time is ticks' },
        { name: 'setInterval', message: 'libs/raft has no timers: time is ticks' },
        { name: 'setImmediate', message: 'libs/raft has no timers' },
        { name: 'queueMicrotask', message: 'libs/raft has no timers' },
        { name: 'performance', message: 'libs/raft has no clock' },
        { name: 'require', message: 'libs/raft imports only its own files' },
        { name: 'Promise', message: 'libs/raft is synchronous' },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Math', property: 'random', message: 'use the seeded random source from the config' },
        { object: 'globalThis', message: 'libs/raft does not reach for globals' },
      ],
      'no-restricted-syntax': [
        'error',
        { selector: ':function[async=true]', message: 'libs/raft is synchronous: no async' },
        { selector: 'AwaitExpression', message: 'libs/raft is synchronous: no await' },
        { selector: 'ForOfStatement[await=true]', message: 'libs/raft is synchronous: no for await' },
        { selector: 'ImportExpression', message: 'libs/raft imports only its own files, statically' },
      ],
    },
  },
  {
    // The driver takes time, timers and deferred tasks only from its injected Scheduler
    // (driver/clock.ts, whose REAL_SCHEDULER is the one place they are named), so a seeded
    // simulation can run it.
    files: ['libs/cluster/src/driver/**/*.ts'],
    ignores: ['libs/cluster/src/driver/clock.ts', 'libs/cluster/src/driver/**/*.spec.ts'],
    rules: {
      'no-restricted-globals': [
        'error',
        ...['setTimeout', 'setInterval', 'setImmediate', 'clearTimeout', 'clearInterval', 'clearImmediate', 'queueMicrotask', 'performance'].map((name) => ({
          name,
          message: 'the driver takes time and timers from its Scheduler (driver/clock.ts)',
        })),
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: 'the driver takes time from its Scheduler (driver/clock.ts)' },
        { object: 'process', property: 'hrtime', message: 'the driver takes time from its Scheduler (driver/clock.ts)' },
      ],
    },
  },
];
