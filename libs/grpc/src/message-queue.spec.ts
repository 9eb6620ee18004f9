import { MessageQueue } from './message-queue';

async function drain<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) {
    out.push(item);
  }
  return out;
}

describe('MessageQueue', () => {
  it('pauses the source at the high-water mark and resumes it below half of it', async () => {
    const events: string[] = [];
    const queue = new MessageQueue<number>(
      4,
      () => events.push('pause'),
      () => events.push('resume'),
    );
    for (let i = 0; i < 5; i++) {
      queue.push(i);
    }
    expect(events).toEqual(['pause']);
    const iterator = queue[Symbol.asyncIterator]();
    await iterator.next();
    await iterator.next();
    await iterator.next();
    expect(events).toEqual(['pause']); // 2 of 4 left
    await iterator.next();
    expect(events).toEqual(['pause', 'resume']); // 1 left
  });

  it('delivers everything queued before the end, then ends', async () => {
    const queue = new MessageQueue<number>(10, jest.fn(), jest.fn());
    queue.push(1);
    queue.push(2);
    queue.end();
    queue.push(3); // after the end: ignored
    expect(await drain(queue)).toEqual([1, 2]);
  });

  it('hands a waiting reader the next message directly', async () => {
    const queue = new MessageQueue<string>(10, jest.fn(), jest.fn());
    const iterator = queue[Symbol.asyncIterator]();
    const next = iterator.next();
    queue.push('x');
    expect(await next).toEqual({ value: 'x', done: false });
  });

  it('fails a waiting reader, dropping what was queued', async () => {
    const queue = new MessageQueue<number>(10, jest.fn(), jest.fn());
    queue.push(1);
    queue.fail(new Error('reset'));
    await expect(drain(queue)).rejects.toThrow('reset');
  });

  it('drops messages once the reader stops, resuming a paused source', async () => {
    const resume = jest.fn();
    const queue = new MessageQueue<number>(1, jest.fn(), resume);
    queue.push(1);
    for await (const _item of queue) {
      break;
    }
    expect(resume).toHaveBeenCalledTimes(1);
    queue.push(2);
    expect(() => queue[Symbol.asyncIterator]()).toThrow(/only once/);
  });
});
