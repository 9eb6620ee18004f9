/**
 * The client history: every operation with its invoke and complete points, in the shape the
 * linearizability checker (@keyval/lincheck) takes. Times are a logical sequence (strictly
 * increasing across the whole run), so "A returned before B was invoked" is never ambiguous;
 * simulated milliseconds are kept alongside for reports.
 */

export type OpStatus = 'ok' | 'fail' | 'info';

interface OpBase {
  readonly process: number;
  readonly key: string;
  readonly callTime: number;
  readonly returnTime: number | null;
  readonly status: OpStatus;
}

export type HistoryOp =
  | (OpBase & { readonly f: 'get'; readonly output?: string | null })
  | (OpBase & { readonly f: 'put'; readonly value: string })
  | (OpBase & { readonly f: 'delete' })
  | (OpBase & { readonly f: 'cas'; readonly expected: string | null; readonly newValue: string | null; readonly succeeded?: boolean });

/** A history entry with what the simulation knows besides the checker's fields. */
export interface RecordedOp {
  readonly op: HistoryOp;
  readonly opId: string;
  readonly callMs: number;
  readonly returnMs: number;
  readonly attempts: number;
}

/** Operations recorded per run at most (clients stop issuing beyond it). */
export const MAX_HISTORY_OPS = 20_000;

export class HistoryRecorder {
  readonly ops: RecordedOp[] = [];
  private seq = 0;
  private processes = 0;

  /** The next point of logical time. */
  tick(): number {
    return ++this.seq;
  }

  /** A fresh process id (a client takes a new one after an indeterminate operation). */
  newProcess(): number {
    return this.processes++;
  }

  get full(): boolean {
    return this.ops.length >= MAX_HISTORY_OPS;
  }

  record(op: RecordedOp): void {
    this.ops.push(op);
  }

  counts(): { ok: number; fail: number; info: number } {
    const out = { ok: 0, fail: 0, info: 0 };
    for (const r of this.ops) {
      out[r.op.status]++;
    }
    return out;
  }
}

export function describeOp(r: RecordedOp): string {
  const o = r.op;
  const head = `p${o.process} ${r.opId} [${r.callMs}..${r.returnMs}ms] ${o.status}`;
  switch (o.f) {
    case 'get':
      return `${head} get ${o.key}${o.output === undefined ? '' : ` -> ${String(o.output)}`}`;
    case 'put':
      return `${head} put ${o.key}=${o.value}`;
    case 'delete':
      return `${head} delete ${o.key}`;
    case 'cas':
      return `${head} cas ${o.key} ${String(o.expected)}->${String(o.newValue)}${o.succeeded === undefined ? '' : o.succeeded ? ' (swapped)' : ' (no match)'}`;
  }
}
