// Reputation: hard bounces push a tenant's rolling bounce rate over the thresholds (lowered here:
// review 20 %, pause 50 %, judged from 10 sent); the level change is a reputation_alert event,
// the pause level pauses the tenant's sending with a tenant_paused event (mail still accepted,
// not sent); an operator's resume writes tenant_resumed, delivers the waiting mail and does not
// pause again at once; the rates are in the API and /metrics; other tenants are untouched.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor, sleep, startServerWithSink } from './lib/server.mjs';

describe('reputation', () => {
  let sink;
  let server;
  before(async () => {
    ({ sink, server } = await startServerWithSink({ tenants: ['t', 'other'], adminToken: true, extra: `[reputation]
min_volume = 10
review_bounce_rate = 0.2
pause_bounce_rate = 0.5
evaluate_interval_seconds = 1
` }));
  });
  after(async () => {
    await server?.cleanup();
    await sink?.stop();
  });

  const events = async (type) => (await server.request('GET', `/v1/events?type=${type}`, { key: server.key('t') })).json.events;
  const tenant = async () => (await server.request('GET', `/v1/admin/tenants/${server.tenantId('t')}`, { admin: true })).json;

  test('a bounce rate over the pause threshold pauses the tenant until an operator resumes it', async () => {
    const ids = [];
    for (let i = 0; i < 20; i++) {
      const to = i < 12 ? `bounce+r${i}@dest.test` : `success+r${i}@dest.test`;
      ids.push((await server.submit('t', { from: 'app@example.com', to, subject: 'r', text: 'x' })).json.id);
    }
    await server.submit('other', { from: 'app@example.com', to: 'success@dest.test', subject: 'o', text: 'x' });
    await waitFor(async () => (await events('tenant_paused')).length === 1, { timeoutMs: 20000, what: 'the tenant paused' });
    const alerts = await events('reputation_alert');
    assert.ok(alerts.length >= 1);
    const last = alerts.at(-1);
    assert.equal(last.metadata.level, 'pause');
    assert.equal(last.message_id, null);
    assert.match(last.detail, /bounce rate/);
    const paused = (await events('tenant_paused'))[0];
    assert.equal(paused.metadata.by, 'reputation');
    assert.equal((await tenant()).paused, true);
    const rep = (await server.request('GET', '/v1/reputation', { key: server.key('t') })).json;
    assert.equal(rep.level, 'pause');
    assert.equal(rep.last_24_hours.sent, 20);
    assert.equal(rep.last_24_hours.bounced, 12);
    assert.equal(rep.last_24_hours.bounce_rate, 0.6);
    assert.equal(rep.thresholds.pause_bounce_rate, 0.5);
    const metrics = await (await fetch(server.url('/metrics'))).text();
    assert.match(metrics, new RegExp(`mailplane_reputation_tenant_bounce_rate\\{tenant="${server.tenantId('t')}",window="24h"\\} 0\\.6`));
    const admin = (await server.request('GET', '/v1/admin/reputation?dim=domain', { admin: true })).json;
    assert.ok(admin.items.some((x) => x.key === 'example.com'));
    assert.equal((await server.request('GET', '/v1/admin/reputation?dim=nope', { admin: true })).status, 422);
    const otherRep = (await server.request('GET', '/v1/reputation', { key: server.key('other') })).json;
    assert.equal(otherRep.level, 'healthy');

    // Paused: new mail is accepted and waits.
    const waiting = await server.submit('t', { from: 'app@example.com', to: 'success+late@dest.test', subject: 'w', text: 'x' });
    assert.equal(waiting.status, 202);
    await sleep(1500);
    assert.equal((await server.getMessage('t', waiting.json.id)).json.status, 'queued');

    // The operator resumes: delivered, and not paused again by the same old bounces.
    const r = await server.request('POST', `/v1/admin/tenants/${server.tenantId('t')}/resume`, { admin: true, json: {} });
    assert.equal(r.status, 200, r.text);
    await waitFor(async () => (await server.getMessage('t', waiting.json.id)).json.status === 'delivered', { timeoutMs: 15000, what: 'the waiting message delivered' });
    const resumed = await events('tenant_resumed');
    assert.equal(resumed.length, 1);
    assert.equal(resumed[0].metadata.by, 'api');
    await sleep(2500);  // two more judgements
    assert.equal((await tenant()).paused, false);
    assert.equal((await events('tenant_paused')).length, 1);
  });
});
