/**
 * Messages arriving on an HTTP/2 stream, as an async iterable for one reader: the requests
 * of a client-streaming or bidi call on the server, the responses of a server-streaming call
 * on the client. Bounded: when `highWaterMark` messages wait unread the stream is paused, so
 * HTTP/2 flow control pushes back on the sender until the reader catches up.
 */
export class MessageQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private ended = false;
  private failure: unknown = undefined;
  private iterated = false;
  /** The reader stopped reading: further messages are dropped. */
  private abandoned = false;
  private waiter: { resolve: (result: IteratorResult<T>) => void; reject: (error: unknown) => void } | undefined;
  private paused = false;

  constructor(
    private readonly highWaterMark: number,
    private readonly pause: () => void,
    private readonly resume: () => void,
  ) {
    if (!(highWaterMark >= 1)) {
      throw new RangeError(`highWaterMark ${highWaterMark} must be at least 1`);
    }
  }

  /** Adds a message that arrived; ignored once the queue has ended, failed or been abandoned. */
  push(item: T): void {
    if (this.ended || this.abandoned) {
      return;
    }
    if (this.waiter !== undefined) {
      const { resolve } = this.waiter;
      this.waiter = undefined;
      resolve({ value: item, done: false });
      return;
    }
    this.items.push(item);
    if (this.items.length >= this.highWaterMark && !this.paused) {
      this.paused = true;
      this.pause();
    }
  }

  /** The sender half-closed: the iteration ends after the queued messages. */
  end(): void {
    this.settle(undefined);
  }

  /** The call failed: queued messages are dropped and the iteration throws `error`. */
  fail(error: unknown): void {
    this.items.length = 0;
    this.settle(error === undefined ? new Error('message stream failed') : error);
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.iterated) {
      throw new Error('the message stream can be iterated only once');
    }
    this.iterated = true;
    return {
      next: () => this.next(),
      return: () => {
        this.abandoned = true;
        this.items.length = 0;
        this.resumeIfPaused();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  private next(): Promise<IteratorResult<T>> {
    if (this.failure !== undefined) {
      return Promise.reject(this.failure);
    }
    if (this.items.length > 0) {
      const value = this.items.shift() as T;
      if (this.items.length < this.highWaterMark / 2) {
        this.resumeIfPaused();
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.ended) {
      return Promise.resolve({ value: undefined, done: true });
    }
    if (this.waiter !== undefined) {
      return Promise.reject(new Error('next() called again before the previous call resolved'));
    }
    this.resumeIfPaused();
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  private settle(failure: unknown): void {
    if (this.ended) {
      return;
    }
    this.ended = true;
    this.failure = failure;
    const waiter = this.waiter;
    this.waiter = undefined;
    if (waiter !== undefined) {
      if (failure === undefined) {
        waiter.resolve({ value: undefined, done: true });
      } else {
        waiter.reject(failure);
      }
    }
  }

  private resumeIfPaused(): void {
    if (this.paused) {
      this.paused = false;
      this.resume();
    }
  }
}
