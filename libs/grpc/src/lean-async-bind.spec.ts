/** The lean AsyncResource.bind keeps the binding's contract: async scope, `this`, arguments. */
import { AsyncLocalStorage, AsyncResource, executionAsyncId } from 'node:async_hooks';
import { installLeanAsyncResourceBind } from './lean-async-bind';

describe('installLeanAsyncResourceBind', () => {
  let restore: () => void = () => undefined;
  beforeAll(() => {
    restore = installLeanAsyncResourceBind();
  });
  afterAll(() => restore()); // the module is shared with the other test files of this worker

  it('runs the bound function in the resource\'s async scope, with its this and arguments', () => {
    const storage = new AsyncLocalStorage<string>();
    const resource = storage.run('inside', () => new AsyncResource('test'));
    const seen: unknown[] = [];
    const bound = resource.bind(function (this: unknown, a: number, b: number) {
      seen.push(storage.getStore(), executionAsyncId() === resource.asyncId(), this, a + b);
      return 'result';
    });
    const target = { name: 'receiver' };
    expect(storage.run('outside', () => bound.call(target, 1, 2))).toBe('result');
    expect(seen).toEqual(['inside', true, target, 3]);
  });

  it('binds to a given thisArg, as the original does', () => {
    const resource = new AsyncResource('test');
    const self = { n: 1 };
    // The thisArg overload exists at run time but not in @types/node.
    const bindWithThis = resource.bind.bind(resource) as unknown as (fn: (this: { n: number }) => number, thisArg: unknown) => (this: unknown) => number;
    const bound = bindWithThis(function (this: { n: number }) {
      return this.n;
    }, self);
    expect(bound.call({ n: 2 })).toBe(1);
    expect(() => resource.bind(42 as unknown as () => void)).toThrow(TypeError);
  });

  it('is what HTTP/2 client requests use afterwards, and they still work', async () => {
    const http2 = await import('node:http2');
    const server = http2.createServer((_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const session = http2.connect(`http://127.0.0.1:${port}`);
    const body = await new Promise<string>((resolve, reject) => {
      const req = session.request({ ':path': '/' });
      let text = '';
      req.setEncoding('utf8').on('data', (s: string) => (text += s));
      req.on('end', () => resolve(text));
      req.on('error', reject);
      req.end();
    });
    expect(body).toBe('ok');
    session.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
});
