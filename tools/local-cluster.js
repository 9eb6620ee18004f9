#!/usr/bin/env node
// Starts a local KeyVal cluster on loopback in the foreground: three members with their data
// under ./data (restarting on the same data when run again) and the gateway in front of them
// on 127.0.0.1:2378, the one address clients need; their logs interleaved and readable.
// Ctrl-C stops them cleanly. Run `npm run build` first (the README command does).
//
// For tests: KEYVAL_LOCAL_DATA_DIR puts the data elsewhere, and KEYVAL_LOCAL_PORT_BASE=B moves
// every port (gateway B and B+1; member k at B+10+10k, +1 peer, +2 metrics).
//
// --tls: mutual TLS everywhere (clients to the gateway and members, the gateway to the members,
// member to member), with a throwaway CA and certificates made under <data>/pki on the first run
// (libs/grpc tls/throwaway-pki); the data then lives under ./data-tls, since https:// peer URLs make
// other member ids than http:// ones.
'use strict';
const { spawn } = require('node:child_process');
const path = require('node:path');
const fs = require('node:fs');
const readline = require('node:readline');

const root = path.join(__dirname, '..');
const flags = process.argv.slice(2);
for (const flag of flags) {
  if (flag !== '--tls') {
    process.stderr.write(`local-cluster: unknown flag ${flag} (flags: --tls)\n`);
    process.exit(2);
  }
}
const useTls = flags.includes('--tls');
const scheme = useTls ? 'https' : 'http';
const dataRoot = process.env.KEYVAL_LOCAL_DATA_DIR || path.join(root, useTls ? 'data-tls' : 'data');
const portBase = process.env.KEYVAL_LOCAL_PORT_BASE ? Number(process.env.KEYVAL_LOCAL_PORT_BASE) : undefined;
if (portBase !== undefined && !(Number.isInteger(portBase) && portBase >= 1024 && portBase <= 65_000)) {
  process.stderr.write(`local-cluster: KEYVAL_LOCAL_PORT_BASE must be a whole number in [1024, 65000], got ${JSON.stringify(process.env.KEYVAL_LOCAL_PORT_BASE)}\n`);
  process.exit(2);
}
const members =
  portBase === undefined
    ? [
        { name: 'n1', client: 2379, peer: 2380, metrics: 2381 },
        { name: 'n2', client: 22379, peer: 22380, metrics: 22381 },
        { name: 'n3', client: 32379, peer: 32380, metrics: 32381 },
      ]
    : [0, 1, 2].map((k) => ({ name: `n${k + 1}`, client: portBase + 10 + 10 * k, peer: portBase + 11 + 10 * k, metrics: portBase + 12 + 10 * k }));
const host = '127.0.0.1';
/** The gateway: clients connect here; health and metrics on the second port. */
const gateway = portBase === undefined ? { name: 'gw', client: 2378, metrics: 23780 } : { name: 'gw', client: portBase, metrics: portBase + 1 };
const initialCluster = members.map((m) => `${m.name}=${scheme}://${host}:${m.peer}`).join(',');
const colors = ['\x1b[36m', '\x1b[35m', '\x1b[33m', '\x1b[32m'];
const reset = process.stdout.isTTY ? '\x1b[0m' : '';
const levels = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };

const main = path.join(root, 'apps', 'keyval', 'dist', 'main.js');
const gatewayMain = path.join(root, 'apps', 'gateway', 'dist', 'main.js');
if (!fs.existsSync(main) || !fs.existsSync(gatewayMain)) {
  process.stderr.write('local-cluster: not built yet; run `npm run build` first\n');
  process.exit(1);
}

/** The PKI of --tls: made once under <data>/pki, reused on later runs. */
async function makePki() {
  const dir = path.join(dataRoot, 'pki');
  const names = [...members.map((m) => m.name), 'gateway', 'client'];
  const files = Object.fromEntries(names.map((name) => [name, { certFile: path.join(dir, `${name}.pem`), keyFile: path.join(dir, `${name}-key.pem`) }]));
  const caFile = path.join(dir, 'ca.pem');
  const tls = require(path.join(root, 'libs', 'grpc', 'dist', 'tls', 'throwaway-pki.js'));
  if (!fs.existsSync(caFile) || names.some((name) => !fs.existsSync(files[name].certFile))) {
    const ca = await tls.ThrowawayCa.create(dir);
    for (const name of names) {
      await ca.issue(name, { days: 365 });
    }
  }
  return { caFile, files, tls };
}

function tlsArgsOf(pki, name) {
  return pki === undefined ? [] : pki.tls.memberTlsFlags(pki.caFile, pki.files[name]);
}

