// Latency of `GET /v1/messages` against a large store, measured at the client (bench/event_log.sh).
//
// usage: node bench/event_log_query.mjs PORT API_KEY MODE COUNT [ARG]
//   MODE bounced:   GET /v1/messages?status=bounced&since=<ARG, RFC 3339>&limit=50
//   MODE recipient: GET /v1/messages?recipient=<random line of the file ARG>&limit=50
// One keep-alive connection, one request at a time (node:http, no pipelining). Each request is
// timed from the call until the last byte of the body, with process.hrtime; the body is parsed
// (to count the messages and check the answer) only after the clock stops. The first 20 requests
// warm the connection and are not counted (the very first one is printed as first_request_ms).
// Prints one line:
//   QUERY mode=... requests=... errors=... p50_ms=... p90_ms=... p99_ms=... max_ms=...
//   mean_ms=... messages_per_page=... full_pages=... first_request_ms=...
import http from 'node:http';
import fs from 'node:fs';

const [port, key, mode, countArg, arg] = process.argv.slice(2);
const count = Number(countArg);
const warmup = 20;
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

let recipients = [];
if (mode === 'recipient') recipients = fs.readFileSync(arg, 'utf8').split('\n').filter(Boolean);

function path() {
  if (mode === 'bounced') return `/v1/messages?status=bounced&since=${encodeURIComponent(arg)}&limit=50`;
  const r = recipients[Math.floor(Math.random() * recipients.length)];
  return `/v1/messages?recipient=${encodeURIComponent(r)}&limit=50`;
}

function get(p) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const req = http.get(
      { host: '127.0.0.1', port: Number(port), path: p, agent, headers: { Authorization: `Bearer ${key}` } },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const ms = Number(process.hrtime.bigint() - t0) / 1e6;
          resolve({ ms, status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
  });
}

function pct(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const times = [];
let errors = 0;
let messages = 0;
let full = 0;
let firstError = '';
let firstMs = 0;
for (let i = 0; i < warmup + count; i++) {
  const r = await get(path());
  if (i === 0) firstMs = r.ms;
  if (i < warmup) continue;
  times.push(r.ms);
  if (r.status !== 200) {
    errors++;
    if (!firstError) firstError = `${r.status} ${r.body.slice(0, 200)}`;
    continue;
  }
  const n = JSON.parse(r.body).messages.length;
  messages += n;
  if (n === 50) full++;
}
agent.destroy();
times.sort((a, b) => a - b);
const f = (v) => v.toFixed(2);
const mean = times.reduce((a, b) => a + b, 0) / times.length;
console.log(
  `QUERY mode=${mode} requests=${times.length} errors=${errors} p50_ms=${f(pct(times, 50))} ` +
    `p90_ms=${f(pct(times, 90))} p99_ms=${f(pct(times, 99))} max_ms=${f(times[times.length - 1])} ` +
    `mean_ms=${f(mean)} messages_per_page=${(messages / Math.max(1, times.length - errors)).toFixed(1)} ` +
    `full_pages=${full} first_request_ms=${f(firstMs)}` + (firstError ? ` first_error="${firstError}"` : ''),
);
