/**
 * One entry point for every input format: detects the format from the text (or takes it
 * from the caller) and returns a {@link History}.
 */
import type { History } from './history';
import { parseJepsenEdn, parseJepsenLog, looksLikeJepsenLog } from './jepsen-history';
import { parseJsonHistory } from './json-history';
import { HistoryParseError } from './lincheck.error';

/** Input formats. `auto` detects: JSON object, Jepsen log lines, otherwise EDN. */
export type HistoryFormat = 'auto' | 'json' | 'edn' | 'jepsen-log';

/** Inputs larger than this are refused (the whole text is held in memory). */
export const HISTORY_TEXT_MAX_BYTES = 512 * 1024 * 1024;

/**
 * Parses a history from text.
 * @throws HistoryParseError when the text is empty, too large or not a history
 */
export function parseHistory(text: string, format: HistoryFormat = 'auto'): History {
  if (text.length > HISTORY_TEXT_MAX_BYTES) {
    throw new HistoryParseError(`input larger than ${HISTORY_TEXT_MAX_BYTES} bytes`);
  }
  if (text.trim() === '') {
    throw new HistoryParseError('empty input: no history to check');
  }
  switch (format === 'auto' ? detectFormat(text) : format) {
    case 'json':
      return parseJsonHistory(text);
    case 'jepsen-log':
      return parseJepsenLog(text);
    case 'edn':
      return parseJepsenEdn(text);
  }
}

/** The format `parseHistory` would pick for `text`. */
export function detectFormat(text: string): Exclude<HistoryFormat, 'auto'> {
  // JSON starts with an object whose first key is quoted; an EDN map starts `{:`.
  if (/^\s*\{\s*("|\})/.test(text)) {
    return 'json';
  }
  if (/^\s*[[{(;#]/.test(text)) {
    return 'edn';
  }
  return looksLikeJepsenLog(text) ? 'jepsen-log' : 'edn';
}
