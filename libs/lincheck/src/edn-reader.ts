/**
 * A small reader for EDN (https://github.com/edn-format/edn), enough for Jepsen histories:
 * nil, booleans, integers (bigint when unsafe), floats, strings, characters, keywords,
 * symbols, lists, vectors, maps, sets, tagged elements (`#inst "..."`), comments and `#_`.
 * Errors are {@link HistoryParseError}s with line and column.
 */
import { HistoryParseError } from './lincheck.error';

/** `:name` or `:ns/name`. */
export interface EdnKeyword {
  readonly kind: 'keyword';
  /** Without the leading colon: `:invoke` has name `invoke`. */
  readonly name: string;
}
/** A bare symbol such as `foo` (nil, true and false are read as values, not symbols). */
export interface EdnSymbol {
  readonly kind: 'symbol';
  readonly name: string;
}
/** A character literal such as `\\a` or `\\newline`. */
export interface EdnChar {
  readonly kind: 'char';
  readonly value: string;
}
/** `[...]`, `(...)` or `#{...}`, items in source order. */
export interface EdnSequence {
  readonly kind: 'vector' | 'list' | 'set';
  readonly items: readonly EdnValue[];
}
/** `{k v ...}`, entries in source order (duplicate keys are kept; lookups take the first). */
export interface EdnMap {
  readonly kind: 'map';
  readonly entries: readonly (readonly [EdnValue, EdnValue])[];
  /** Offset of the opening brace in the source text (for error positions). */
  readonly offset: number;
}
/** A tagged element such as `#inst "..."`: the tag without `#`, and the value. */
export interface EdnTagged {
  readonly kind: 'tagged';
  readonly tag: string;
  readonly value: EdnValue;
}
/** One EDN value. Strings are JS strings; integers are numbers, or bigints beyond 2^53. */
export type EdnValue = null | boolean | number | bigint | string | EdnKeyword | EdnSymbol | EdnChar | EdnSequence | EdnMap | EdnTagged;

/** A top-level form and where it starts. */
export interface EdnForm {
  readonly value: EdnValue;
  readonly offset: number;
}

/** Collections nest at most this deep. */
export const EDN_DEPTH_MAX = 64;

const DELIMITERS = '()[]{}"; \t\n\r,';
const NAMED_CHARS: Readonly<Record<string, string>> = { newline: '\n', space: ' ', tab: '\t', return: '\r', backspace: '\b', formfeed: '\f' };
const STRING_ESCAPES: Readonly<Record<string, string>> = { t: '\t', r: '\r', n: '\n', '\\': '\\', '"': '"', b: '\b', f: '\f' };
const INTEGER = /^[+-]?\d+N?$/;
const FLOAT = /^[+-]?\d+(\.\d*)?([eE][+-]?\d+)?M?$/;

/** Reads every top-level form of `text`. */
export function readEdnForms(text: string): EdnForm[] {
  const reader = new EdnReader(text);
  const forms: EdnForm[] = [];
  for (;;) {
    reader.skipSpace();
    if (reader.atEnd()) {
      return forms;
    }
    const offset = reader.offset;
    const value = reader.readForm(0);
    if (value !== DISCARDED) {
      forms.push({ value, offset });
    }
  }
}

/** Reads exactly one form from `text`. */
export function readEdn(text: string): EdnValue {
  const forms = readEdnForms(text);
  if (forms.length !== 1) {
    throw new HistoryParseError(`expected one EDN value, found ${forms.length}`);
  }
  return (forms[0] as EdnForm).value;
}

/** The value under keyword `:name` in an EDN map, or undefined. */
export function ednGet(map: EdnMap, name: string): EdnValue | undefined {
  for (const [key, value] of map.entries) {
    if (isKeyword(key) && key.name === name) {
      return value;
    }
  }
  return undefined;
}

/** Whether `value` is a keyword. */
export function isKeyword(value: EdnValue | undefined): value is EdnKeyword {
  return typeof value === 'object' && value !== null && value.kind === 'keyword';
}

/** 1-based line and column of `offset` in `text`. O(offset): use {@link LineIndex} in loops. */
export function positionOf(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/** Maps offsets to 1-based lines in O(log lines), after one pass over the text. */
export class LineIndex {
  private readonly lineStarts: number[] = [0];

  constructor(text: string) {
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) {
      this.lineStarts.push(i + 1);
    }
  }

  lineOf(offset: number): number {
    let low = 0;
    let high = this.lineStarts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if ((this.lineStarts[middle] as number) <= offset) {
        low = middle;
      } else {
        high = middle - 1;
      }
    }
    return low + 1;
  }
}

/** Marks a `#_` form that was read and dropped. */
const DISCARDED: EdnSymbol = { kind: 'symbol', name: '#_' };

class EdnReader {
  offset = 0;
  constructor(private readonly text: string) {}

  atEnd(): boolean {
    return this.offset >= this.text.length;
  }

  fail(detail: string, offset = this.offset): never {
    const { line, column } = positionOf(this.text, offset);
    throw new HistoryParseError(detail, line, column);
  }

  skipSpace(): void {
    const text = this.text;
    while (this.offset < text.length) {
      const c = text[this.offset] as string;
      if (c === ';') {
        const end = text.indexOf('\n', this.offset);
        this.offset = end < 0 ? text.length : end + 1;
      } else if (c === ' ' || c === ',' || c === '\n' || c === '\t' || c === '\r') {
        this.offset++;
      } else {
        return;
      }
    }
  }

