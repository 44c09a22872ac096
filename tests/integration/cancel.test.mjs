// DELETE /v1/messages/{id}: cancel a queued or scheduled message.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { assertProblem, startServer } from './lib/server.mjs';

let server;
before(async () => {
  server = await startServer({ tenants: ['acme'] });
});
after(async () => {
  await server?.cleanup();
});

const cancel = (id) => server.request('DELETE', `/v1/messages/${id}`, { key: server.key('acme') });

test('a queued message is canceled, stays canceled, and cancel is repeatable', async () => {
  const sent = await server.submit('acme', {
    from: 'a@example.com',
    to: ['one@example.com', 'two@example.com'],
    bcc: 'three@example.com',
    subject: 'to cancel',
    text: 'never mind',
  });
  assert.equal(sent.status, 202, sent.text);
  const id = sent.json.id;
  const before = await server.getMessage('acme', id);
  assert.equal(before.json.status, 'queued');

  const res = await cancel(id);
  assert.equal(res.status, 200, res.text);
  assert.match(res.headers.get('content-type'), /^application\/json/);
  assert.equal(res.json.id, id);
  assert.equal(res.json.status, 'canceled');
  assert.deepEqual(res.json.recipients, [
    { address: 'one@example.com', type: 'to', status: 'canceled', attempts_total: 0, attempts: [] },
    { address: 'two@example.com', type: 'to', status: 'canceled', attempts_total: 0, attempts: [] },
    { address: 'three@example.com', type: 'bcc', status: 'canceled', attempts_total: 0, attempts: [] },
  ]);
  assert.ok(Date.parse(res.json.updated_at) >= Date.parse(before.json.updated_at));
  assert.equal(res.json.created_at, before.json.created_at);

  const got = await server.getMessage('acme', id);
  assert.equal(got.status, 200);
  assert.equal(got.json.status, 'canceled');
  assert.ok(got.json.recipients.every((r) => r.status === 'canceled'));
  assert.deepEqual(got.json, res.json, 'GET and the cancel answer disagree');

  const again = await cancel(id);
  assert.equal(again.status, 200, again.text);
  assert.equal(again.json.status, 'canceled');
  assert.deepEqual(again.json, got.json, 'a second cancel changed the message');

  // The content is still readable.
  const raw = await server.getRaw('acme', id);
  assert.equal(raw.status, 200);
  assert.match(raw.text, /^Subject: to cancel\r$/m);

  // And canceled survives a restart.
  await server.restart();
  const afterRestart = await server.getMessage('acme', id);
  assert.equal(afterRestart.json.status, 'canceled');
  assert.ok(afterRestart.json.recipients.every((r) => r.status === 'canceled'));
});

test('a scheduled message can be canceled', async () => {
  const sent = await server.submit('acme', {
    from: 'a@example.com',
    to: 'later@example.com',
    text: 'later',
    send_at: new Date(Date.now() + 7 * 86400 * 1000).toISOString(),
  });
  assert.equal(sent.json.status, 'scheduled');
  const res = await cancel(sent.json.id);
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.status, 'canceled');
  assert.deepEqual(res.json.recipients.map((r) => r.status), ['canceled']);
  assert.equal((await server.getMessage('acme', sent.json.id)).json.status, 'canceled');
});

test('canceling one message leaves the others queued', async () => {
  const a = await server.submit('acme', { from: 'a@example.com', to: 'x@example.com', text: 'a' });
  const b = await server.submit('acme', { from: 'a@example.com', to: 'x@example.com', text: 'b' });
  assert.equal((await cancel(a.json.id)).json.status, 'canceled');
  assert.equal((await server.getMessage('acme', b.json.id)).json.status, 'queued');
});

test('canceling an unknown or malformed id is 404', async () => {
  assertProblem(await cancel('01ARZ3NDEKTSV4RRFFQ69G5FAV'), 404, 'not_found');
  assertProblem(await cancel('not-an-id'), 404, 'not_found');
  assertProblem(await cancel('ZZZZZZZZZZZZZZZZZZZZZZZZZZ'), 404, 'not_found');
});
