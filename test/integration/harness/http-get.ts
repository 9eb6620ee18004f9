/** GET of a health/metrics listener for the integration tests (http://, or https:// with a client certificate). */
import * as http from 'node:http';
import * as https from 'node:https';

/** What an https:// GET verifies the server with and presents as its own certificate (PEM). */
export interface HttpsCredentials {
  readonly ca: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

/** GET `url`: its HTTP status and body; status 0 (and the error as body) if it could not be reached in time. */
export function httpGet(url: string, timeoutMs = 1_000, credentials?: HttpsCredentials): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const onResponse = (res: http.IncomingMessage): void => {
      let body = '';
      res.setEncoding('utf8').on('data', (s: string) => (body += s));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve({ status: 0, body }));
    };
    // HTTP/1.1 over TLS (ALPN "http/1.1"), as Prometheus and curl scrape etcd's https:// client URL.
    const req = url.startsWith('https://') ? https.get(url, { timeout: timeoutMs, agent: false, ...credentials }, onResponse) : http.get(url, { timeout: timeoutMs }, onResponse);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (error) => resolve({ status: 0, body: String(error) }));
  });
}
