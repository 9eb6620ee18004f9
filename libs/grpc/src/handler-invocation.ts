/**
 * How a handler's result becomes its call's outcome. A handler may answer at once, return a
 * promise, or throw; the call hears exactly one of `handlerSucceeded` or `handlerFailed`, at
 * once for a synchronous answer or throw, when the promise settles otherwise. A call that
 * throws while settling an asynchronous answer is a bug: `settlementFailed` reports it (there is
 * no caller left to throw to).
 */

/** What a call does when its handler is done. */
export interface HandlerSettlement {
  handlerSucceeded(result: unknown): void;
  handlerFailed(error: unknown): void;
  /** The settlement of an asynchronous answer threw (a bug): report it, never swallow it. */
  settlementFailed(bug: unknown): void;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/** Runs `invoke` (the handler bound to its request and call) and settles `call` from its result. */
export function invokeHandler(invoke: () => unknown, call: HandlerSettlement): void {
  let result: unknown;
  try {
    result = invoke();
  } catch (error) {
    call.handlerFailed(error);
    return;
  }
  if (isThenable(result)) {
    result
      .then(
        (value) => call.handlerSucceeded(value),
        (error: unknown) => call.handlerFailed(error),
      )
      .then(undefined, (bug: unknown) => call.settlementFailed(bug));
  } else {
    call.handlerSucceeded(result);
  }
}
