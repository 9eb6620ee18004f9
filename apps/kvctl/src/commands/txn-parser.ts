/**
 * `kvctl txn`'s easy-to-type form, parsed into an etcd TxnRequest:
 *
 *     kvctl txn --if 'k == v1' --then 'put k v2' --else 'get k'
 *
 * A compare is `KEY OP VALUE` (the value of KEY) or `TARGET(KEY) OP NUMBER` with TARGET one of
 * `value`, `version` (`ver`), `create` (`create_rev`), `mod` (`mod_rev`); OP is `==` (or `=`),
 * `!=`, `<` or `>`. `version(k) == 0` holds when k does not exist. Several --if must all hold.
 * An operation is `put KEY VALUE`, `get KEY [RANGE_END]`, `get KEY --prefix`, `del KEY
 * [RANGE_END]` or `del KEY --prefix`. Keys and values are split like a shell would: quote them
 * ('...' or "...") to include spaces; a backslash escapes the next character.
 */
import { etcd } from '@keyval/proto';

/** Most compares or operations one txn takes here (the server has its own --max-txn-ops). */
export const TXN_PARTS_MAX = 128;

/** A compare or operation that does not parse; the message quotes it and says why. */
export class TxnSyntaxError extends Error {
  constructor(text: string, reason: string) {
    super(`${JSON.stringify(text)}: ${reason}`);
    this.name = 'TxnSyntaxError';
  }
}

/** Splits `text` into words like a POSIX shell (quotes and backslashes; no expansion). */
export function splitWords(text: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (quote !== undefined) {
      if (ch === quote) quote = undefined;
      else if (ch === '\\' && quote === '"' && i + 1 < text.length) word = (word ?? '') + text[++i];
      else word = (word ?? '') + ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      word ??= '';
    } else if (ch === '\\' && i + 1 < text.length) {
      word = (word ?? '') + text[++i];
    } else if (/\s/.test(ch)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else {
      word = (word ?? '') + ch;
    }
  }
  if (quote !== undefined) throw new TxnSyntaxError(text, `unterminated ${quote} quote`);
  if (word !== undefined) words.push(word);
  return words;
}

/** etcd's range end for "every key starting with `prefix`". */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

const OPERATORS: Readonly<Record<string, etcd.Compare_CompareResult>> = {
  '==': etcd.Compare_CompareResult.EQUAL,
  '=': etcd.Compare_CompareResult.EQUAL,
  '!=': etcd.Compare_CompareResult.NOT_EQUAL,
  '<': etcd.Compare_CompareResult.LESS,
  '>': etcd.Compare_CompareResult.GREATER,
};

const TARGETS: Readonly<Record<string, etcd.Compare_CompareTarget>> = {
  value: etcd.Compare_CompareTarget.VALUE,
  version: etcd.Compare_CompareTarget.VERSION,
  ver: etcd.Compare_CompareTarget.VERSION,
  create: etcd.Compare_CompareTarget.CREATE,
  create_rev: etcd.Compare_CompareTarget.CREATE,
  mod: etcd.Compare_CompareTarget.MOD,
  mod_rev: etcd.Compare_CompareTarget.MOD,
};

/** Parses one compare (see the file comment). */
export function parseCompare(text: string): etcd.Compare {
  const words = splitWords(text);
  if (words.length !== 3) throw new TxnSyntaxError(text, 'a compare is KEY OP VALUE or TARGET(KEY) OP NUMBER, e.g. \'k == v1\' or \'version(k) > 2\'');
  const [left, op, right] = words as [string, string, string];
  const result = OPERATORS[op];
  if (result === undefined) throw new TxnSyntaxError(text, `unknown operator ${JSON.stringify(op)} (use ==, !=, < or >)`);
  const call = /^([a-z_]+)\((.*)\)$/.exec(left);
  const targetName = call?.[1] ?? 'value';
  const target = TARGETS[targetName];
  if (target === undefined) throw new TxnSyntaxError(text, `unknown target ${JSON.stringify(targetName)} (use value, version, create or mod)`);
  const key = Buffer.from(call?.[2] ?? left, 'utf8');
  if (key.length === 0) throw new TxnSyntaxError(text, 'the key is empty');
  if (target === etcd.Compare_CompareTarget.VALUE) {
    return etcd.Compare.fromPartial({ result, target, key, targetUnion: { $case: 'value', value: Buffer.from(right, 'utf8') } });
  }
  if (!/^\d{1,15}$/.test(right)) throw new TxnSyntaxError(text, `${targetName} compares with a whole number, got ${JSON.stringify(right)}`);
  const n = BigInt(right);
  const targetUnion =
    target === etcd.Compare_CompareTarget.VERSION
      ? ({ $case: 'version', value: n } as const)
      : target === etcd.Compare_CompareTarget.CREATE
        ? ({ $case: 'createRevision', value: n } as const)
        : ({ $case: 'modRevision', value: n } as const);
  return etcd.Compare.fromPartial({ result, target, key, targetUnion });
}

/** The key span of `get`/`del` words after the verb: KEY [RANGE_END] or KEY --prefix. */
function span(text: string, words: readonly string[]): { key: Buffer; rangeEnd: Buffer } {
  const [key, second, ...rest] = words;
  if (key === undefined || key.length === 0 || rest.length > 0) throw new TxnSyntaxError(text, 'expected KEY [RANGE_END] or KEY --prefix');
  const k = Buffer.from(key, 'utf8');
  if (second === '--prefix') return { key: k, rangeEnd: prefixEnd(k) };
  return { key: k, rangeEnd: second === undefined ? Buffer.alloc(0) : Buffer.from(second, 'utf8') };
}

/** Parses one operation (see the file comment). */
export function parseOperation(text: string): etcd.RequestOp {
  const [verb, ...args] = splitWords(text);
  switch (verb) {
    case 'put': {
      if (args.length !== 2 || (args[0] as string).length === 0) throw new TxnSyntaxError(text, 'expected put KEY VALUE');
      return { request: { $case: 'requestPut', value: etcd.PutRequest.fromPartial({ key: Buffer.from(args[0] as string, 'utf8'), value: Buffer.from(args[1] as string, 'utf8') }) } };
    }
    case 'get':
      return { request: { $case: 'requestRange', value: etcd.RangeRequest.fromPartial(span(text, args)) } };
    case 'del':
    case 'delete':
      return { request: { $case: 'requestDeleteRange', value: etcd.DeleteRangeRequest.fromPartial(span(text, args)) } };
    default:
      throw new TxnSyntaxError(text, `unknown operation ${JSON.stringify(verb ?? '')} (use put, get or del)`);
  }
}

/** The whole txn from the --if, --then and --else lists. */
export function buildTxn(compares: readonly string[], success: readonly string[], failure: readonly string[]): etcd.TxnRequest {
  for (const [what, list] of [
    ['--if', compares],
    ['--then', success],
    ['--else', failure],
  ] as const) {
    if (list.length > TXN_PARTS_MAX) throw new TxnSyntaxError(what, `at most ${TXN_PARTS_MAX} given, got ${list.length}`);
  }
  if (success.length === 0 && failure.length === 0) throw new TxnSyntaxError('', 'give at least one --then or --else operation');
  return { compare: compares.map(parseCompare), success: success.map(parseOperation), failure: failure.map(parseOperation) };
}
