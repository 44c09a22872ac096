// GET /v1/messages: the tenant's messages newest first, filtered by status, recipient, sender,
// tag and creation time, with cursors that stay put while new mail arrives; a status filter
// follows delivery (queued -> delivered / bounced); tenants see only their own; bad filters 422.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertProblem, waitFor, startServerWithSink } from './lib/server.mjs';

describe('message list', () => {
  let sink;
  let server;
  before(async () => {
    ({ sink, server } = await startServerWithSink({ tenants: ['t', 'other'] }));
  });
  after(async () => {
    await server?.cleanup();
    await sink?.stop();
  });

  const list = async (query, tenant = 't') => {
    const r = await server.request('GET', `/v1/messages?${query}`, { key: server.key(tenant) });
    assert.equal(r.status, 200, r.text);
    return r.json;
  };

  test('filters, newest first, stable cursors', async () => {
    const ids = [];
    for (let i = 0; i < 6; i++) {
      const to = i === 5 ? 'bounce@dest.test' : `user${i % 2}@dest.test`;
      const r = await server.submit('t', { from: i === 4 ? 'news@example.com' : 'app@example.com', to, subject: `m${i}`, text: 'x', tags: i < 2 ? ['welcome'] : [] });
      assert.equal(r.status, 202);
      ids.push(r.json.id);
    }
    await server.submit('other', { from: 'app@example.com', to: 'user0@dest.test', subject: 'o', text: 'x' });
    await waitFor(async () => (await list('status=bounced')).messages.length === 1
      && (await list('status=delivered')).messages.length === 5, { timeoutMs: 20000, what: 'statuses final' });
    const all = await list('limit=100');
    assert.deepEqual(all.messages.map((m) => m.id), [...ids].reverse(), 'newest first, only mine');
    assert.deepEqual((await list('status=bounced')).messages.map((m) => m.id), [ids[5]]);
    assert.deepEqual((await list('status=queued')).messages, []);
    assert.deepEqual((await list('recipient=USER1%40dest.test')).messages.map((m) => m.id), [ids[3], ids[1]]);
    assert.deepEqual((await list('from=news%40example.com')).messages.map((m) => m.id), [ids[4]]);
    assert.deepEqual((await list('tag=welcome')).messages.map((m) => m.id), [ids[1], ids[0]]);
    assert.deepEqual((await list('tag=welcome&recipient=user0%40dest.test')).messages.map((m) => m.id), [ids[0]]);
    const m = (await list('status=bounced')).messages[0];
    assert.equal(m.recipients[0].status, 'bounced');
    assert.equal(m.subject, 'm5');
    const future = new Date(Date.now() + 60000).toISOString();
    assert.deepEqual((await list(`since=${encodeURIComponent(future)}`)).messages, []);
    assert.equal((await list(`until=${encodeURIComponent(future)}&limit=100`)).messages.length, 6);
    // Pages of 2 while new mail arrives: every old message once, none of the new ones.
    const p1 = await list('limit=2');
    await server.submit('t', { from: 'app@example.com', to: 'late@dest.test', subject: 'late', text: 'x' });
    const seen = [...p1.messages.map((x) => x.id)];
    let cursor = p1.next_cursor;
    while (cursor) {
      const p = await list(`limit=2&cursor=${cursor}`);
      seen.push(...p.messages.map((x) => x.id));
      cursor = p.next_cursor;
    }
    assert.deepEqual(seen, [...ids].reverse());
    assert.equal((await list('recipient=user0%40dest.test', 'other')).messages.length, 1);
  });

  test('bad filters are refused', async () => {
    for (const [q, field] of [['status=lost', 'status'], ['since=yesterday', 'since'], ['limit=0', 'limit'], ['limit=101', 'limit'], ['cursor=abc', 'cursor']]) {
      assertProblem(await server.request('GET', `/v1/messages?${q}`, { key: server.key('t') }), 422, 'invalid_value', field);
    }
    assert.equal((await server.request('GET', '/v1/messages', {})).status, 401);
  });
});