function pretty(name, color, line) {
  let text = line;
  try {
    const rec = JSON.parse(line);
    const { level, time, msg, member: _m, name: _n, pid: _p, hostname: _h, ...rest } = rec;
    const fields = Object.entries(rest)
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' ');
    text = `${String(time).slice(11, 23)} ${levels[level] ?? level} ${msg}${fields ? `  ${fields}` : ''}`;
  } catch {
    // not JSON: print as is
  }
  process.stdout.write(`${process.stdout.isTTY ? color : ''}${name.padEnd(3)}|${reset} ${text}\n`);
}

const children = [];

async function start() {
const pki = useTls ? await makePki() : undefined;
members.forEach((m, k) => {
  const dataDir = path.join(dataRoot, m.name);
  const args = [
    main,
    `--name=${m.name}`,
    `--data-dir=${dataDir}`,
    `--listen-client-urls=${scheme}://${host}:${m.client}`,
    `--advertise-client-urls=${scheme}://${host}:${m.client}`,
    `--listen-peer-urls=${scheme}://${host}:${m.peer}`,
    `--initial-advertise-peer-urls=${scheme}://${host}:${m.peer}`,
    `--listen-metrics-urls=http://${host}:${m.metrics}`,
    `--initial-cluster=${initialCluster}`,
    '--initial-cluster-state=new',
    ...tlsArgsOf(pki, m.name),
  ];
  // The members' heap settings (docs/operations.md, "Node.js heap"), then any extra node flags.
  const nodeArgs = ['--max-semi-space-size=16', '--initial-old-space-size=96', ...(process.env.KEYVAL_NODE_ARGS ?? '').split(' ').filter((a) => a.length > 0)];
  // detached: a process group of its own, so Ctrl-C (SIGINT to the terminal's foreground group)
  // reaches only this script, which then asks each child once (SIGTERM) to stop gracefully; a
  // child signalled twice would exit at once, mid-drain.
  const child = spawn(process.execPath, [...nodeArgs, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  for (const stream of [child.stdout, child.stderr]) {
    readline.createInterface({ input: stream }).on('line', (line) => pretty(m.name, colors[k % colors.length], line));
  }
  child.on('exit', (code, signal) => pretty(m.name, colors[k % colors.length], `exited (${signal ?? code})`));
  children.push(child);
});

const endpoints = members.map((m) => `${useTls ? 'https://' : ''}${host}:${m.client}`).join(',');
// The gateway starts with the members: it finds the leader itself once they have elected one.
const gatewayArgs = [
  gatewayMain,
  `--endpoints=${endpoints}`,
  `--listen-client-urls=${scheme}://${host}:${gateway.client}`,
  `--listen-metrics-urls=http://${host}:${gateway.metrics}`,
  ...(pki === undefined
    ? []
    : [
        `--cert-file=${pki.files.gateway.certFile}`,
        `--key-file=${pki.files.gateway.keyFile}`,
        `--trusted-ca-file=${pki.caFile}`,
        '--client-cert-auth',
        `--cacert=${pki.caFile}`,
        `--cert=${pki.files.gateway.certFile}`,
        `--key=${pki.files.gateway.keyFile}`,
      ]),
];
{
  const color = colors[members.length % colors.length];
  const child = spawn(process.execPath, gatewayArgs, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  for (const stream of [child.stdout, child.stderr]) {
    readline.createInterface({ input: stream }).on('line', (line) => pretty(gateway.name, color, line));
  }
  child.on('exit', (code, signal) => pretty(gateway.name, color, `exited (${signal ?? code})`));
  children.push(child);
}
const address = `${host}:${gateway.client}`;
const tlsFlags = pki === undefined ? '' : ` --cacert=${pki.caFile} --cert=${pki.files.client.certFile} --key=${pki.files.client.keyFile}`;
process.stdout.write(`KeyVal local cluster: 3 members, data under ${dataRoot}, and the gateway${useTls ? ', mutual TLS everywhere' : ''}\n`);
process.stdout.write(`  clients use: ${address}   (the gateway; it sends every request to the right member)\n`);
process.stdout.write(`  try: etcdctl --endpoints=${useTls ? 'https://' : ''}${address}${tlsFlags} put hello world\n`);
process.stdout.write(`  members: ${endpoints}; gateway health: http://${host}:${gateway.metrics}/readyz\n  Ctrl-C stops the cluster.\n`);
Promise.all(children.map((c) => new Promise((resolve) => c.on('exit', (code) => resolve(code))))).then((codes) => {
  process.exit(codes.every((c) => c === 0) ? 0 : 1);
});
}

let stopping = false;
function stop(signal) {
  if (stopping) {
    return;
  }
  stopping = true;
  process.stdout.write(`\nstopping (${signal})...\n`);
  for (const child of children) {
    if (child.exitCode === null) child.kill('SIGTERM');
  }
  setTimeout(() => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  }, 15_000).unref();
}
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGHUP', () => stop('SIGHUP'));
// The children are not in this script's process group: never leave them behind.
process.on('exit', () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});
start().catch((error) => {
  process.stderr.write(`local-cluster: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
