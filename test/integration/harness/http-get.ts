/** GET of a health/metrics listener for the integration tests. */
import * as http from 'node:http';

/** GET `url`: its HTTP status and body; status 0 (and the error as body) if it could not be reached in time. */
export function httpGet(url: string, timeoutMs = 1_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (s: string) => (body += s));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve({ status: 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (error) => resolve({ status: 0, body: String(error) }));
  });
}
