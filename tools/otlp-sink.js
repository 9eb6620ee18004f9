#!/usr/bin/env node
'use strict';
// A local OTLP/HTTP trace sink for measuring what tracing costs: accepts POST /v1/traces
// (protobuf or JSON, gzip or not) on 127.0.0.1, answers 200 at once, counts requests and
// bytes, and prints the totals every 10 s and on Ctrl-C. It does not decode spans (the test
// receiver in test/integration/harness/otlp-receiver.ts does); it only lets the exporters of
// a benchmarked cluster export for real.
//
//   node tools/otlp-sink.js [port]          (default 4318, OTLP/HTTP's usual port)
//   OTEL_TRACES_EXPORTER=otlp OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 \
//   OTEL_TRACES_SAMPLER=traceidratio OTEL_TRACES_SAMPLER_ARG=0.01 npm run bench
const http = require('node:http');

const port = Number(process.argv[2] ?? 4318);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  process.stderr.write(`otlp-sink: the port must be 1-65535, got ${JSON.stringify(process.argv[2])}\n`);
  process.exit(2);
}
let requests = 0;
let bytes = 0;
const server = http.createServer((req, res) => {
  req.on('data', (chunk) => (bytes += chunk.length));
  req.on('end', () => {
    if (req.method === 'POST' && req.url === '/v1/traces') {
      requests++;
      res.writeHead(200, { 'content-type': String(req.headers['content-type'] ?? 'application/x-protobuf') });
    } else {
      res.writeHead(404);
    }
    res.end();
  });
});
const report = () => process.stdout.write(`otlp-sink: ${requests} export requests, ${bytes} bytes\n`);
server.listen(port, '127.0.0.1', () => process.stdout.write(`otlp-sink: listening on http://127.0.0.1:${port} (Ctrl-C stops)\n`));
setInterval(report, 10_000).unref();
process.on('SIGINT', () => {
  report();
  process.exit(0);
});
process.on('SIGTERM', () => {
  report();
  process.exit(0);
});
