/**
 * Child process: one DelayProxy in a member's namespace, steered by the harness over IPC
 * (see ipc-child.ts). argv[2] is the JSON of DelayProxyOptions. Exits when the channel closes.
 */
import { DelayProxy } from './delay-proxy';
import type { DelayProxyOptions, DelaySetting } from './delay-proxy';
import { serveIpc } from './ipc-child';

/** What the proxy serves. */
export type ProxyMethods = {
  /** Resolves with the bound port once listening. */
  ready: { params: null; result: number };
  /** Sets the delay of chunks arriving from now on. */
  delay: { params: DelaySetting; result: null };
};

function main(): void {
  const options = JSON.parse(process.argv[2] ?? '') as DelayProxyOptions;
  const proxy = new DelayProxy(options);
  const listening = proxy.listen();
  // An unhandled rejection would kill the process before the harness asks; `ready` reports it.
  listening.catch(() => undefined);
  serveIpc<ProxyMethods>({
    ready: () => listening,
    delay: async (setting) => {
      proxy.setDelay(setting);
      return null;
    },
  });
}

main();
