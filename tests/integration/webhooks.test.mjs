// Webhooks: a tenant's endpoints receive its events in batches, signed per Standard Webhooks and
// verified here by the npm `standardwebhooks` package (an independent implementation); event-type
// filters; retries with the same webhook-id; an endpoint failing past disable_after_seconds is
// disabled with an endpoint_disabled event, then re-enabled and replayed from a cursor or a time;
// secret rotation; tenants see only their own endpoints; SIGKILL during delivery loses no event.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Webhook } from 'standardwebhooks';
import { assertProblem, waitFor, startServerWithSink } from './lib/server.mjs';

// An HTTP receiver that verifies every request with the endpoint's secret(s) and records events.
class Receiver {
  constructor() {
    this.secrets = [];
    this.requests = [];  // {id, verified, events, status}
    this.events = new Map();  // event id -> event
    this.failWith = 0;  // answer this status instead of 200 when set
  }

  async start() {
    this.server = http.createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c) => { body += c; });
      req.on('end', () => {
        const headers = {
          'webhook-id': req.headers['webhook-id'],
          'webhook-timestamp': req.headers['webhook-timestamp'],
          'webhook-signature': req.headers['webhook-signature'],
        };
        const verifiedBy = this.secrets.filter((s) => {
          try {
            new Webhook(s).verify(body, headers);
            return true;
          } catch {
            return false;
          }
        });
        const status = this.failWith || 200;
        let parsed = null;
        try { parsed = JSON.parse(body); } catch { /* recorded as unparsed */ }
        this.requests.push({ id: headers['webhook-id'], verifiedBy, body: parsed, status, signature: headers['webhook-signature'] });
        if (status === 200 && verifiedBy.length > 0 && parsed) {
          for (const e of parsed.data.events) this.events.set(e.id, e);
        }
        res.writeHead(status, { 'content-type': 'text/plain' });
        res.end(status === 200 ? 'ok' : 'receiver is down');
      });
    });
    await new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${this.server.address().port}/hooks?x=1`;
    return this;
  }

  async stop() {
    await new Promise((resolve) => this.server.close(resolve));
  }

  ofType(type) {
    return [...this.events.values()].filter((e) => e.type === type);
  }
}

describe('webhooks', () => {
  let sink;
  let server;
  before(async () => {
    ({ sink, server } = await startServerWithSink({ tenants: ['t', 'other'], extra: `[webhooks]