  /** Reads one form starting at a non-space character. May return DISCARDED for `#_`. */
  readForm(depth: number): EdnValue {
    if (depth > EDN_DEPTH_MAX) {
      this.fail(`collections nested deeper than ${EDN_DEPTH_MAX}`);
    }
    const c = this.text[this.offset];
    switch (c) {
      case undefined:
        return this.fail('unexpected end of input');
      case '(':
        return { kind: 'list', items: this.readItems(')', depth) };
      case '[':
        return { kind: 'vector', items: this.readItems(']', depth) };
      case '{':
        return this.readMap(depth);
      case ')':
      case ']':
      case '}':
        return this.fail(`unexpected ${c}`);
      case '"':
        return this.readString();
      case '\\':
        return this.readChar();
      case '#':
        return this.readDispatch(depth);
      default:
        return this.readAtom();
    }
  }

  private readItems(close: string, depth: number): EdnValue[] {
    const open = this.offset;
    this.offset++;
    const items: EdnValue[] = [];
    for (;;) {
      this.skipSpace();
      if (this.atEnd()) {
        this.fail(`unclosed collection: expected ${close}`, open);
      }
      if (this.text[this.offset] === close) {
        this.offset++;
        return items;
      }
      const item = this.readForm(depth + 1);
      if (item !== DISCARDED) {
        items.push(item);
      }
    }
  }

  private readMap(depth: number): EdnMap {
    const offset = this.offset;
    const items = this.readItems('}', depth);
    if (items.length % 2 !== 0) {
      this.fail('a map needs an even number of forms', offset);
    }
    const entries: (readonly [EdnValue, EdnValue])[] = [];
    for (let i = 0; i < items.length; i += 2) {
      entries.push([items[i] as EdnValue, items[i + 1] as EdnValue]);
    }
    return { kind: 'map', entries, offset };
  }

  private readDispatch(depth: number): EdnValue {
    const next = this.text[this.offset + 1];
    if (next === '{') {
      this.offset++;
      return { kind: 'set', items: this.readItems('}', depth) };
    }
    if (next === '_') {
      this.offset += 2;
      this.skipSpace();
      this.readForm(depth + 1);
      return DISCARDED;
    }
    const start = this.offset;
    this.offset++;
    const tag = this.readToken();
    if (!/^[A-Za-z]/.test(tag)) {
      this.fail(`unsupported dispatch #${tag}`, start);
    }
    this.skipSpace();
    const value = this.readForm(depth + 1);
    if (value === DISCARDED) {
      this.fail(`tag #${tag} has no value`, start);
    }
    return { kind: 'tagged', tag, value };
  }

  private readString(): string {
    const text = this.text;
    const start = this.offset;
    let i = start + 1;
    let out = '';
    let chunkStart = i;
    for (;;) {
      if (i >= text.length) {
        this.fail('unterminated string', start);
      }
      const c = text[i];
      if (c === '"') {
        out += text.slice(chunkStart, i);
        this.offset = i + 1;
        return out;
      }
      if (c === '\\') {
        out += text.slice(chunkStart, i);
        const escape = text[i + 1] ?? '';
        if (escape === 'u') {
          const hex = text.slice(i + 2, i + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) {
            this.fail('bad \\u escape in string', i);
          }
          out += String.fromCharCode(parseInt(hex, 16));
          i += 6;
        } else {
          const decoded = STRING_ESCAPES[escape];
          if (decoded === undefined) {
            this.fail(`bad escape \\${escape} in string`, i);
          }
          out += decoded;
          i += 2;
        }
        chunkStart = i;
      } else {
        i++;
      }
    }
  }

  private readChar(): EdnChar {
    const start = this.offset;
    this.offset++;
    const first = this.text[this.offset];
    if (first === undefined) {
      this.fail('unexpected end of input after \\', start);
    }
    const token = DELIMITERS.includes(first) ? (this.offset++, first) : this.readToken();
    if (token.length === 1) {
      return { kind: 'char', value: token };
    }
    const named = NAMED_CHARS[token];
    if (named !== undefined) {
      return { kind: 'char', value: named };
    }
    if (/^u[0-9a-fA-F]{4}$/.test(token)) {
      return { kind: 'char', value: String.fromCharCode(parseInt(token.slice(1), 16)) };
    }
    return this.fail(`unknown character \\${token}`, start);
  }

  private readToken(): string {
    const start = this.offset;
    const text = this.text;
    while (this.offset < text.length && !DELIMITERS.includes(text[this.offset] as string)) {
      this.offset++;
    }
    return text.slice(start, this.offset);
  }

  private readAtom(): EdnValue {
    const start = this.offset;
    const token = this.readToken();
    if (token === 'nil') {
      return null;
    }
    if (token === 'true' || token === 'false') {
      return token === 'true';
    }
    if (INTEGER.test(token)) {
      const digits = token.endsWith('N') ? token.slice(0, -1) : token;
      const value = Number(digits);
      return Number.isSafeInteger(value) ? value : BigInt(digits);
    }
    if (FLOAT.test(token)) {
      return Number(token.endsWith('M') ? token.slice(0, -1) : token);
    }
    if (/^[+-]?\d/.test(token)) {
      this.fail(`bad number ${token}`, start);
    }
    if (token.startsWith(':')) {
      if (token.length === 1) {
        this.fail('empty keyword', start);
      }
      return { kind: 'keyword', name: token.slice(1) };
    }
    return { kind: 'symbol', name: token };
  }
}
