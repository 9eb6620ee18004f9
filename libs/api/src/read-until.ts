/**
 * Reading a client's request stream until it ends or the server stops it (a shutdown): the
 * read in progress, and the handling of a request, are abandoned at once when `stop` aborts,
 * so a long-lived stream (Watch, LeaseKeepAlive) never holds a draining server.
 */

/** Feeds requests to `handle`, one at a time, until they end or `stop` aborts. */
export async function readUntil<T>(requests: AsyncIterable<T>, stop: AbortSignal, handle: (request: T) => void | Promise<void>): Promise<void> {
  const iterator = requests[Symbol.asyncIterator]();
  const stopped = new Promise<'stopped'>((resolve) => {
    if (stop.aborted) resolve('stopped');
    stop.addEventListener('abort', () => resolve('stopped'), { once: true });
  });
  for (;;) {
    const next = await Promise.race([iterator.next(), stopped]);
    if (next === 'stopped' || next.done === true) {
      return;
    }
    const handled = handle(next.value);
    if (handled !== undefined && (await Promise.race([handled.then(() => 'handled' as const), stopped])) === 'stopped') {
      // The handling goes on in the background; its outcome no longer matters.
      handled.catch(() => undefined);
      return;
    }
  }
}
