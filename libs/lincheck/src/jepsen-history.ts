/**
 * Reads Jepsen histories: a sequence of events (invoke, then ok / fail / info from the same
 * process) in one of three shapes — EDN maps one per line (`{:process 0, :type :invoke,
 * :f :get, :key "k", :value nil}`), one EDN vector of such maps, or Jepsen log lines
 * (`INFO jepsen.util - 3 :invoke :cas [1 4]`) — and pairs them into operations.
 *
 * Semantics (the ones porcupine uses, see docs/lincheck.md):
 * - `:fail` on a cas means its comparison failed (an ok cas with `succeeded: false`), unless
 *   the completion carries `:error`, in which case it did not take effect at all.
 * - `:fail` on anything else: it did not take effect (a timed-out read observed nothing).
 * - `:info`, or no completion at all: indeterminate.
 * - Events of non-integer processes (`:nemesis`) are skipped.
 */
import { type EdnMap, type EdnValue, LineIndex, ednGet, isKeyword, readEdn, readEdnForms } from './edn-reader';
import type { History, Operation, OpStatus, Value } from './history';
import { HistoryParseError } from './lincheck.error';

type EventType = 'invoke' | 'ok' | 'fail' | 'info';
type OpKind = Operation['f'];

/** One event, normalised from any of the three shapes. */
interface JepsenEvent {
  readonly process: number;
  readonly type: EventType;
  readonly f: OpKind;
  readonly key: EdnValue | undefined;
  readonly value: EdnValue;
  readonly time: number | undefined;
  readonly hasError: boolean;
  /** 1-based source line, for errors. */
  readonly line: number;
}

const KINDS: Readonly<Record<string, OpKind>> = {
  read: 'get',
  get: 'get',
  write: 'put',
  put: 'put',
  cas: 'cas',
  'compare-and-set': 'cas',
  'compare-and-swap': 'cas',
  delete: 'delete',
  del: 'delete',
  append: 'append',
};
const EVENT_TYPES: readonly string[] = ['invoke', 'ok', 'fail', 'info'];
const LOG_EVENT = /jepsen\.util\s*[-:]\s+(\S+)\s+:(invoke|ok|fail|info)\s+:(\S+)\s*(.*?)\s*$/;

/** Whether `text` looks like a Jepsen log (has at least one `jepsen.util` event line). */
export function looksLikeJepsenLog(text: string): boolean {
  const firstLines = text.slice(0, 64 * 1024).split('\n');
  return firstLines.some((line) => LOG_EVENT.test(line));
}

/** Parses Jepsen log lines. Lines that are not events are ignored. */
export function parseJepsenLog(text: string): History {
  const events: JepsenEvent[] = [];
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const match = LOG_EVENT.exec(lines[index] as string);
    if (match === null) {
      continue;
    }
    const [, processText, type, fName, valueText] = match as unknown as [string, string, EventType, string, string];
    const line = index + 1;
    if (!/^\d+$/.test(processText)) {
      continue;
    }
    let value: EdnValue;
    try {
      value = valueText === '' ? null : readEdn(valueText);
    } catch (error) {
      const detail = error instanceof HistoryParseError ? error.detail : String(error);
      throw new HistoryParseError(`bad value ${JSON.stringify(valueText)}: ${detail}`, line);
    }
    const f = kindOf(fName, line);
    events.push({ process: Number(processText), type, f, key: undefined, value, time: undefined, hasError: false, line });
  }
  if (events.length === 0) {
    throw new HistoryParseError('no Jepsen operations found (expected lines like "INFO jepsen.util - 3 :invoke :read nil")');
  }
  return eventsToHistory(events);
}

