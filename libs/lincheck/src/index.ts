// Public surface of @keyval/lincheck: the linearizability checker for key-value histories,
// its history types, readers (JSON, Jepsen EDN, Jepsen logs) and writers (JSON, EDN).
export type { AppendOp, CasOp, DeleteOp, GetOp, History, ModelKind, OpCommon, OpStatus, Operation, PutOp, Value, Verdict } from './history';
export { OPERATION_KINDS } from './history';
export type { CheckOptions, CheckResult, KeyResult, UnknownReason } from './check';
export { DEFAULT_MAX_CACHE_BYTES, DEFAULT_TIMEOUT_MS, checkHistory } from './check';
export type { Counterexample, CounterexampleOp } from './counterexample';
export { describeOperation, formatCounterexample, showValue } from './counterexample';
export { HistoryParseError, InvalidHistoryError, InvalidOptionError, LincheckError, LincheckInvariantError } from './lincheck.error';
export { MAX_OPERATIONS, validateOperations } from './validate';
export type { Invocation, Outcome } from './history-recorder';
export { HistoryRecorder } from './history-recorder';
export type { HistoryFormat } from './read-history';
export { HISTORY_TEXT_MAX_BYTES, detectFormat, parseHistory } from './read-history';
export type { FormatJsonOptions } from './json-history';
export { HISTORY_FORMAT, HISTORY_FORMAT_VERSION, formatJsonHistory, parseJsonHistory } from './json-history';
export { formatEdnHistory } from './edn-writer';
export type { EdnChar, EdnForm, EdnKeyword, EdnMap, EdnSequence, EdnSymbol, EdnTagged, EdnValue } from './edn-reader';
export { readEdn, readEdnForms } from './edn-reader';
