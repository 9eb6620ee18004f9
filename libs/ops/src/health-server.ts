/**
 * The small HTTP/1.1 side supervisors and Prometheus talk to (/metrics, /health, /readyz...):
 * `routesHandler` answers GET (and HEAD) requests from a table of routes, each giving a status
 * and a JSON (or text) body. It is what the apps hand to the gRPC server's HTTP/1.1 side of the
 * client port (`@keyval/grpc` connection-dispatch), and what `startHealthServer` serves on the
 * extra `--listen-metrics-urls` listeners.
 */
import * as http from 'node:http';
import type { ListenUrl } from './cli-values';

export interface HttpAnswer {
  readonly status: number;
  /** Serialized as JSON unless `contentType` says otherwise (then sent as it is). */
  readonly body: unknown;
  readonly contentType?: string;
}

export type HttpRoute = () => HttpAnswer | Promise<HttpAnswer>;
export type HttpRoutes = Readonly<Record<string, HttpRoute>>;

export interface HealthServer {
  close(): Promise<void>;
}

function answer(req: http.IncomingMessage, res: http.ServerResponse, a: HttpAnswer): void {
  const type = a.contentType ?? 'application/json';
  const body = type === 'application/json' ? `${JSON.stringify(a.body)}\n` : String(a.body);
  res.writeHead(a.status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** A request listener answering `routes` (GET and HEAD; the query string is ignored). */
export function routesHandler(routes: HttpRoutes): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      answer(req, res, { status: 405, body: { error: 'only GET and HEAD' } });
      req.resume();
      return;
    }
    const route = Object.prototype.hasOwnProperty.call(routes, path) ? routes[path] : undefined;
    if (route === undefined) {
      answer(req, res, { status: 404, body: { error: `no such endpoint ${path}; try ${Object.keys(routes).join(', ')}` } });
      return;
    }
    const failed = (error: unknown): void => answer(req, res, { status: 503, body: { error: error instanceof Error ? error.message : String(error) } });
    try {
      Promise.resolve(route()).then((a) => answer(req, res, a), failed);
    } catch (error) {
      failed(error);
    }
  };
}

/** What a process tells its etcd-style HTTP endpoints. */
export interface EtcdEndpointSource {
  /** The Prometheus exposition and its Content-Type. */
  metrics(): Promise<{ readonly text: string; readonly contentType: string }>;
  /** Whether it serves (undefined while it is starting). */
  health(): { readonly healthy: boolean; readonly reason?: string } | undefined;
  /** Its /readyz answer (undefined while it is starting). */
  ready(): HttpAnswer | undefined;
  /** /version's JSON: `etcdserver`, `etcdcluster`... */
  readonly version: Readonly<Record<string, string>>;
}

const STARTING: HttpAnswer = { status: 503, body: { health: 'false', reason: 'starting' } };

/**
 * etcd's endpoints: /metrics, /health and /healthz (`{"health":"true"}`, 503 with a reason
 * otherwise), /readyz, /livez and /version.
 */
export function etcdHttpRoutes(source: EtcdEndpointSource): HttpRoutes {
  const health = (): HttpAnswer => {
    const h = source.health();
    if (h === undefined) return STARTING;
    return { status: h.healthy ? 200 : 503, body: h.healthy ? { health: 'true' } : { health: 'false', reason: h.reason } };
  };
  return {
    '/metrics': async () => {
      const m = await source.metrics();
      return { status: 200, body: m.text, contentType: m.contentType };
    },
    '/health': health,
    '/healthz': health,
    '/readyz': () => source.ready() ?? STARTING,
    '/livez': () => ({ status: 200, body: { live: true } }),
    '/version': () => ({ status: 200, body: source.version }),
  };
}

/** Serves `routes` on every URL; resolves once all listen. */
export async function startHealthServer(urls: readonly ListenUrl[], routes: HttpRoutes, onListening: (url: string) => void): Promise<HealthServer> {
  const servers: http.Server[] = [];
  const handle = routesHandler(routes);
  try {
    for (const url of urls) {
      const server = http.createServer({ headersTimeout: 10_000, requestTimeout: 10_000 }, handle);
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
  return {
    close: () =>
      Promise.all(
        servers.map(
          (s) =>
            new Promise<void>((resolve) => {
              s.close(() => resolve());
              s.closeAllConnections();
            }),
        ),
      ).then(() => undefined),
  };
}
