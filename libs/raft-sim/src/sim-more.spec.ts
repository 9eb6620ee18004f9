// The CI simulation suite, second half: seeds 251..500 (sim.spec.ts runs 1..250).
import { describeSeedRange } from './testing/seed-suite';

describeSeedRange(251, 250);
