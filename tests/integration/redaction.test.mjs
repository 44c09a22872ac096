// Privacy: DELETE /v1/messages/{id}?redact=true removes a message's content and personal data
// (body, subject, addresses, metadata, reply texts, event recipients) and keeps its counts;
// DELETE /v1/recipients/{address} erases one address across the tenant's messages and events,
// and the message list no longer finds it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertProblem, waitFor, startServerWithSink } from './lib/server.mjs';

describe('redaction', () => {
  let sink;
  let server;
  before(async () => {
    ({ sink, server } = await startServerWithSink({ tenants: ['t', 'other'] }));
  });
  after(async () => {
    await server?.cleanup();
    await sink?.stop();
  });

  const key = () => server.key('t');
  const final = (id) => waitFor(async () => {
    const m = (await server.getMessage('t', id)).json;
    return m.recipients.every((r) => !['queued', 'deferred', 'scheduled'].includes(r.status));
  }, { timeoutMs: 20000, what: 'final' });

  test('a redacted message keeps its counts and loses its content and personal data', async () => {
    const r = await server.submit('t', { from: 'alice@example.com', to: ['bob@dest.test', 'bounce@dest.test'], subject: 'Secret plans', text: 'the body', metadata: { user: 'u-42' }, tags: ['t1'] });
    const id = r.json.id;
    await final(id);
    const before = (await server.getMessage('t', id)).json;
    assert.equal((await server.request('DELETE', `/v1/messages/${id}?redact=maybe`, { key: key() })).status, 422);
    assert.equal((await server.request('DELETE', `/v1/messages/${id}?redact=true`, { key: server.key('other') })).status, 404);
    const d = await server.request('DELETE', `/v1/messages/${id}?redact=true`, { key: key() });
    assert.equal(d.status, 200, d.text);
    const m = (await server.getMessage('t', id)).json;
    assert.equal(m.redacted, true);
    assert.equal(m.subject, '');
    assert.equal(m.from, 'redacted@redacted.invalid');
    assert.deepEqual(m.metadata, {});
    assert.deepEqual(m.tags, ['t1']);
    assert.equal(m.status, before.status);
    assert.deepEqual(m.recipients.map((x) => x.status), before.recipients.map((x) => x.status));
    assert.deepEqual(m.recipients.map((x) => x.attempts_total), before.recipients.map((x) => x.attempts_total));
    assert.ok(m.recipients.every((x) => x.address === 'redacted@redacted.invalid'));
    assert.ok(m.recipients.every((x) => x.attempts.every((a) => a.text === '')));
    assert.deepEqual(m.recipients.flatMap((x) => x.attempts.map((a) => a.code)), before.recipients.flatMap((x) => x.attempts.map((a) => a.code)));
    assert.equal((await server.request('GET', `/v1/messages/${id}/raw`, { key: key() })).status, 404);
    const ev = (await server.request('GET', `/v1/messages/${id}/events`, { key: key() })).json.events;
    assert.ok(ev.length >= 3);
    const text = JSON.stringify(ev);
    for (const secret of ['bob@dest.test', 'bounce@dest.test', 'u-42', 'user unknown']) assert.ok(!text.includes(secret), `${secret} in ${text}`);
    assert.ok(ev.some((e) => e.type === 'bounced' && e.reply.code === 550));
    assert.deepEqual((await server.request('GET', '/v1/messages?recipient=bob%40dest.test', { key: key() })).json.messages, []);
    assert.deepEqual((await server.request('GET', '/v1/messages?from=alice%40example.com', { key: key() })).json.messages, []);
    assert.equal((await server.request('GET', `/v1/messages?tag=t1`, { key: key() })).json.messages[0].id, id);
  });

  test('erasing one address across the log', async () => {
    const ids = [];
    for (let i = 0; i < 3; i++) {
      const r = await server.submit('t', { from: 'app@example.com', to: ['Carol@Dest.test', `keep${i}@dest.test`], subject: `s${i}`, text: 'x' });
      ids.push(r.json.id);
    }
    const later = new Date(Date.now() + 3600_000).toISOString();
    const scheduled = await server.submit('t', { from: 'app@example.com', to: ['carol@dest.test'], subject: 'later', text: 'x', send_at: later });
    const mine = await server.submit('other', { from: 'app@example.com', to: ['carol@dest.test'], subject: 'o', text: 'x' });
    for (const id of ids) await final(id);
    assertProblem(await server.request('DELETE', '/v1/recipients/nobody', { key: key() }), 422, 'invalid_value', 'address');
    const e = await server.request('DELETE', '/v1/recipients/carol%40dest.test', { key: key() });
    assert.equal(e.status, 200, e.text);
    assert.equal(e.json.messages_redacted, 4);
    assert.deepEqual(e.json.busy, []);
    for (const id of ids) {
      const m = (await server.getMessage('t', id)).json;
      assert.deepEqual(m.recipients.map((x) => x.address).sort(), ['keep' + ids.indexOf(id) + '@dest.test', 'redacted@redacted.invalid'].sort());
      const text = JSON.stringify((await server.request('GET', `/v1/messages/${id}/events`, { key: key() })).json);
      assert.ok(!/carol/i.test(text), text);
      assert.ok(text.includes(`keep${ids.indexOf(id)}@dest.test`), 'the other recipient stays');
    }
    const s = (await server.getMessage('t', scheduled.json.id)).json;
    assert.equal(s.recipients[0].status, 'canceled', 'no more mail to an erased address');
    assert.deepEqual((await server.request('GET', '/v1/messages?recipient=carol%40dest.test', { key: key() })).json.messages, []);
    // Another tenant's log is not touched.
    assert.equal((await server.getMessage('other', mine.json.id)).json.recipients[0].address, 'carol@dest.test');
  });
});
