/**
 * The simulation's agenda: events ordered by (time, sequence). Sequence numbers break ties in
 * insertion order, so two events at the same millisecond always run in the same order and a
 * seed replays exactly. A binary min-heap; bounded so a runaway feedback loop fails loudly.
 */

/** One scheduled action. `run` is called once, at `time`. */
export interface SimEvent {
  readonly time: number;
  readonly seq: number;
  readonly run: () => void;
}

/** More events than this pending at once means the world is misbehaving. */
export const MAX_PENDING_EVENTS = 2_000_000;

export class EventQueueOverflowError extends Error {
  constructor(limit: number) {
    super(`more than ${limit} events pending`);
    this.name = 'EventQueueOverflowError';
  }
}

export class EventQueue {
  private readonly heap: SimEvent[] = [];
  private nextSeq = 0;

  get size(): number {
    return this.heap.length;
  }

  /** Sequence numbers handed out so far (a cheap count of scheduled events). */
  get scheduled(): number {
    return this.nextSeq;
  }

  /** Schedules `run` at `time` (ms). Time must be a finite non-negative integer. */
  push(time: number, run: () => void): void {
    if (!Number.isSafeInteger(time) || time < 0) {
      throw new RangeError(`event time must be a non-negative integer, got ${time}`);
    }
    if (this.heap.length >= MAX_PENDING_EVENTS) {
      throw new EventQueueOverflowError(MAX_PENDING_EVENTS);
    }
    const event: SimEvent = { time, seq: this.nextSeq++, run };
    const heap = this.heap;
    heap.push(event);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent] as SimEvent;
      if (!before(event, p)) {
        break;
      }
      heap[i] = p;
      i = parent;
    }
    heap[i] = event;
  }

  /** The earliest event's time, or undefined when empty. */
  peekTime(): number | undefined {
    return this.heap[0]?.time;
  }

  /** Removes and returns the earliest event. */
  pop(): SimEvent | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (top === undefined || last === undefined || heap.length === 0) {
      return top;
    }
    let i = 0;
    const n = heap.length;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) {
        break;
      }
      const right = left + 1;
      let child = left;
      if (right < n && before(heap[right] as SimEvent, heap[left] as SimEvent)) {
        child = right;
      }
      const c = heap[child] as SimEvent;
      if (!before(c, last)) {
        break;
      }
      heap[i] = c;
      i = child;
    }
    heap[i] = last;
    return top;
  }
}

function before(a: SimEvent, b: SimEvent): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}
