// Message retention end to end: messages are delivered to a sink, then the server is restarted
// with its clock 31 days ahead (libfaketime; only the wall clock moves) and a reaper round every
// second. Finished messages of a tenant with the default 30-day retention disappear (404, gone
// from the message list); a tenant whose own retention is 90 days keeps its message; a message
// still scheduled for later is kept whatever its age.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startServerWithSink, waitFor } from './lib/server.mjs';

const FAKETIME_LIB = '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1';

describe('message retention', () => {
  let sink;
  let server;
  before(async () => {
    assert.ok(fs.existsSync(FAKETIME_LIB), `${FAKETIME_LIB} (Debian package faketime, scripts/deps.sh)`);
    ({ sink, server } = await startServerWithSink({
      tenants: ['t', 'keep'],
      adminToken: true,
      extra: '[events]\nretention_days = 30\nreap_interval_seconds = 1\n[limits]\nsend_at_max_future_days = 90\n',
    }));
  });
  after(async () => {
    await server?.cleanup();
    await sink?.stop();
  });

  const final = (tenant, id) => server.waitFinal(tenant, id);
  const listIds = async (tenant) =>
    (await server.request('GET', '/v1/messages?limit=100', { key: server.key(tenant) })).json.messages.map((m) => m.id);

  test('finished messages past their tenant retention are deleted; others stay', async () => {
    const set = await server.request('POST', `/v1/admin/tenants/${server.tenantId('keep')}/settings`, {
      admin: true,
      json: { retention_days: 90 },
    });
    assert.equal(set.status, 200, set.text);

    const delivered = await server.submit('t', { from: 'app@example.com', to: 'success@dest.test', subject: 'a', text: 'x' });
    const bounced = await server.submit('t', { from: 'app@example.com', to: 'bounce@dest.test', subject: 'b', text: 'x' });
    const sendAt = new Date(Date.now() + 60 * 86400 * 1000).toISOString();
    const scheduled = await server.submit('t', { from: 'app@example.com', to: 'success@dest.test', subject: 'c', text: 'x', send_at: sendAt });
    const kept = await server.submit('keep', { from: 'app@example.com', to: 'success@dest.test', subject: 'd', text: 'x' });
    for (const r of [delivered, bounced, scheduled, kept]) assert.equal(r.status, 202, r.text);
    await final('t', delivered.json.id);
    await final('t', bounced.json.id);
    await final('keep', kept.json.id);
    assert.equal((await server.getMessage('t', scheduled.json.id)).json.status, 'scheduled');
    // Today, nothing is old enough.
    assert.equal((await listIds('t')).length, 3);

    await server.restart({
      env: {
        LD_PRELOAD: FAKETIME_LIB,
        FAKETIME: '+31d',
        DONT_FAKE_MONOTONIC: '1',
        // libfaketime is loaded before the sanitizer runtime; ASan allows it with this.
        ASAN_OPTIONS: `${process.env.ASAN_OPTIONS ? `${process.env.ASAN_OPTIONS}:` : ''}verify_asan_link_order=0`,
      },
    });
    await waitFor(async () => (await server.getMessage('t', delivered.json.id)).status === 404 &&
      (await server.getMessage('t', bounced.json.id)).status === 404,
    { timeoutMs: 20000, what: 'the finished messages reaped' });
    // Body too: the raw message is gone.
    assert.equal((await server.getRaw('t', delivered.json.id)).status, 404);
    // The message list no longer shows them, though its index entries go only at compaction.
    assert.deepEqual(await listIds('t'), [scheduled.json.id]);
    // Still scheduled: kept, with its body.
    const s = await server.getMessage('t', scheduled.json.id);
    assert.equal(s.status, 200, s.text);
    assert.equal(s.json.status, 'scheduled');
    assert.equal((await server.getRaw('t', scheduled.json.id)).status, 200);
    // The tenant that keeps 90 days keeps its message.
    const k = await server.getMessage('keep', kept.json.id);
    assert.equal(k.status, 200, k.text);
    assert.equal(k.json.status, 'delivered');
    const m = await server.metrics();
    assert.equal(m.get('mailplane_messages_reaped_total'), 2);
  });
});
