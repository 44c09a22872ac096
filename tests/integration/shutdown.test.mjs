// Graceful shutdown: SIGTERM under load. Every answer that arrives is whole, the process exits 0,
// and every 202 is kept.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { startServer } from './lib/server.mjs';
import { fireSubmissions, mapLimit } from './lib/load.mjs';

const TOTAL = 1200;
const CONNECTIONS = 40;
const TERM_AFTER = 200;

let server;
before(async () => {
  server = await startServer({ tenants: ['acme'] });
});
after(async () => {
  await server?.cleanup();
});

test('SIGTERM under load: whole answers, exit 0, every 202 kept', async (t) => {
  const run = Math.random().toString(36).slice(2, 8);
  let stopping = null;
  let inFlightAtTerm = 0;
  let termAt = 0;
  const load = fireSubmissions({
    port: server.port,
    key: server.key('acme'),
    count: TOTAL,
    connections: CONNECTIONS,
    makeMessage: (i) => ({
      from: 'a@example.com',
      to: 'b@example.com',
      subject: `shutdown ${run} #${i}`,
      text: `body ${i}`,
    }),
    onAnswer: (result, stats) => {
      if (!stopping && stats.accepted >= TERM_AFTER) {
        inFlightAtTerm = load.results.filter((r) => r.written && !r.answered).length;
        termAt = Date.now();
        stopping = server.stop({ signal: 'SIGTERM', timeoutMs: 20000 });
      }
    },
  });
  await load.done;
  assert.ok(stopping, `SIGTERM was never sent: only ${load.stats.accepted} 202s arrived`);
  const exit = await stopping;
  const stopMs = Date.now() - termAt;
  assert.equal(exit.timedOut, false, 'the server did not exit within 20 s of SIGTERM');
  assert.equal(exit.signal, null, `the server died of ${exit.signal}`);
  assert.equal(exit.code, 0, `exit code ${exit.code}`);
  assert.ok(server.logs.some((l) => l.includes('"event":"serve.draining"')), 'no serve.draining log');
  assert.ok(server.logs.some((l) => l.includes('"event":"serve.stopped"')), 'no serve.stopped log');

  const answered = load.results.filter((r) => r.answered);
  const incomplete = answered.filter((r) => !r.complete);
  assert.deepEqual(incomplete.map((r) => `#${r.i}: ${r.status} ${JSON.stringify(r.text?.slice(0, 80))} ${r.error?.message ?? ''}`),
    [], 'answers cut short');
  const accepted = answered.filter((r) => r.status === 202);
  const refused = answered.filter((r) => r.status === 503);
  const other = answered.filter((r) => r.status !== 202 && r.status !== 503);
  assert.deepEqual(other.map((r) => `#${r.i}: ${r.status} ${r.text.slice(0, 100)}`), [], 'unexpected answers');
  for (const r of refused) {
    assert.equal(r.json.code, 'shutting_down');
    assert.match(r.headers['content-type'], /^application\/problem\+json/);
    assert.equal(r.headers['retry-after'], '1');
  }
  const unanswered = load.results.filter((r) => r.written && !r.answered).length;
  t.diagnostic(`fired ${TOTAL} over ${CONNECTIONS} connections; in flight at SIGTERM: ${inFlightAtTerm}; ` +
    `202: ${accepted.length}; 503 shutting_down: ${refused.length}; sent but unanswered: ${unanswered}; ` +
    `never sent: ${load.results.filter((r) => !r.written).length}; exit 0 after ${stopMs} ms`);
  assert.ok(inFlightAtTerm > 0, 'nothing was in flight at SIGTERM');

  await server.start();
  // Requests sent but not answered must not have been stored either: a client can only retry
  // them safely if so. (A fresh spool with no overwrites: the envelope estimate is exact.)
  const snap = await server.spoolSnapshot();
  assert.equal(snap.envelopes, accepted.length,
    `${snap.envelopes} messages in the spool after restart, ${accepted.length} acknowledged`);
  const lost = [];
  await mapLimit(accepted, 8, async (r) => {
    const got = await server.getMessage('acme', r.json.id);
    if (got.status !== 200 || got.json.subject !== r.message.subject || got.json.status !== 'queued') {
      lost.push(`#${r.i} ${r.json.id}: ${got.status} ${got.text.slice(0, 100)}`);
    }
  });
  assert.deepEqual(lost, [], `${lost.length} of ${accepted.length} acknowledged messages are missing or wrong`);
});

test('SIGTERM with idle keep-alive connections exits promptly', async () => {
  if (!server.running) await server.start();
  // A few idle keep-alive connections must not hold the shutdown for the grace period.
  const sockets = [];
  const net = await import('node:net');
  for (let i = 0; i < 5; i++) {
    const s = net.connect({ host: '127.0.0.1', port: server.port });
    s.on('error', () => {});
    await new Promise((r) => s.on('connect', r));
    s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((r) => s.once('data', r));
    sockets.push(s);
  }
  const started = Date.now();
  const exit = await server.stop({ signal: 'SIGTERM', timeoutMs: 20000 });
  for (const s of sockets) s.destroy();
  assert.equal(exit.code, 0);
  assert.ok(Date.now() - started < 3000, `exit took ${Date.now() - started} ms with idle connections`);
});