/** Parses EDN: maps one per form, or a single vector (or list) of maps. */
export function parseJepsenEdn(text: string): History {
  const forms = readEdnForms(text);
  const only = forms.length === 1 ? (forms[0] as { value: EdnValue }).value : undefined;
  const values =
    typeof only === 'object' && only !== null && (only.kind === 'vector' || only.kind === 'list') ? only.items : forms.map((form) => form.value);
  const events: JepsenEvent[] = [];
  const lines = new LineIndex(text);
  for (const value of values) {
    if (typeof value !== 'object' || value === null || value.kind !== 'map') {
      const offset = forms.length === 1 ? (forms[0] as { offset: number }).offset : 0;
      throw new HistoryParseError('expected EDN maps (one per operation event), or one vector of them', lines.lineOf(offset));
    }
    const event = mapToEvent(value, lines.lineOf(value.offset));
    if (event !== undefined) {
      events.push(event);
    }
  }
  if (events.length === 0) {
    throw new HistoryParseError('no operations found in the EDN history');
  }
  return eventsToHistory(events);
}

function kindOf(name: string, line: number): OpKind {
  const kind = KINDS[name];
  if (kind === undefined) {
    throw new HistoryParseError(`unsupported operation :${name} (supported: ${Object.keys(KINDS).join(', ')})`, line);
  }
  return kind;
}

function mapToEvent(map: EdnMap, line: number): JepsenEvent | undefined {
  const process = ednGet(map, 'process');
  if (typeof process !== 'number' || !Number.isSafeInteger(process) || process < 0) {
    return undefined; // :nemesis and other non-client processes
  }
  const type = ednGet(map, 'type');
  if (!isKeyword(type) || !EVENT_TYPES.includes(type.name)) {
    throw new HistoryParseError(':type must be :invoke, :ok, :fail or :info', line);
  }
  const f = ednGet(map, 'f');
  if (!isKeyword(f)) {
    throw new HistoryParseError(':f must be a keyword such as :read', line);
  }
  const time = ednGet(map, 'time');
  const error = ednGet(map, 'error');
  return {
    process,
    type: type.name as EventType,
    f: kindOf(f.name, line),
    key: ednGet(map, 'key'),
    value: ednGet(map, 'value') ?? null,
    time: typeof time === 'number' ? time : undefined,
    hasError: error !== undefined && error !== null,
    line,
  };
}

/**
 * Jepsen's `independent` workloads carry `[key value]` tuples instead of a `:key`. Reads and
 * writes of a plain register have scalar values, so a read or write with a vector value
 * means tuples.
 */
function usesTuples(events: readonly JepsenEvent[]): boolean {
  if (events.some((event) => event.key !== undefined)) {
    return false;
  }
  return events.some((event) => event.type === 'invoke' && (event.f === 'get' || event.f === 'put') && isSequence(event.value));
}

function isSequence(value: EdnValue): value is { kind: 'vector' | 'list'; items: readonly EdnValue[] } {
  return typeof value === 'object' && value !== null && (value.kind === 'vector' || value.kind === 'list');
}

interface OpenCall {
  readonly event: JepsenEvent;
  readonly key: string;
  readonly value: EdnValue;
  readonly time: number;
}

function eventsToHistory(events: readonly JepsenEvent[]): History {
  const tuples = usesTuples(events);
  const hasKeys = tuples || events.some((event) => event.key !== undefined);
  const useClock = events.every((event) => event.time !== undefined);
  const open = new Map<number, OpenCall>();
  const ops: Operation[] = [];
  events.forEach((event, index) => {
    const time = useClock ? (event.time as number) : index;
    if (event.type === 'invoke') {
      const [key, value] = splitKey(event, tuples);
      const previous = open.get(event.process);
      if (previous !== undefined) {
        throw new HistoryParseError(`process ${event.process} invoked again before its operation from line ${previous.event.line} completed`, event.line);
      }
      open.set(event.process, { event, key, value, time });
      return;
    }
    const call = open.get(event.process);
    if (call === undefined) {
      throw new HistoryParseError(`:${event.type} from process ${event.process} without an :invoke`, event.line);
    }
    if (call.event.f !== event.f) {
      throw new HistoryParseError(`completion :${event.f} does not match the :${call.event.f} invoked on line ${call.event.line}`, event.line);
    }
    open.delete(event.process);
    // Completions of tuple histories usually repeat the key; timeouts may carry a bare value.
    const tupled = tuples && isSequence(event.value) && event.value.items.length === 2;
    const value = tupled ? ((event.value as { items: readonly EdnValue[] }).items[1] as EdnValue) : event.value;
    ops.push(makeOperation(call, { event, value, time }));
  });
  for (const call of [...open.values()].sort((x, y) => x.time - y.time)) {
    ops.push(makeOperation(call, undefined));
  }
  const style: KeyStyle = tuples ? 'tuples' : hasKeys ? 'key-field' : 'none';
  return { ops, initialValue: inferredInitialValue(style, ops), model: hasKeys ? 'kv' : 'register' };
}