allow_private_addresses = true
poll_interval_ms = 50
backoff_initial_seconds = 1
backoff_max_seconds = 1
disable_after_seconds = 3
timeout_seconds = 2
` }));
  });
  after(async () => {
    await server?.cleanup();
    await sink?.stop();
  });

  const api = (method, path, body, tenant = 't') =>
    server.request(method, path, { key: server.key(tenant), json: body });

  const submitAll = async (n, to) => {
    const ids = [];
    for (let i = 0; i < n; i++) {
      const r = await server.submit('t', { from: 'app@example.com', to: to(i), subject: `w${i}`, text: 'x', tags: ['hook'], metadata: { n: String(i) } });
      assert.equal(r.status, 202, r.text);
      ids.push(r.json.id);
    }
    return ids;
  };

  test('events arrive in signed batches, filtered by type', async () => {
    const rx = await new Receiver().start();
    try {
      const c = await api('POST', '/v1/webhooks', { url: rx.url, event_types: ['delivered', 'bounced'], batch_size: 2, description: 'ours' });
      assert.equal(c.status, 201, c.text);
      assert.match(c.json.id, /^wh_/);
      assert.match(c.json.secret, /^whsec_/);
      rx.secrets = [c.json.secret];
      const ids = await submitAll(5, (i) => (i === 4 ? ['bounce@dest.test'] : [`success+${i}@dest.test`]));
      await waitFor(() => rx.ofType('delivered').length === 4 && rx.ofType('bounced').length === 1,
        { timeoutMs: 20000, what: '4 delivered and 1 bounced event' });
      assert.ok(rx.requests.every((r) => r.verifiedBy.length === 1), 'every request verifies');
      assert.ok(rx.requests.every((r) => r.body.data.events.length <= 2), 'batches of at most 2');
      assert.ok(rx.requests.some((r) => r.body.data.events.length === 2), 'some batch has 2 events');
      assert.deepEqual(new Set([...rx.events.values()].map((e) => e.type)), new Set(['delivered', 'bounced']));
      const bounced = rx.ofType('bounced')[0];
      assert.equal(bounced.message_id, ids[4]);
      assert.equal(bounced.category, 'invalid_recipient');
      assert.equal(bounced.bounce_type, 'hard');
      assert.equal(bounced.reply.code, 550);
      assert.deepEqual(bounced.tags, ['hook']);
      assert.deepEqual(bounced.metadata, { n: '4' });
      assert.equal(rx.requests[0].body.type, 'events');
      assert.equal(rx.requests[0].body.data.endpoint_id, c.json.id);
      const g = await api('GET', `/v1/webhooks/${c.json.id}`);
      assert.equal(g.status, 200);
      assert.equal(g.json.secret, undefined, 'the secret is shown only at creation and rotation');
      assert.equal(g.json.delivery.events_delivered, 5);
      assert.equal(g.json.enabled, true);
      const list = await api('GET', '/v1/webhooks');
      assert.ok(list.json.webhooks.some((w) => w.id === c.json.id));
      // Another tenant neither sees nor changes it.
      assert.equal((await api('GET', `/v1/webhooks/${c.json.id}`, undefined, 'other')).status, 404);
      assert.equal((await api('DELETE', `/v1/webhooks/${c.json.id}`, undefined, 'other')).status, 404);
      assert.equal((await api('DELETE', `/v1/webhooks/${c.json.id}`)).status, 204);
      assert.equal((await api('GET', `/v1/webhooks/${c.json.id}`)).status, 404);
    } finally {
      await rx.stop();
    }
  });

  test('bad endpoints are refused with a clear error and change nothing', async () => {
    const before = (await api('GET', '/v1/webhooks')).json.webhooks.length;
    assertProblem(await api('POST', '/v1/webhooks', { url: 'ftp://example.com/x' }), 422, 'invalid_value', 'url');
    assertProblem(await api('POST', '/v1/webhooks', { url: 'http://user:pw@example.com/' }), 422, 'invalid_value', 'url');
    assertProblem(await api('POST', '/v1/webhooks', { url: 'https://example.com/', event_types: ['deliverd'] }), 422, 'invalid_value', 'event_types');
    assertProblem(await api('POST', '/v1/webhooks', { url: 'https://example.com/', batch_size: 0 }), 422, 'invalid_value', 'batch_size');
    assertProblem(await api('POST', '/v1/webhooks', { url: 'https://example.com/', secret: 'whsec_short' }), 422, 'invalid_value', 'secret');
    assertProblem(await api('POST', '/v1/webhooks', { url: 'https://example.com/', colour: 'red' }), 422, 'unknown_field');
    assertProblem(await api('POST', '/v1/webhooks', {}), 422, 'invalid_value', 'url');
    assert.equal((await api('GET', '/v1/webhooks')).json.webhooks.length, before);
    assert.equal((await server.request('GET', '/v1/webhooks', {})).status, 401);
  });

  test('a failing endpoint is retried with the same id, disabled with an event, re-enabled and replayed', async () => {
    const rx = await new Receiver().start();
    try {
      rx.failWith = 503;
      const c = await api('POST', '/v1/webhooks', { url: rx.url, event_types: ['delivered'] });
      assert.equal(c.status, 201);
      rx.secrets = [c.json.secret];
      await submitAll(3, (i) => [`success+f${i}@dest.test`]);
      await waitFor(async () => !(await api('GET', `/v1/webhooks/${c.json.id}`)).json.enabled,
        { timeoutMs: 20000, what: 'the endpoint disabled' });
      const failed = rx.requests.filter((r) => r.status === 503);
      assert.ok(failed.length >= 2, `retried (${failed.length} attempts)`);
      assert.equal(new Set(failed.map((r) => r.id)).size, 1, 'every retry has the same webhook-id');
      const g = (await api('GET', `/v1/webhooks/${c.json.id}`)).json;
      assert.equal(g.disabled_reason, 'failing');
      assert.match(g.delivery.last_error, /HTTP 503/);
      assert.ok(g.delivery.failing_since);
      const disabledEvents = (await api('GET', '/v1/events?type=endpoint_disabled')).json.events;
      const ev = disabledEvents.find((e) => e.metadata.endpoint_id === c.json.id);
      assert.ok(ev, 'an endpoint_disabled event in the stream');
      assert.equal(ev.message_id, null);
      assert.equal(ev.reply.code, 503);
      // Disabled: nothing more is sent.
      const attempts = rx.requests.length;
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(rx.requests.length, attempts);
      // The receiver is back; enabling delivers the backlog.
      rx.failWith = 0;
      const en = await api('POST', `/v1/webhooks/${c.json.id}/enable`, {});
      assert.equal(en.status, 200, en.text);
      assert.equal(en.json.enabled, true);
      await waitFor(() => rx.ofType('delivered').length === 3, { timeoutMs: 10000, what: 'the backlog delivered' });
      // Replay from a time before everything: the same events again (at least once).
      const before = rx.requests.length;
      const rp = await api('POST', `/v1/webhooks/${c.json.id}/replay`, { since: new Date(Date.now() - 600_000).toISOString() });
      assert.equal(rp.status, 200, rp.text);
      const replayed = () => new Set(rx.requests.slice(before).filter((r) => r.status === 200)
        .flatMap((r) => r.body.data.events.map((e) => e.id)));
      await waitFor(() => [...rx.events.keys()].every((id) => replayed().has(id)),
        { timeoutMs: 10000, what: 'all 3 events sent again' });
      assertProblem(await api('POST', `/v1/webhooks/${c.json.id}/replay`, {}), 422, 'invalid_value', 'cursor');
      assertProblem(await api('POST', `/v1/webhooks/${c.json.id}/replay`, { cursor: 'zz' }), 422, 'invalid_value', 'cursor');
      await api('DELETE', `/v1/webhooks/${c.json.id}`);
    } finally {
      await rx.stop();
    }
  });

  test('secret rotation: old and new secrets both verify during the overlap', async () => {
    const rx = await new Receiver().start();
    try {
      const c = await api('POST', '/v1/webhooks', { url: rx.url, event_types: ['accepted'] });
      const old = c.json.secret;
      const r = await api('POST', `/v1/webhooks/${c.json.id}/rotate-secret`, { keep_old_seconds: 3600 });
      assert.equal(r.status, 200, r.text);
      assert.notEqual(r.json.secret, old);
      assert.equal(r.json.secrets_active, 2);
      rx.secrets = [old, r.json.secret];
      await submitAll(1, () => ['success@dest.test']);
      await waitFor(() => rx.ofType('accepted').length === 1, { timeoutMs: 10000, what: 'the accepted event' });
      assert.deepEqual(rx.requests[0].verifiedBy.sort(), [old, r.json.secret].sort());
      // Without overlap only the new secret signs.
      const r2 = await api('POST', `/v1/webhooks/${c.json.id}/rotate-secret`, { keep_old_seconds: 0 });
      assert.equal(r2.json.secrets_active, 1);
      rx.secrets = [old, r.json.secret, r2.json.secret];
      await submitAll(1, () => ['success@dest.test']);
      await waitFor(() => rx.ofType('accepted').length === 2, { timeoutMs: 10000, what: 'the second event' });
      assert.deepEqual(rx.requests.at(-1).verifiedBy, [r2.json.secret]);
      await api('DELETE', `/v1/webhooks/${c.json.id}`);
    } finally {
      await rx.stop();
    }
  });

  test('SIGKILL while webhooks are delivered loses no event', async () => {
    const rx = await new Receiver().start();
    try {
      const c = await api('POST', '/v1/webhooks', { url: rx.url, event_types: ['delivered'], batch_size: 5 });
      rx.secrets = [c.json.secret];
      await submitAll(60, (i) => [`success+k${i}@dest.test`]);
      await waitFor(() => rx.ofType('delivered').length >= 10, { timeoutMs: 20000, what: 'some events delivered' });
      await server.stop({ signal: 'SIGKILL' });
      await server.start();
      await waitFor(() => rx.ofType('delivered').length === 60, { timeoutMs: 30000, what: 'all 60 delivered events after the restart' });
      const subjects = new Set(rx.ofType('delivered').map((e) => e.recipient));
      assert.equal(subjects.size, 60);
    } finally {
      await rx.stop();
    }
  });
});
