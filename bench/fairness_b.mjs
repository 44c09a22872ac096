// Tenant B's steady traffic for bench/fairness.sh: RATE messages a second for SECONDS, one
// request each, then waits until all are delivered and prints B's submit-to-delivered latency
// (the end of the delivering SMTP attempt minus created_at, both from the server's clock):
//   B_LATENCY count=<n> p50_ms=<f> p99_ms=<f> max_ms=<f>
import http from 'node:http';

const [port, key, rate, seconds] = process.argv.slice(2).map((v, i) => (i === 1 ? v : Number(v)));
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

function request(method, path, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, agent,
      headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) } },
    (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { data += c; });
      res.on('end', () => resolve({ status: res.statusCode, json: data ? JSON.parse(data) : null }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const ids = [];
const pending = [];
const t0 = Date.now();
for (let i = 0; i < rate * seconds; i++) {
  const due = t0 + (i * 1000) / rate;
  const wait = due - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  pending.push(request('POST', '/v1/messages', JSON.stringify({
    from: 'app@b.example', to: `rcpt${i}@d${i % 10}.bench.test`, subject: `b ${i}`, text: 'fresh mail from tenant B',
  })).then((r) => { if (r.status === 202) ids.push(r.json.id); }));
}
await Promise.all(pending);
const lat = [];
for (const id of ids) {
  for (;;) {
    const r = await request('GET', `/v1/messages/${id}`);
    if (r.json.status === 'delivered') {
      lat.push(Date.parse(r.json.recipients[0].attempts.at(-1).at) - Date.parse(r.json.created_at));
      break;
    }
    await new Promise((res) => setTimeout(res, 200));
  }
}
lat.sort((a, b) => a - b);
const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
console.log(`B_LATENCY count=${lat.length} p50_ms=${q(0.5)} p99_ms=${q(0.99)} max_ms=${lat.at(-1)}`);
agent.destroy();
