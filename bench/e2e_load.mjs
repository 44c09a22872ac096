// Load generator for bench/e2e.sh: submits COUNT messages of SIZE bytes over HTTP in batches of
// 100 (POST /v1/messages/batch), CONCURRENCY requests at a time, each message to one recipient,
// spread round-robin over DOMAINS destination domains. Prints one line:
//   SUBMITTED count=<n> seconds=<s> rate=<msg/s> errors=<n>
import http from 'node:http';

const [port, key, count, size, domains, concurrency] = process.argv.slice(2).map((v, i) => (i === 1 ? v : Number(v)));
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
const text = ('The quick brown fox jumps over the lazy dog. ').repeat(Math.ceil(size / 45)).slice(0, Math.max(100, size - 450));
const textJson = JSON.stringify(text);
const batches = Math.ceil(count / 100);
let next = 0;
let errors = 0;
let accepted = 0;

function post(body) {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/v1/messages/batch', method: 'POST', agent,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, 'content-length': Buffer.byteLength(body) } },
    (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { data += c; });
      res.on('end', () => {
        if (res.statusCode !== 202) { errors++; resolve(0); return; }
        resolve(JSON.parse(data).accepted);
      });
    });
    req.on('error', () => { errors++; resolve(0); });
    req.end(body);
  });
}

async function worker() {
  for (;;) {
    const b = next++;
    if (b >= batches) return;
    // The JSON is assembled from the text serialized once, so that the load generator spends
    // its (shared) CPU on sending, not on serializing the same 100 KB again and again.
    const parts = [];
    for (let j = 0; j < 100 && b * 100 + j < count; j++) {
      const i = b * 100 + j;
      parts.push(`{"from":"bench@example.com","to":"rcpt${i}@d${i % domains}.bench.test","subject":"bench ${i}","text":${textJson}}`);
    }
    const body = `{"messages":[${parts.join(',')}]}`;
    let got = await post(body);
    while (got === 0) {  // 503 under overload: back off and try the batch again
      await new Promise((r) => setTimeout(r, 50));
      got = await post(body);
    }
    accepted += got;
  }
}

const t0 = performance.now();
await Promise.all(Array.from({ length: concurrency }, worker));
const secs = (performance.now() - t0) / 1000;
console.log(`SUBMITTED count=${accepted} seconds=${secs.toFixed(2)} rate=${(accepted / secs).toFixed(0)} errors=${errors} t0_ms=${Date.now() - Math.round(secs * 1000)}`);
agent.destroy();
