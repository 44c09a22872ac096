// Events and the message log: every state change of a message and its recipients is an event
// (accepted, scheduled, delivered, deferred, bounced, canceled), with the reply, pool, source and
// site; a message's timeline; the tenant's stream with cursors, type and time filters, and as an
// NDJSON export; tenants see only their own; every event is still there after SIGKILL.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Server, startSink, waitFor } from './lib/server.mjs';

describe('events', () => {
  let sink;
  let server;
  before(async () => {
    sink = await startSink({ args: ['--defer-count', '1'] });
    server = await new Server({
      tenants: ['t', 'other'],
      config: `[delivery]
idle_seconds = 1
retry_first_seconds = 1
retry_max_seconds = 1
[[delivery.routes]]
domain = "*"
relay = "127.0.0.1:${sink.port}"
tls = "disabled"
`,
    }).start();
  });
  after(async () => {
    await server?.cleanup();
    await sink?.stop();
  });

  const events = async (tenant, id) => {
    const r = await server.request('GET', `/v1/messages/${id}/events`, { key: server.key(tenant) });
    return r;
  };

  test('a message with a delivered, a deferred-then-delivered and a bounced recipient', async () => {
    const r = await server.submit('t', {
      from: 'app@example.com',
      to: ['success@dest.test', 'defer@dest.test', 'bounce@dest.test'],
      subject: 's', text: 'x', tags: ['welcome'],
    });
    assert.equal(r.status, 202);
    const id = r.json.id;
    await waitFor(async () => (await server.getMessage('t', id)).json.status === 'delivered'
      || (await server.getMessage('t', id)).json.recipients.every((x) => x.status !== 'queued' && x.status !== 'deferred'),
    { timeoutMs: 20000, what: 'every recipient final' });
    const ev = await events('t', id);
    assert.equal(ev.status, 200);
    const list = ev.json.events;
    const types = list.map((e) => `${e.type}:${e.recipient ?? ''}`);
    assert.equal(types[0], 'accepted:');
    assert.ok(types.includes('delivered:success@dest.test'), types.join(' '));
    assert.ok(types.includes('bounced:bounce@dest.test'), types.join(' '));
    assert.ok(types.includes('deferred:defer@dest.test'), types.join(' '));
    assert.ok(types.indexOf('deferred:defer@dest.test') < types.indexOf('delivered:defer@dest.test'));
    const bounce = list.find((e) => e.type === 'bounced');
    assert.equal(bounce.reply.code, 550);
    assert.equal(bounce.reply.enhanced_code, '5.1.1');
    assert.deepEqual(bounce.tags, ['welcome']);
    assert.equal(bounce.category, 'invalid_recipient');
    const deferral = list.find((e) => e.type === 'deferred');
    assert.ok(deferral.category, 'a deferral has a category');
    assert.equal(list.find((e) => e.type === 'delivered').category, null);
    assert.match(bounce.site, /^relay:/);
    const times = list.map((e) => Date.parse(e.at));
    assert.deepEqual([...times].sort((a, b) => a - b), times, 'oldest first');
    // Another tenant does not see it.
    assert.equal((await events('other', id)).status, 404);
  });

  test('cancel and scheduled mail are events too', async () => {
    const later = new Date(Date.now() + 3600_000).toISOString();
    const r = await server.submit('t', { from: 'app@example.com', to: 'success@dest.test', subject: 's', text: 'x', send_at: later });
    const c = await server.request('DELETE', `/v1/messages/${r.json.id}`, { key: server.key('t') });
    assert.equal(c.status, 200);
    const list = (await events('t', r.json.id)).json.events;
    assert.deepEqual(list.map((e) => e.type), ['scheduled', 'canceled']);
  });

  test('the tenant stream: pages with cursors, filters, NDJSON export', async () => {
    const all = [];
    let cursor = '';
    for (let i = 0; i < 50; i++) {
      const r = await server.request('GET', `/v1/events?limit=3${cursor ? `&cursor=${cursor}` : ''}`, { key: server.key('t') });
      assert.equal(r.status, 200, r.text);
      all.push(...r.json.events);
      if (!r.json.next_cursor) break;
      cursor = r.json.next_cursor;
    }
    assert.equal(all.length, 7, 'accepted, 2 delivered, deferred, bounced; scheduled, canceled');
    assert.equal(new Set(all.map((e) => e.id)).size, all.length, 'no event twice across pages');
    const bounced = await server.request('GET', '/v1/events?type=bounced', { key: server.key('t') });
    assert.ok(bounced.json.events.length >= 1);
    assert.ok(bounced.json.events.every((e) => e.type === 'bounced'));
    const future = await server.request('GET', `/v1/events?since=${encodeURIComponent(new Date(Date.now() + 60000).toISOString())}`, { key: server.key('t') });
    assert.deepEqual(future.json.events, []);
    const nd = await server.request('GET', '/v1/events?limit=5', { key: server.key('t'), headers: { accept: 'application/x-ndjson' } });
    assert.equal(nd.status, 200);
    assert.match(nd.headers.get('content-type'), /application\/x-ndjson/);
    const lines = nd.text.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, 5);
    assert.ok(nd.headers.get('mailplane-next-cursor'));
    assert.deepEqual((await server.request('GET', '/v1/events', { key: server.key('other') })).json.events, []);
    for (const q of ['type=nope', 'limit=0', 'limit=5000', 'cursor=xyz', 'since=yesterday']) {
      const bad = await server.request('GET', `/v1/events?${q}`, { key: server.key('t') });
      assert.equal(bad.status, 422, q);
    }
  });

  test('every event is still there after SIGKILL', async () => {
    const ids = [];
    for (let i = 0; i < 20; i++) {
      const r = await server.submit('t', { from: 'app@example.com', to: [`success+k${i}@dest.test`, `bounce+k${i}@dest.test`], subject: 'k', text: 'x' });
      ids.push(r.json.id);
    }
    await waitFor(async () => {
      for (const id of ids) {
        const m = (await server.getMessage('t', id)).json;
        if (m.recipients.some((x) => x.status === 'queued' || x.status === 'deferred')) return false;
      }
      return true;
    }, { timeoutMs: 20000, what: 'all final' });
    await server.stop({ signal: 'SIGKILL' });
    await server.start();
    for (const id of ids) {
      const types = (await events('t', id)).json.events.map((e) => e.type).sort();
      assert.deepEqual(types, ['accepted', 'bounced', 'delivered'], id);
    }
  });
});
