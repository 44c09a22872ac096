// Suppression in the mail path: a hard bounce (invalid recipient) puts the address on the
// tenant's list with the reason and the event; the next message to it is accepted but the
// recipient is `suppressed` with an event, and nothing is sent to the sink; other recipients of
// the same message are delivered; another tenant is not affected.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServerWithSink } from './lib/server.mjs';

describe('suppression in the mail path', () => {
  let sink;
  let server;
  before(async () => {
    ({ sink, server } = await startServerWithSink({ tenants: ['t', 'other'] }));
  });
  after(async () => {
    await server?.cleanup();
    await sink?.stop();
  });

  const final = (tenant, id) => server.waitFinal(tenant, id);

  test('a hard bounce suppresses the address for the next message', async () => {
    const first = await server.submit('t', { from: 'app@example.com', to: 'bounce@dest.test', subject: 'one', text: 'x' });
    await final('t', first.json.id);
    const ev1 = (await server.request('GET', `/v1/messages/${first.json.id}/events`, { key: server.key('t') })).json.events;
    const bounce = ev1.find((e) => e.type === 'bounced');
    assert.equal(bounce.category, 'invalid_recipient');

    const second = await server.submit('t', { from: 'app@example.com', to: ['BOUNCE@dest.test', 'success@dest.test'], subject: 'two', text: 'x' });
    assert.equal(second.status, 202, second.text);
    const answered = Object.fromEntries(second.json.recipients.map((r) => [r.address.toLowerCase(), r.status]));
    assert.equal(answered['bounce@dest.test'], 'suppressed');
    await final('t', second.json.id);
    const m = (await server.getMessage('t', second.json.id)).json;
    const byAddr = Object.fromEntries(m.recipients.map((r) => [r.address.toLowerCase(), r]));
    assert.equal(byAddr['bounce@dest.test'].status, 'suppressed');
    assert.match(byAddr['bounce@dest.test'].reason, /tenant list: invalid_recipient/);
    assert.equal(byAddr['bounce@dest.test'].attempts_total, 0, 'never tried');
    assert.equal(byAddr['success@dest.test'].status, 'delivered');
    assert.equal(m.status, 'partially_delivered');
    const ev2 = (await server.request('GET', `/v1/messages/${second.json.id}/events`, { key: server.key('t') })).json.events;
    const sup = ev2.find((e) => e.type === 'suppressed');
    assert.ok(sup, ev2.map((e) => e.type).join(' '));
    assert.equal(sup.recipient.toLowerCase(), 'bounce@dest.test');
    assert.equal(sup.reply, null);
    assert.match(sup.detail, /tenant list: invalid_recipient/);

    // Only suppressed recipients: the message is suppressed and never queued.
    const third = await server.submit('t', { from: 'app@example.com', to: 'bounce@dest.test', subject: 'three', text: 'x' });
    assert.equal(third.json.status, 'suppressed');
    assert.equal((await server.getMessage('t', third.json.id)).json.status, 'suppressed');
    const listed = await server.request('GET', '/v1/messages?status=suppressed', { key: server.key('t') });
    assert.deepEqual(listed.json.messages.map((x) => x.id), [third.json.id]);

    // Another tenant still sends to it (and gets its own bounce).
    const other = await server.submit('other', { from: 'app@example.com', to: 'bounce@dest.test', subject: 'o', text: 'x' });
    assert.equal(other.json.recipients[0].status, 'queued');
  });
});
