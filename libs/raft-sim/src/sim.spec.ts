// The CI simulation suite, first half: seeds 1..250 (sim-more.spec.ts runs 251..500).
import { describeSeedRange } from './testing/seed-suite';

describeSeedRange(1, 250);
