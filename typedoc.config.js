// The API reference of the published libraries, from their TSDoc: `npm run docs:api` writes
// HTML into docs/api/ (git-ignored; CI builds it and fails on any warning).
const published = require('./tools/published-packages.js');

// proto and grpc are published as dependencies of cluster; their reference is the generated
// etcd API and the gRPC layer, documented in their READMEs rather than here.
const documented = published.filter((dir) => !['proto', 'grpc'].includes(dir));

/** @type {Partial<import('typedoc').TypeDocOptions>} */
module.exports = {
  name: 'KeyVal libraries',
  entryPointStrategy: 'packages',
  entryPoints: documented.map((dir) => `libs/${dir}`),
  packageOptions: { entryPoints: ['src/index.ts'], tsconfig: 'tsconfig.json', readme: 'README.md', disableSources: true },
  readme: 'docs/api-readme.md',
  out: 'docs/api',
  treatWarningsAsErrors: true,
  excludePrivate: true,
  excludeInternal: true,
  githubPages: false,
  // No source links: they would need a git remote, and a clone may have none.
  disableSources: true,
};
