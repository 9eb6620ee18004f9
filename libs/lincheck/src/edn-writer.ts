/**
 * Writes a history as Jepsen-style EDN events, one map per line (`{:process 0, :type
 * :invoke, :f :cas, :key "k", :value ["a" "b"], :time 12}`), so Jepsen tooling can read it
 * and our own reader reads it back to the same operations. `:time` carries the times.
 *
 * Statuses: ok -> `:ok`; a cas whose comparison failed -> `:fail`; fail -> `:fail` (a cas
 * also gets `:error :not-applied`, to tell it from a failed comparison); info -> `:info`
 * at its returnTime, or no completion when returnTime is null.
 */
import { type History, type Operation, type Value, assertNever } from './history';
import { inferredInitialValue } from './jepsen-history';
import type { KeyStyle } from './jepsen-history';
import { InvalidHistoryError } from './lincheck.error';
import { validateOperations } from './validate';

interface EdnEvent {
  readonly time: number;
  readonly process: number;
  /** Position in the process's own sequence of events. */
  readonly sequence: number;
  readonly text: string;
}

/**
 * Formats `history` as EDN, events in time order. A kv history whose keys start as "" names
 * them with a `:key` field (porcupine's kv files); one whose keys start absent uses Jepsen's
 * independent `[key value]` tuples, which the reader reads as absent at first; a register
 * has no keys.
 * @throws InvalidHistoryError when an operation is invalid, when one process has
 *   overlapping operations (EDN pairs events by process), or when the initial value is not
 *   one the EDN reader would infer for that shape (`inferredInitialValue` in jepsen-history.ts).
 */
export function formatEdnHistory(history: History): string {
  validateOperations(history.ops);
  const style: KeyStyle = history.model === 'register' ? 'none' : history.initialValue === '' ? 'key-field' : 'tuples';
  if (history.initialValue !== inferredInitialValue(style, history.ops)) {
    throw new InvalidHistoryError(-1, `EDN cannot carry initialValue ${JSON.stringify(history.initialValue)} for this history; use the JSON format`);
  }
  if (style === 'tuples' && !history.ops.some((op) => op.f === 'get' || op.f === 'put')) {
    // The reader recognises tuples by a read or write carrying one.
    throw new InvalidHistoryError(-1, 'EDN tuples need at least one get or put to be read back as keyed; use the JSON format');
  }
  const withKey = style;
  const byProcess = new Map<number, number[]>();
  history.ops.forEach((op, index) => {
    const list = byProcess.get(op.process) ?? [];
    list.push(index);
    byProcess.set(op.process, list);
  });
  const events: EdnEvent[] = [];
  for (const [process, indices] of byProcess) {
    indices.sort((x, y) => (history.ops[x] as Operation).callTime - (history.ops[y] as Operation).callTime || x - y);
    let sequence = 0;
    let previous: Operation | undefined;
    for (const index of indices) {
      const op = history.ops[index] as Operation;
      if (previous !== undefined && (previous.returnTime === null || previous.returnTime > op.callTime)) {
        throw new InvalidHistoryError(index, `process ${process} starts it before its previous operation returned; EDN needs one operation at a time per process`);
      }
      events.push({ time: op.callTime, process, sequence: sequence++, text: invokeText(op, withKey) });
      const completion = completionText(op, withKey);
      if (completion !== undefined && op.returnTime !== null) {
        events.push({ time: op.returnTime, process, sequence: sequence++, text: completion });
      }
      previous = op;
    }
  }
  events.sort((x, y) => x.time - y.time || x.process - y.process || x.sequence - y.sequence);
  return events.map((event) => `${event.text}\n`).join('');
}

function invokeText(op: Operation, withKey: KeyStyle): string {
  let value: string;
  switch (op.f) {
    case 'get':
    case 'delete':
      value = 'nil';
      break;
    case 'put':
    case 'append':
      value = ednString(op.value);
      break;
    case 'cas':
      value = `[${ednValue(op.expected)} ${ednValue(op.newValue)}]`;
      break;
    default:
      return assertNever(op, 'operation kind');
  }
  return eventText(op, 'invoke', value, op.callTime, withKey, false);
}

function completionText(op: Operation, withKey: KeyStyle): string | undefined {
  if (op.status === 'info') {
    return eventText(op, 'info', 'nil', op.returnTime ?? 0, withKey, false);
  }
  const time = op.returnTime as number;
  if (op.f === 'cas') {
    const value = `[${ednValue(op.expected)} ${ednValue(op.newValue)}]`;
    if (op.status === 'fail') {
      return eventText(op, 'fail', value, time, withKey, true);
    }
    return eventText(op, op.succeeded === true ? 'ok' : 'fail', value, time, withKey, false);
  }
  if (op.f === 'get' && op.status === 'ok') {
    return eventText(op, 'ok', ednValue(op.output ?? null), time, withKey, false);
  }
  const value = op.f === 'put' || op.f === 'append' ? ednString(op.value) : 'nil';
  return eventText(op, op.status, value, time, withKey, false);
}

function eventText(op: Operation, type: string, value: string, time: number, keys: KeyStyle, notApplied: boolean): string {
  const key = keys === 'key-field' ? `, :key ${ednString(op.key)}` : '';
  const shown = keys === 'tuples' ? `[${ednString(op.key)} ${value}]` : value;
  const error = notApplied ? ', :error :not-applied' : '';
  return `{:process ${op.process}, :type :${type}, :f :${op.f}${key}, :value ${shown}, :time ${String(time)}${error}}`;
}

function ednValue(value: Value): string {
  return value === null ? 'nil' : ednString(value);
}

/** A string as an EDN string literal. */
export function ednString(value: string): string {
  let out = '"';
  for (const char of value) {
    const code = char.charCodeAt(0);
    if (char === '"' || char === '\\') {
      out += `\\${char}`;
    } else if (char === '\n') {
      out += '\\n';
    } else if (char === '\t') {
      out += '\\t';
    } else if (char === '\r') {
      out += '\\r';
    } else if (code < 0x20 || code === 0x7f) {
      out += `\\u${code.toString(16).padStart(4, '0')}`;
    } else {
      out += char;
    }
  }
  return `${out}"`;
}
