// temporary investigation script (not committed)
const { GrpcChannel, createClient, installLeanAsyncResourceBind } = require('@keyval/grpc');
const { etcd } = require('@keyval/proto');
installLeanAsyncResourceBind();
const [endpoint, clients, seconds] = [process.argv[2], +process.argv[3], +process.argv[4]];
const ch = new GrpcChannel(endpoint, { sessions: 2 });
const kv = createClient(etcd.KVDefinition, ch);
const value = Buffer.alloc(256, 0x61);
const end = Date.now() + seconds * 1000;
let n = 0; const slow = [];
async function loop(w) { for (let i = 0; Date.now() < end; i++) { const t0 = performance.now(); await kv.put({ key: Buffer.from(`k-${w}-${i}`), value, lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false }, { timeoutMs: 10000 }); const ms = performance.now() - t0; n++; if (ms > +(process.env.SLOW_MS || 80)) slow.push([new Date().toISOString(), ms.toFixed(0), n]); } }
Promise.all(Array.from({ length: clients }, (_, w) => loop(w))).then(() => { console.log('ops', n, 'rate', (n / seconds).toFixed(0)); for (const s of slow) console.log('slow', ...s); ch.close(); });
