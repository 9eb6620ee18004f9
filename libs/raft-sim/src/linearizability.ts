/**
 * The end-of-run check of what clients observed: the history goes to @keyval/lincheck's
 * checker with a deterministic step budget (no wall-clock limit), so a seed's verdict replays
 * exactly. `unknown` (budget exhausted) is reported, not counted as a violation.
 */
import { checkHistory, formatCounterexample } from '@keyval/lincheck';
import type { Operation } from '@keyval/lincheck';
import type { HistoryOp, RecordedOp } from './history';

/** Default search budget per seed (steps over all keys). */
export const DEFAULT_LINCHECK_MAX_STEPS = 5_000_000;

export type LinVerdict = 'linearizable' | 'not-linearizable' | 'unknown';

export interface LinResult {
  readonly verdict: LinVerdict;
  readonly steps: number;
  /** For not-linearizable: the checker's counterexample, formatted. */
  readonly explanation?: string;
}

export function checkLinearizable(recorded: readonly RecordedOp[], maxSteps = DEFAULT_LINCHECK_MAX_STEPS): LinResult {
  const ops: Operation[] = recorded.map((r) => toOperation(r.op));
  const result = checkHistory(ops, { model: 'kv', initialValue: null, maxSteps, timeoutMs: Number.POSITIVE_INFINITY });
  if (result.verdict === 'not-linearizable' && result.counterexample !== undefined) {
    return { verdict: result.verdict, steps: result.steps, explanation: formatCounterexample(result.counterexample) };
  }
  return { verdict: result.verdict, steps: result.steps };
}

function toOperation(op: HistoryOp): Operation {
  return op;
}
