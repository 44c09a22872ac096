// POST /v1/messages/batch: per-message results in order; over-limit batches are refused whole.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { assertProblem, startServer, ULID_RE } from './lib/server.mjs';

let server;
before(async () => {
  server = await startServer({ tenants: ['acme'] });
});
after(async () => {
  await server?.cleanup();
});

function postBatch(body, opts = {}) {
  return server.request('POST', '/v1/messages/batch', { key: server.key('acme'), json: body, ...opts });
}

test('a batch with an invalid message in the middle accepts the others, in order', async () => {
  const acceptedBefore = await server.accepted('acme');
  const res = await postBatch({
    messages: [
      { from: 'a@example.com', to: 'first@example.com', subject: 'first', text: 'one' },
      { from: 'a@example.com', to: ['not-an-address'], subject: 'second', text: 'two' },
      { from: 'a@example.com', to: 'third@example.com', cc: 'cc@example.com', subject: 'third', text: 'three' },
    ],
  });
  assert.equal(res.status, 202, res.text);
  const { results } = res.json;
  assert.equal(results.length, 3);
  assert.equal(res.json.accepted, 2);
  assert.equal(res.json.rejected, 1);
  assert.deepEqual(results.map((r) => r.index), [0, 1, 2]);

  assert.match(results[0].id, ULID_RE);
  assert.equal(results[0].status, 'queued');
  assert.deepEqual(results[0].recipients, [{ address: 'first@example.com', status: 'queued' }]);
  assert.equal(results[0].error, undefined);

  assert.equal(results[1].id, undefined);
  assert.equal(results[1].error.code, 'invalid_address');
  assert.equal(results[1].error.status, 422);
  assert.equal(results[1].error.field, 'messages[1].to[0]');

  assert.match(results[2].id, ULID_RE);
  assert.deepEqual(
    results[2].recipients.map((r) => r.address),
    ['third@example.com', 'cc@example.com'],
  );
  assert.notEqual(results[0].id, results[2].id);

  for (const [i, subject] of [[0, 'first'], [2, 'third']]) {
    const got = await server.getMessage('acme', results[i].id);
    assert.equal(got.status, 200, got.text);
    assert.equal(got.json.subject, subject);
    assert.equal(got.json.status, 'queued');
    const raw = await server.getRaw('acme', results[i].id);
    assert.equal(raw.status, 200);
    assert.match(raw.text, new RegExp(`^Subject: ${subject}\r$`, 'm'));
  }
  assert.equal(await server.accepted('acme'), acceptedBefore + 2, 'exactly two messages were stored');
});

test('a batch over 1000 messages is refused whole with batch_too_large', async () => {
  const before = await server.spoolSnapshot();
  const messages = [];
  for (let i = 0; i < 1001; i++) {
    messages.push({ from: 'a@example.com', to: `r${i}@example.com`, subject: `m${i}`, text: `body ${i}` });
  }
  const res = await postBatch({ messages });
  assertProblem(res, 422, 'batch_too_large', 'messages');
  assert.deepEqual(await server.spoolSnapshot(), before, 'something was stored');

  // Exactly at the limit is fine.
  const ok = await postBatch({ messages: messages.slice(0, 1000) });
  assert.equal(ok.status, 202, ok.text);
  assert.equal(ok.json.accepted, 1000);
  assert.equal(ok.json.results.length, 1000);
  assert.equal((await server.spoolSnapshot()).accepted, before.accepted + 1000);
  assert.equal(ok.json.results[999].index, 999);
  const last = await server.getMessage('acme', ok.json.results[999].id);
  assert.equal(last.json.subject, 'm999');
});

test('a batch body that is not {messages: [...]} is refused', async () => {
  const before = await server.spoolSnapshot();
  assertProblem(await postBatch({ messages: [] }), 422, 'invalid_value', 'messages');
  assertProblem(await postBatch({}), 422, 'missing_field', 'messages');
  assertProblem(await postBatch({ messages: {} }), 422, 'invalid_type', 'messages');
  assertProblem(await postBatch({ messages: [], extra: 1 }), 422, 'unknown_field', 'extra');
  assertProblem(await postBatch([]), 422, 'invalid_type');
  assert.deepEqual(await server.spoolSnapshot(), before);
});
