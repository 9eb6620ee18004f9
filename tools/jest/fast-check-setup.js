// Property tests are deterministic by default (STYLE.md: tests replay exactly): every run uses
// the same seed. Set FC_SEED to explore other inputs (e.g. `FC_SEED=$RANDOM npm run test:unit`);
// a failure prints the seed and path that replay it.
'use strict';
const fc = require('fast-check');
const seed = process.env.FC_SEED === undefined ? 20261127 : Number(process.env.FC_SEED);
fc.configureGlobal({ seed });
