// Idempotency-Key: a retried request is answered from the first one and stores nothing new.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { assertProblem, startServer, ULID_RE } from './lib/server.mjs';

let server;
before(async () => {
  server = await startServer({ tenants: ['alpha', 'beta'] });
});
after(async () => {
  await server?.cleanup();
});

const message = (subject) => ({ from: 'a@example.com', to: ['b@example.com'], subject, text: 'hello' });

function submitWithKey(tenant, key, body) {
  return server.request('POST', '/v1/messages', {
    key: server.key(tenant),
    headers: { 'idempotency-key': key, 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

test('the same key and body replay the first response and store one message', async () => {
  const before = await server.accepted('alpha');
  const body = JSON.stringify(message('idem-1'));
  const first = await submitWithKey('alpha', 'order-1001', body);
  assert.equal(first.status, 202, first.text);
  assert.match(first.json.id, ULID_RE);
  assert.equal(first.headers.get('idempotent-replayed'), null);

  const second = await submitWithKey('alpha', 'order-1001', body);
  assert.equal(second.status, 202, second.text);
  assert.equal(second.headers.get('idempotent-replayed'), 'true');
  assert.equal(second.json.id, first.json.id);
  assert.equal(second.text, first.text, 'replayed body differs');

  const third = await submitWithKey('alpha', 'order-1001', body);
  assert.equal(third.json.id, first.json.id);
  assert.equal(third.headers.get('idempotent-replayed'), 'true');

  assert.equal(await server.accepted('alpha'), before + 1, 'the replay stored another message');
  const got = await server.getMessage('alpha', first.json.id);
  assert.equal(got.status, 200);
  assert.equal(got.json.subject, 'idem-1');

  // Batches honour keys too.
  const batch = JSON.stringify({ messages: [message('b1'), message('b2')] });
  const post = () =>
    server.request('POST', '/v1/messages/batch', {
      key: server.key('alpha'),
      headers: { 'idempotency-key': 'batch-1', 'content-type': 'application/json' },
      body: batch,
    });
  const b1 = await post();
  const b2 = await post();
  assert.equal(b1.status, 202, b1.text);
  assert.equal(b2.status, 202, b2.text);
  assert.equal(b2.headers.get('idempotent-replayed'), 'true');
  assert.deepEqual(b2.json, b1.json);
  assert.equal(await server.accepted('alpha'), before + 3);
});

test('the same key with a different body is refused with 409 idempotency_key_reused', async () => {
  const first = await submitWithKey('alpha', 'order-2002', message('original'));
  assert.equal(first.status, 202, first.text);
  const before = await server.accepted('alpha');
  const other = await submitWithKey('alpha', 'order-2002', message('changed'));
  assertProblem(other, 409, 'idempotency_key_reused', 'Idempotency-Key');
  assert.equal(other.headers.get('idempotent-replayed'), null);
  assert.equal(await server.accepted('alpha'), before);
  // The original is still what the key answers.
  const again = await submitWithKey('alpha', 'order-2002', message('original'));
  assert.equal(again.json.id, first.json.id);
});

test('keys are per tenant', async () => {
  const body = JSON.stringify(message('shared key'));
  const a = await submitWithKey('alpha', 'shared-key-1', body);
  const aBefore = await server.accepted('alpha');
  const bBefore = await server.accepted('beta');
  const b = await submitWithKey('beta', 'shared-key-1', body);
  assert.equal(b.status, 202, b.text);
  assert.equal(b.headers.get('idempotent-replayed'), null, 'beta got alpha\'s response');
  assert.notEqual(b.json.id, a.json.id);
  assert.equal(await server.accepted('beta'), bBefore + 1);
  assert.equal(await server.accepted('alpha'), aBefore);
  // A different body under the same key in another tenant is no conflict either.
  const c = await submitWithKey('beta', 'order-2002', message('beta own'));
  assert.equal(c.status, 202, c.text);
  // Each tenant's replay answers with its own message, visible only to it.
  const a2 = await submitWithKey('alpha', 'shared-key-1', body);
  const b2 = await submitWithKey('beta', 'shared-key-1', body);
  assert.equal(a2.json.id, a.json.id);
  assert.equal(b2.json.id, b.json.id);
  assert.equal((await server.getMessage('alpha', b.json.id)).status, 404);
  assert.equal((await server.getMessage('beta', b.json.id)).status, 200);
});

test('an error is not remembered: the fixed request with the same key goes through', async () => {
  const before = await server.accepted('alpha');
  const bad = await submitWithKey('alpha', 'fix-me-1', { from: 'a@example.com', to: 'nope', text: 'x' });
  assertProblem(bad, 422, 'invalid_address', 'to');
  const good = await submitWithKey('alpha', 'fix-me-1', message('fixed'));
  assert.equal(good.status, 202, good.text);
  assert.equal(good.headers.get('idempotent-replayed'), null);
  assert.equal(await server.accepted('alpha'), before + 1);
});

test('concurrent requests with one key create one message', async () => {
  const before = await server.accepted('alpha');
  const body = JSON.stringify(message('double click'));
  const results = await Promise.all(
    Array.from({ length: 12 }, () => submitWithKey('alpha', 'double-click-1', body)),
  );
  const ids = new Set();
  for (const r of results) {
    if (r.status === 202) ids.add(r.json.id);
    else assertProblem(r, 409, 'idempotency_key_in_flight', 'Idempotency-Key');
  }
  assert.equal(ids.size, 1, `several messages were created: ${[...ids]}`);
  assert.equal(await server.accepted('alpha'), before + 1);
  const after = await submitWithKey('alpha', 'double-click-1', body);
  assert.equal(after.status, 202);
  assert.equal(after.json.id, [...ids][0]);
});

test('a malformed key is refused', async () => {
  const before = await server.accepted('alpha');
  assertProblem(await submitWithKey('alpha', 'x'.repeat(256), message('k')), 422, 'invalid_value', 'Idempotency-Key');
  assertProblem(await submitWithKey('alpha', 'has space', message('k')), 422, 'invalid_value', 'Idempotency-Key');
  assert.equal(await server.accepted('alpha'), before);
});