/** How an EDN history names keys: a `:key` field (porcupine's kv), `[key value]` tuples (Jepsen's independent), or not at all (one register). */
export type KeyStyle = 'key-field' | 'tuples' | 'none';

/**
 * The value every key holds before an EDN or Jepsen-log history, which these formats do not
 * state. Histories with a `:key` field follow porcupine's kv convention: every key starts as ""
 * and a get of a key never written returns "", whatever operations the file holds. Registers
 * and Jepsen's independent `[key value]` tuples start absent (Jepsen's registers read nil
 * first), unless the history appends (append workloads build strings from an empty one).
 * `lincheck --initial-value` overrides the inference.
 */
export function inferredInitialValue(style: KeyStyle, ops: readonly Operation[]): Value {
  if (style === 'key-field') {
    return '';
  }
  return ops.some((op) => op.f === 'append') ? '' : null;
}

function splitKey(event: JepsenEvent, tuples: boolean): [string, EdnValue] {
  if (!tuples) {
    return [event.key === undefined ? '' : scalarText(event.key, 'key', event.line), event.value];
  }
  if (!isSequence(event.value) || event.value.items.length !== 2) {
    throw new HistoryParseError('expected a [key value] tuple as :value', event.line);
  }
  const [key, value] = event.value.items as [EdnValue, EdnValue];
  return [scalarText(key, 'key', event.line), value];
}

interface Completion {
  readonly event: JepsenEvent;
  readonly value: EdnValue;
  readonly time: number;
}

function makeOperation(call: OpenCall, done: Completion | undefined): Operation {
  const { event } = call;
  const line = event.line;
  let status: OpStatus = done === undefined ? 'info' : done.event.type === 'ok' ? 'ok' : done.event.type === 'fail' ? 'fail' : 'info';
  const common = { process: event.process, key: call.key, callTime: call.time, returnTime: done === undefined ? null : done.time };
  switch (event.f) {
    case 'get':
      return status === 'ok' ? { ...common, f: 'get', status, output: valueOf(done?.value ?? null, line) } : { ...common, f: 'get', status };
    case 'put':
    case 'append': {
      const value = valueOf(call.value, line);
      if (value === null) {
        throw new HistoryParseError(`a :${event.f === 'put' ? 'write' : 'append'} needs a value`, line);
      }
      return { ...common, f: event.f, status, value };
    }
    case 'delete':
      return { ...common, f: 'delete', status };
    case 'cas': {
      if (!isSequence(call.value) || call.value.items.length !== 2) {
        throw new HistoryParseError('a :cas needs [expected new] as its value', line);
      }
      const [expected, newValue] = call.value.items.map((item) => valueOf(item, line)) as [Value, Value];
      let succeeded: boolean | undefined = status === 'ok' ? true : undefined;
      if (status === 'fail' && done !== undefined && !done.event.hasError) {
        status = 'ok';
        succeeded = false;
      }
      return { ...common, f: 'cas', status, expected, newValue, ...(succeeded === undefined ? {} : { succeeded }) };
    }
  }
}

/** An EDN scalar as a history value: nil is absent, numbers their decimal text. */
function valueOf(value: EdnValue, line: number): Value {
  return value === null ? null : scalarText(value, 'value', line);
}

function scalarText(value: EdnValue, what: string, line: number): string {
  if (typeof value === 'string') {
    return value;
  }
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') {
    return String(value);
  }
  if (value !== null && (value.kind === 'keyword' || value.kind === 'symbol')) {
    return value.kind === 'keyword' ? `:${value.name}` : value.name;
  }
  if (value !== null && value.kind === 'char') {
    return value.value;
  }
  throw new HistoryParseError(`${what} must be a string, number or nil`, line);
}
