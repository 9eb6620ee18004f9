/**
 * KeyVal's own history format: one JSON object whose `ops` are exactly the `Operation`
 * objects of history.ts (documented in docs/lincheck.md). The writer puts one operation
 * per line so histories diff well; the reader rejects unknown fields, which catches typos
 * such as `retrunTime` that would otherwise silently weaken a check.
 */
import { type History, type ModelKind, type Operation, type Value, assertNever } from './history';
import { HistoryParseError, InvalidHistoryError } from './lincheck.error';
import { validateOperations } from './validate';

/** The value of the `format` field. */
export const HISTORY_FORMAT = 'keyval-lincheck-history';
/** The only version this reader knows. */
export const HISTORY_FORMAT_VERSION = 1;

const TOP_FIELDS = new Set(['format', 'version', 'model', 'initialValue', 'ops']);
const COMMON_FIELDS = ['process', 'f', 'key', 'status', 'callTime', 'returnTime'];
const KIND_FIELDS: Readonly<Record<Operation['f'], readonly string[]>> = {
  get: ['output'],
  put: ['value'],
  delete: [],
  cas: ['expected', 'newValue', 'succeeded'],
  append: ['value'],
};

/** Parses the JSON format. @throws HistoryParseError naming the field at fault */
export function parseJsonHistory(text: string): History {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new HistoryParseError(`not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new HistoryParseError('a JSON history must be an object with "format", "version" and "ops"');
  }
  const top = document as Record<string, unknown>;
  for (const field of Object.keys(top)) {
    if (!TOP_FIELDS.has(field)) {
      throw new HistoryParseError(`unknown field "${field}" (expected ${[...TOP_FIELDS].join(', ')})`);
    }
  }
  if (top['format'] !== HISTORY_FORMAT) {
    throw new HistoryParseError(`"format" must be "${HISTORY_FORMAT}"`);
  }
  if (top['version'] !== HISTORY_FORMAT_VERSION) {
    throw new HistoryParseError(`unsupported "version" ${JSON.stringify(top['version'])}; this reader knows ${HISTORY_FORMAT_VERSION}`);
  }
  const model = top['model'];
  if (model !== undefined && model !== 'kv' && model !== 'register') {
    throw new HistoryParseError('"model" must be "kv" or "register"');
  }
  const initialValue = top['initialValue'] ?? null;
  if (initialValue !== null && typeof initialValue !== 'string') {
    throw new HistoryParseError('"initialValue" must be a string or null');
  }
  if (!Array.isArray(top['ops'])) {
    throw new HistoryParseError('"ops" must be an array');
  }
  const ops = (top['ops'] as unknown[]).map(readOperation);
  try {
    validateOperations(ops);
  } catch (error) {
    if (error instanceof InvalidHistoryError) {
      throw new HistoryParseError(`ops[${error.opIndex}]: ${error.detail}`);
    }
    throw error;
  }
  return { ops, initialValue, ...(model === undefined ? {} : { model: model as ModelKind }) };
}

function readOperation(raw: unknown, index: number): Operation {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new HistoryParseError(`ops[${index}]: must be an object`);
  }
  const fields = raw as Record<string, unknown>;
  const f = fields['f'];
  if (typeof f !== 'string' || !Object.prototype.hasOwnProperty.call(KIND_FIELDS, f)) {
    throw new HistoryParseError(`ops[${index}].f: must be one of ${Object.keys(KIND_FIELDS).join(', ')}`);
  }
  const allowed = [...COMMON_FIELDS, ...(KIND_FIELDS[f as Operation['f']] ?? [])];
  for (const field of Object.keys(fields)) {
    if (!allowed.includes(field)) {
      throw new HistoryParseError(`ops[${index}]: unknown field "${field}" for a ${f} (expected ${allowed.join(', ')})`);
    }
  }
  // Copy only known fields; a missing returnTime means the operation never returned.
  const op: Record<string, unknown> = { returnTime: null };
  for (const field of allowed) {
    if (fields[field] !== undefined) {
      op[field] = fields[field];
    }
  }
  return op as unknown as Operation;
}

/** Options of {@link formatJsonHistory}. */
export interface FormatJsonOptions {
  /** Leave out the model field (readers then use their default). */
  readonly omitModel?: boolean;
}

/**
 * Writes `history` in the JSON format, one operation per line, fields in a fixed order.
 * @throws InvalidHistoryError when an operation breaks the `Operation` contract
 */
export function formatJsonHistory(history: History, options: FormatJsonOptions = {}): string {
  validateOperations(history.ops);
  const header: Record<string, unknown> = { format: HISTORY_FORMAT, version: HISTORY_FORMAT_VERSION };
  if (history.model !== undefined && options.omitModel !== true) {
    header['model'] = history.model;
  }
  header['initialValue'] = history.initialValue;
  const head = JSON.stringify(header).slice(0, -1);
  if (history.ops.length === 0) {
    return `${head},"ops":[]}\n`;
  }
  const lines = history.ops.map((op) => JSON.stringify(orderedFields(op)));
  return `${head},"ops":[\n${lines.join(',\n')}\n]}\n`;
}

function orderedFields(op: Operation): Record<string, unknown> {
  const out: Record<string, unknown> = { process: op.process, f: op.f, key: op.key };
  switch (op.f) {
    case 'get':
      break;
    case 'put':
    case 'append':
      out['value'] = op.value;
      break;
    case 'delete':
      break;
    case 'cas':
      out['expected'] = op.expected;
      out['newValue'] = op.newValue;
      break;
    default:
      assertNever(op, 'operation kind');
  }
  out['status'] = op.status;
  if (op.f === 'get' && op.output !== undefined) {
    out['output'] = op.output;
  }
  if (op.f === 'cas' && op.succeeded !== undefined) {
    out['succeeded'] = op.succeeded;
  }
  out['callTime'] = op.callTime;
  out['returnTime'] = op.returnTime;
  return out;
}

/** Narrowing helper for readers: whether `value` is a history {@link Value}. */
export function isHistoryValue(value: unknown): value is Value {
  return value === null || typeof value === 'string';
}
