'use strict';
// The image's HEALTHCHECK: GET $KEYVAL_HEALTHCHECK_URL (default: a member's /healthz on its
// health port) and exit 0 on 200, 1 otherwise. Plain Node: the image has no curl.
const http = require('node:http');
const url = process.env.KEYVAL_HEALTHCHECK_URL || 'http://127.0.0.1:2381/healthz';
const request = http.get(url, { timeout: 2500 }, (res) => {
  res.resume();
  process.exit(res.statusCode === 200 ? 0 : 1);
});
request.on('timeout', () => request.destroy(new Error('timed out')));
request.on('error', (error) => {
  process.stderr.write(`healthcheck ${url}: ${error.message}\n`);
  process.exit(1);
});
