// Durability: SIGKILL the server under load; every message that got a 202 must be there after a
// restart, with the content that was sent.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import mailparser from 'mailparser';

import { startServer, ULID_RE } from './lib/server.mjs';
import { fireSubmissions, mapLimit } from './lib/load.mjs';

const { simpleParser } = mailparser;

const TOTAL = 3000;       // submissions fired at once
const CONNECTIONS = 1200; // keep-alive connections carrying them: over 1,000 in flight at once
const KILL_AFTER = 500;   // 202s to wait for before SIGKILL
const MIN_IN_FLIGHT = 1000; // requests written and unanswered at the kill (the bar)

let server;
before(async () => {
  server = await startServer({ tenants: ['acme'] });
});
after(async () => {
  await server?.cleanup();
});

test('every message acknowledged with 202 survives a SIGKILL', async (t) => {
  const run = Math.random().toString(36).slice(2, 8);
  let killed = null;
  let inFlightAtKill = 0;
  let acceptedAtKill = 0;
  const load = fireSubmissions({
    port: server.port,
    key: server.key('acme'),
    count: TOTAL,
    connections: CONNECTIONS,
    makeMessage: (i) => ({
      from: 'Load Test <load@example.com>',
      to: [`rcpt${i % 97}@example.com`],
      subject: `crash ${run} #${i} — Grüße`,
      text: `message ${i} of run ${run}\nline two ünïcödé ${i * 7919}\n`,
    }),
    onAnswer: (result, stats) => {
      if (!killed && stats.accepted >= KILL_AFTER) {
        acceptedAtKill = stats.accepted;
        inFlightAtKill = load.results.filter((r) => r.written && !r.answered).length;
        killed = server.kill();
      }
    },
  });
  await load.done;
  assert.ok(killed, `the server was not killed: only ${load.stats.accepted} 202s arrived`);
  const exit = await killed;
  assert.equal(exit.signal, 'SIGKILL');

  const acked = load.results.filter((r) => r.status === 202 && r.complete);
  const otherAnswers = load.results.filter((r) => r.answered && !(r.status === 202 && r.complete));
  const writtenUnanswered = load.results.filter((r) => r.written && !r.answered).length;
  const neverSent = load.results.filter((r) => !r.written).length;
  t.diagnostic(`fired ${TOTAL} over ${CONNECTIONS} connections; 202s when killed: ${acceptedAtKill}; ` +
    `requests in flight when killed: ${inFlightAtKill}; 202s in total: ${acked.length}; ` +
    `sent but never answered: ${writtenUnanswered}; never sent: ${neverSent}`);
  assert.deepEqual(otherAnswers.map((r) => `${r.status} complete=${r.complete} ${r.text?.slice(0, 120)}`), [],
    'answers other than a complete 202');
  assert.ok(inFlightAtKill >= MIN_IN_FLIGHT,
    `only ${inFlightAtKill} requests were in flight when the server was killed`);

  const ids = new Set();
  for (const r of acked) {
    assert.match(r.json.id, ULID_RE);
    assert.equal(r.json.status, 'queued');
    assert.ok(!ids.has(r.json.id), `id ${r.json.id} was given twice`);
    ids.add(r.json.id);
  }

  await server.start();
  const lost = [];
  const wrong = [];
  await mapLimit(acked, 8, async (r) => {
    const got = await server.getMessage('acme', r.json.id);
    if (got.status !== 200) {
      lost.push(`${r.json.id} (#${r.i}): GET ${got.status}`);
      return;
    }
    if (got.json.status !== 'queued') wrong.push(`${r.json.id}: status ${got.json.status}`);
    if (got.json.subject !== r.message.subject) wrong.push(`${r.json.id}: subject ${got.json.subject}`);
    const raw = await server.getRaw('acme', r.json.id);
    if (raw.status !== 200) {
      lost.push(`${r.json.id} (#${r.i}): raw ${raw.status}`);
      return;
    }
    const p = await simpleParser(raw.bytes);
    if (p.subject !== r.message.subject) wrong.push(`${r.json.id}: raw subject ${p.subject}`);
    if (p.text !== r.message.text) wrong.push(`${r.json.id}: raw text ${JSON.stringify(p.text)}`);
  });
  assert.deepEqual(lost, [], `${lost.length} of ${acked.length} acknowledged messages were lost`);
  assert.deepEqual(wrong, [], 'acknowledged messages came back different');

  // The restarted server works normally.
  const fresh = await server.submit('acme', { from: 'a@example.com', to: 'b@example.com', text: 'after crash' });
  assert.equal(fresh.status, 202, fresh.text);
});
