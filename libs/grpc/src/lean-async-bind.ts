/**
 * A per-call cost of Node 20's HTTP/2 client, removed in processes that make many calls
 * (the gateway, members forwarding writes, kvctl bench and the load generator).
 *
 * `ClientHttp2Session.request()` wraps every request in `AsyncResource.prototype.bind`, which
 * defines a deprecated `asyncResource` accessor pair (DEP0172) made by `util.deprecate` — and
 * `util.deprecate` calls `Object.setPrototypeOf` on a fresh function, several microseconds
 * each. The gateway makes one upstream request per client call, and this was 10-20% of its CPU
 * per forwarded call (`npm run bench:gateway`, docs/benchmarks.md). The replacement binds the
 * same way (the function runs in the resource's async scope, with the same `this` and
 * arguments) without the deprecated accessors, which nothing in the gateway reads.
 */
import { AsyncResource } from 'node:async_hooks';

type BoundFunction = (this: unknown, ...args: unknown[]) => unknown;
type Bind = (this: AsyncResource, fn: BoundFunction, thisArg?: unknown) => BoundFunction;

const original = AsyncResource.prototype.bind;

/** Replaces AsyncResource.prototype.bind in this process; returns what puts the original back (tests). */
export function installLeanAsyncResourceBind(): () => void {
  const lean: Bind = function bind(this: AsyncResource, fn, thisArg) {
    if (typeof fn !== 'function') {
      throw new TypeError('AsyncResource.bind: fn must be a function');
    }
    return bindTo(this, fn, thisArg);
  };
  (AsyncResource.prototype as unknown as { bind: Bind }).bind = lean;
  return () => {
    AsyncResource.prototype.bind = original;
  };
}

/** `fn` running in `resource`'s async scope, with the caller's `this` unless `thisArg` is given. */
function bindTo(resource: AsyncResource, fn: BoundFunction, thisArg: unknown): BoundFunction {
  if (thisArg === undefined) {
    return function (this: unknown, ...args: unknown[]) {
      return resource.runInAsyncScope(fn, this, ...args);
    };
  }
  return (...args: unknown[]) => resource.runInAsyncScope(fn, thisArg, ...args);
}
