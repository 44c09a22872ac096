// Tenant limits through the admin API: send rate with burst and daily quota (429 with
// Retry-After, or held and scheduled), SMTP submission refused with 451 4.7.1 over the limit,
// weights, pause and resume of a tenant's sending.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Server, startSink, waitFor } from './lib/server.mjs';

describe('tenant limits', () => {
  let sink;
  let server;
  before(async () => {
    sink = await startSink();
    server = await new Server({
      tenants: ['rate', 'quota', 'held', 'paused', 'smtp'],
      adminToken: true,
      config: `[delivery]
idle_seconds = 1
retry_first_seconds = 1
retry_max_seconds = 2
[[delivery.routes]]
domain = "*"
relay = "127.0.0.1:${sink.port}"
tls = "disabled"
[submission]
listen = "127.0.0.1:0"
auth_requires_tls = false
`,
    }).start();
  });
  after(async () => {
    await server?.cleanup();
    await sink?.stop();
  });

  const limits = (tenant, body) =>
    server.request('POST', `/v1/admin/tenants/${server.tenantId(tenant)}/limits`, { admin: true, json: body });
  const msg = (i, n = 1) => ({
    from: 'app@example.com',
    to: Array.from({ length: n }, (_, k) => `success+${i}-${k}@dest.test`),
    subject: `m${i}`,
    text: 'x',
  });

  test('bad limits are refused with a specific error and change nothing', async () => {
    for (const [body, field] of [
      [{ weight: 0 }, 'weight'],
      [{ rate: -1 }, 'rate'],
      [{ rate: 1e-9 }, 'rate'],
      [{ over_limit: 'queue' }, 'over_limit'],
      [{ daily_quota: 'many' }, 'daily_quota'],
      [{ speed: 1 }, 'speed'],
    ]) {
      const r = await limits('rate', body);
      assert.equal(r.status, 422, JSON.stringify(r.json));
      assert.equal(r.json.field, field);
    }
    const t = await server.request('GET', `/v1/admin/tenants/${server.tenantId('rate')}`, { admin: true });
    assert.deepEqual(t.json.limits, { weight: 1, rate: 0, burst: 0, daily_quota: 0, over_limit: 'reject' });
    assert.equal(t.json.paused, false);
  });

  test('over the rate: 429 with Retry-After, nothing stored; within it again later', async () => {
    const r = await limits('rate', { rate: 2, burst: 5 });
    assert.equal(r.status, 200);
    assert.equal(r.json.limits.rate, 2);
    // A batch of 4 messages to 2 recipients each = 8 recipients > burst 5: refused as a whole.
    const batch = await server.request('POST', '/v1/messages/batch', {
      key: server.key('rate'),
      json: { messages: [msg(1, 2), msg(2, 2), msg(3, 2), msg(4, 2)] },
    });
    assert.equal(batch.status, 429, batch.text);
    assert.equal(batch.json.code, 'rate_limited');
    assert.match(batch.json.detail, /send rate of 2/);
    assert.ok(Number(batch.headers.get('retry-after')) >= 1);
    assert.equal(await server.accepted('rate'), 0);
    // Within the burst: accepted.
    const ok = await server.submit('rate', msg(5, 5));
    assert.equal(ok.status, 202);
    const over = await server.submit('rate', msg(6, 1));
    assert.equal(over.status, 429);
    const wait = Number(over.headers.get('retry-after'));
    assert.ok(wait >= 1 && wait <= 3, `Retry-After ${wait}`);
    await new Promise((res) => setTimeout(res, wait * 1000));
    assert.equal((await server.submit('rate', msg(7, 1))).status, 202);
  });

  test('daily quota: refused until 00:00 UTC; usage shown', async () => {
    await limits('quota', { daily_quota: 3 });
    assert.equal((await server.submit('quota', msg(1, 2))).status, 202);
    assert.equal((await server.submit('quota', msg(2, 1))).status, 202);
    const r = await server.submit('quota', msg(3, 1));
    assert.equal(r.status, 429);
    assert.match(r.json.detail, /daily quota of 3 recipients reached/);
    const now = new Date();
    const midnight = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
    const expected = Math.ceil((midnight - Date.now()) / 1000);
    assert.ok(Math.abs(Number(r.headers.get('retry-after')) - expected) <= 5);
    const t = await server.request('GET', `/v1/admin/tenants/${server.tenantId('quota')}`, { admin: true });
    assert.equal(t.json.usage.today, 3);
    // More recipients than the whole quota can never go: 422, not a retry.
    const never = await server.submit('quota', msg(4, 4));
    assert.equal(never.status, 422);
    assert.match(never.json.detail, /4 recipients, more than the daily quota of 3/);
  });

  test('hold: over the rate the mail is accepted, scheduled later, and delivered then', async () => {
    await limits('held', { rate: 1, burst: 1, over_limit: 'hold' });
    const first = await server.submit('held', msg(1, 1));
    assert.equal(first.status, 202);
    assert.equal(first.json.status, 'queued');
    const second = await server.submit('held', msg(2, 2));
    assert.equal(second.status, 202);
    assert.equal(second.json.status, 'scheduled');
    const g = await server.getMessage('held', second.json.id);
    const delay = Date.parse(g.json.send_at) - Date.now();
    assert.ok(delay > 500 && delay <= 2500, `held for ${delay} ms`);
    await waitFor(async () => (await server.getMessage('held', second.json.id)).json.status === 'delivered',
      { timeoutMs: 15000, what: 'the held message delivered' });
  });

  test('SMTP submission over the quota gets 451 4.7.1', async () => {
    await limits('smtp', { daily_quota: 1 });
    const swaks = (to) => spawnSync('swaks', ['--suppress-data', '--hide-informational',
      '--server', `127.0.0.1:${server.smtpPort}`, '--auth', 'PLAIN', '--auth-user', 'x',
      '--auth-password', server.key('smtp'), '--from', 'app@example.com', '--to', to],
    { encoding: 'utf8', timeout: 30000 });
    const ok = swaks('success+smtp1@dest.test');
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    const refused = swaks('success+smtp2@dest.test');
    assert.notEqual(refused.status, 0);
    assert.match(refused.stdout + refused.stderr, /451 4\.7\.1 daily quota of 1 recipients reached/);
  });

  test('pause: mail is accepted and waits; resume: it is delivered', async () => {
    const p = await server.request('POST', `/v1/admin/tenants/${server.tenantId('paused')}/pause`, { admin: true });
    assert.equal(p.status, 200);
    assert.equal(p.json.paused, true);
    const ids = [];
    for (let i = 0; i < 5; i++) {
      const r = await server.submit('paused', msg(100 + i, 1));
      assert.equal(r.status, 202);
      ids.push(r.json.id);
    }
    // Other tenants still deliver meanwhile.
    const other = await server.submit('rate', msg(200, 1));
    await waitFor(async () => (await server.getMessage('rate', other.json.id)).json.status === 'delivered',
      { what: "another tenant's mail during the pause" });
    await new Promise((res) => setTimeout(res, 1500));
    for (const id of ids) {
      const g = (await server.getMessage('paused', id)).json;
      assert.notEqual(g.status, 'delivered');
      assert.equal(g.recipients[0].attempts.length, 0, 'no attempt while paused');
    }
    const r = await server.request('POST', `/v1/admin/tenants/${server.tenantId('paused')}/resume`, { admin: true });
    assert.equal(r.json.paused, false);
    for (const id of ids) {
      await waitFor(async () => (await server.getMessage('paused', id)).json.status === 'delivered',
        { timeoutMs: 15000, what: `${id} after resume` });
    }
  });
});
