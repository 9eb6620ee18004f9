/** A request to a JSON API path for the integration tests, as `curl -N -X POST -d BODY` sends it. */
import * as http from 'node:http';
import * as https from 'node:https';
import type { HttpsCredentials } from './http-get';

/** What came back: the HTTP status, its headers, and the body as text (a stream's lines so far). */
export interface HttpAnswer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/**
 * One HTTP request to `endpoint` (host:port). A streamed answer is read until `lines` lines
 * came (and `until` holds), then the request is closed, as a client stops a `curl -N`;
 * without `lines` it is read to its end; `credentials` make it https://; `onText` sees the text so far at every chunk. Rejects when nothing ends it within `timeoutMs`.
 */
export function httpPost(
  endpoint: string,
  urlPath: string,
  body: string | undefined,
  options: { method?: string; lines?: number; until?: (text: string) => boolean; timeoutMs?: number; onText?: (text: string) => void; credentials?: HttpsCredentials } = {},
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const timeoutMs = options.timeoutMs ?? 10_000;
    const onResponse = (response: http.IncomingMessage): void => {
      let text = '';
      const answer = (): HttpAnswer => ({ status: response.statusCode ?? 0, headers: response.headers, body: text });
      response.setEncoding('utf8').on('data', (chunk: string) => {
        text += chunk;
        options.onText?.(text);
        if (options.lines !== undefined && text.split('\n').length > options.lines && (options.until?.(text) ?? true)) {
          request.destroy();
          resolve(answer());
        }
      });
      response.once('end', () => resolve(answer()));
      response.once('error', () => resolve(answer()));
    };
    // With credentials: HTTP/1.1 over TLS (ALPN "http/1.1"), as curl --cacert sends it.
    const request =
      options.credentials === undefined
        ? http.request(`http://${endpoint}${urlPath}`, { method: options.method ?? 'POST', timeout: timeoutMs }, onResponse)
        : https.request(`https://${endpoint}${urlPath}`, { method: options.method ?? 'POST', timeout: timeoutMs, agent: false, ...options.credentials }, onResponse);
    request.once('error', (error) => (options.lines !== undefined ? undefined : reject(error)));
    request.once('timeout', () => request.destroy(new Error(`${urlPath}: no answer within ${timeoutMs} ms`)));
    request.end(body);
  });
}
