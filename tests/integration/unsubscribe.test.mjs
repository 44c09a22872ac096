// Unsubscribes reported by the sender: a tenant that hosts its own List-Unsubscribe target tells
// mailplane, through POST /v1/messages/{id}/unsubscribe, that a recipient unsubscribed. The
// message's timeline and the tenant's stream get an `unsubscribed` event, the address goes on the
// tenant's suppression list with reason `unsubscribe` (the next message to it is `suppressed`
// and never reaches the sink), a tenant whose settings turn unsubscribe suppression off gets the
// event only, and bad requests get clear errors and change nothing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertProblem, startServerWithSink } from './lib/server.mjs';

describe('unsubscribes reported by the sender', () => {
  let sink;
  let server;
  before(async () => {
    ({ sink, server } = await startServerWithSink({ tenants: ['t', 'other'], adminToken: true }));
  });
  after(async () => {
    await server?.cleanup();
    await sink?.stop();
  });

  const api = (method, path, body, tenant = 't') =>
    server.request(method, path, { key: server.key(tenant), ...(body === undefined ? {} : { json: body }) });
  const final = (tenant, id) => server.waitFinal(tenant, id);
  const events = async (id, tenant = 't') =>
    (await api('GET', `/v1/messages/${id}/events`, undefined, tenant)).json.events;

  test('an unsubscribe is an event and suppresses the address', async () => {
    const sent = await server.submit('t', { from: 'news@example.com', to: 'reader@dest.test', subject: 'news', text: 'x' });
    assert.equal(sent.status, 202, sent.text);
    await final('t', sent.json.id);

    const r = await api('POST', `/v1/messages/${sent.json.id}/unsubscribe`, { source: 'one-click' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.message_id, sent.json.id);
    assert.equal(r.json.recipient, 'reader@dest.test');
    assert.equal(r.json.suppressed, true);

    const ev = (await events(sent.json.id)).find((e) => e.type === 'unsubscribed');
    assert.ok(ev, 'unsubscribed event in the timeline');
    assert.equal(ev.id, r.json.event_id);
    assert.equal(ev.recipient, 'reader@dest.test');
    assert.match(ev.detail, /one-click/);
    const stream = (await api('GET', '/v1/events?type=unsubscribed')).json.events;
    assert.ok(stream.some((e) => e.id === r.json.event_id), 'in the tenant stream');

    const sup = await api('GET', `/v1/suppressions/${encodeURIComponent('reader@dest.test')}`);
    assert.equal(sup.status, 200, sup.text);
    assert.equal(sup.json.reason, 'unsubscribe');
    assert.equal(sup.json.message_id, sent.json.id);

    // The first message's arrival is in the sink's stats (a line every 50 ms) before counting.
    await sink.waitStats((st) => st.messages >= 1);
    const sentBefore = sink.stats.messages;
    const next = await server.submit('t', { from: 'news@example.com', to: 'Reader@dest.test', subject: 'more news', text: 'x' });
    assert.equal(next.status, 202, next.text);
    assert.equal(next.json.recipients[0].status, 'suppressed');
    assert.equal(next.json.status, 'suppressed');
    await new Promise((resolve) => setTimeout(resolve, 500));  // a few sink stats lines later
    assert.equal((await server.getMessage('t', next.json.id)).json.status, 'suppressed');
    assert.equal(sink.stats.messages, sentBefore, 'nothing sent');

    // Another tenant's list is not touched.
    const other = await api('GET', `/v1/suppressions/${encodeURIComponent('reader@dest.test')}`, undefined, 'other');
    assert.equal(other.status, 404);
  });

  test('a multi-recipient message needs the recipient; a tenant may turn suppression off', async () => {
    const sent = await server.submit('other', { from: 'news@example.com', to: ['a@dest.test', 'b@dest.test'], subject: 'two', text: 'x' });
    assert.equal(sent.status, 202, sent.text);
    const path = `/v1/messages/${sent.json.id}/unsubscribe`;
    assertProblem(await api('POST', path, {}, 'other'), 422, 'missing_field', 'recipient');
    assertProblem(await api('POST', path, { recipient: 'c@dest.test' }, 'other'), 422, 'invalid_value', 'recipient');

    const settings = await server.request('PUT', '/v1/suppressions/settings', {
      key: server.key('other'),
      json: { auto: { unsubscribe: { enabled: false } } },
    });
    assert.ok([200, 204].includes(settings.status), settings.text);
    const r = await api('POST', path, { recipient: 'B@DEST.TEST' }, 'other');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.recipient, 'b@dest.test');
    assert.equal(r.json.suppressed, false);
    assert.ok((await events(sent.json.id, 'other')).some((e) => e.type === 'unsubscribed' && e.recipient === 'b@dest.test'));
    assert.equal((await api('GET', `/v1/suppressions/${encodeURIComponent('b@dest.test')}`, undefined, 'other')).status, 404);
  });

  test('bad requests get clear errors and write nothing', async () => {
    const sent = await server.submit('t', { from: 'news@example.com', to: 'solo@dest.test', subject: 'x', text: 'x' });
    const path = `/v1/messages/${sent.json.id}/unsubscribe`;
    assertProblem(await api('POST', path, { recipient: 'solo@dest.test', why: 'x' }), 422, 'unknown_field', 'why');
    assertProblem(await api('POST', path, { recipient: 5 }), 422, 'invalid_type', 'recipient');
    assertProblem(await api('POST', path, { source: 'bad source!' }), 422, 'invalid_value', 'source');
    assertProblem(await api('POST', path, [1]), 422, 'invalid_type');
    const broken = await server.request('POST', path, { key: server.key('t'), body: '{"recipient":', headers: { 'content-type': 'application/json' } });
    assertProblem(broken, 400, 'invalid_json');
    assertProblem(await api('GET', path), 405, 'method_not_allowed');
    assertProblem(await api('POST', '/v1/messages/01JZZZZZZZZZZZZZZZZZZZZZZZ/unsubscribe', {}), 404, 'not_found');
    // Another tenant's message is not found either.
    assertProblem(await api('POST', path, {}, 'other'), 404, 'not_found');
    assert.ok(!(await events(sent.json.id)).some((e) => e.type === 'unsubscribed'), 'nothing written');
    assert.equal((await api('GET', `/v1/suppressions/${encodeURIComponent('solo@dest.test')}`)).status, 404);
  });
});
