/**
 * The small HTTP server supervisors talk to (/healthz, /readyz, /metrics): one per listen URL,
 * GET only, each route answering a status code and a JSON (or text) body.
 */
import * as http from 'node:http';
import type { ListenUrl } from './cli-values';

export interface HttpAnswer {
  readonly status: number;
  /** Serialized as JSON unless `contentType` says otherwise (then sent as it is). */
  readonly body: unknown;
  readonly contentType?: string;
}

export type HttpRoutes = Readonly<Record<string, () => HttpAnswer>>;

export interface HealthServer {
  close(): Promise<void>;
}

function answer(res: http.ServerResponse, a: HttpAnswer): void {
  const type = a.contentType ?? 'application/json';
  res.writeHead(a.status, { 'content-type': type });
  res.end(type === 'application/json' ? `${JSON.stringify(a.body)}\n` : String(a.body));
}

/** Serves `routes` on every URL; resolves once all listen. */
export async function startHealthServer(urls: readonly ListenUrl[], routes: HttpRoutes, onListening: (url: string) => void): Promise<HealthServer> {
  const servers: http.Server[] = [];
  const handle = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (req.method !== 'GET') {
      answer(res, { status: 405, body: { error: 'only GET' } });
      return;
    }
    const route = routes[path];
    if (route === undefined) {
      answer(res, { status: 404, body: { error: `no such endpoint ${path}; try ${Object.keys(routes).join(', ')}` } });
      return;
    }
    try {
      answer(res, route());
    } catch (error) {
      answer(res, { status: 503, body: { error: error instanceof Error ? error.message : String(error) } });
    }
  };
  try {
    for (const url of urls) {
      const server = http.createServer(handle);
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(url.port, url.host, () => resolve());
      });
      onListening(url.url);
    }
  } catch (error) {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    throw error;
  }
  return { close: () => Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())))).then(() => undefined) };
}
