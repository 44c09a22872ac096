// Delivery through a relay route to `mailplane sink`: outcomes per recipient (delivered, bounced
// at RCPT, rejected after DATA, deferred and retried, expired), attempt records, connection reuse,
// STARTTLS policies. Retry times are shortened by configuration, never by long sleeps.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Server, makeTempDir, removeDir, startSink, waitFor } from './lib/server.mjs';
import { makeCert } from './lib/peers.mjs';

function relayConfig(port, extra = '', route = 'tls = "disabled"') {
  return `[delivery]
retry_first_seconds = 1
retry_multiplier = 1.0
retry_max_seconds = 1
retry_jitter = 0
idle_seconds = 1
${extra}
[[delivery.routes]]
domain = "*"
relay = "127.0.0.1:${port}"
${route}
`;
}

async function waitFinal(server, id, { timeoutMs = 20000 } = {}) {
  return waitFor(async () => {
    const r = await server.getMessage('t', id);
    assert.equal(r.status, 200);
    return ['delivered', 'bounced', 'partially_delivered'].includes(r.json.status) && r.json;
  }, { timeoutMs, what: `message ${id} final` });
}

describe('delivery to mailplane sink over a relay route', () => {
  let sink;
  let server;
  before(async () => {
    sink = await startSink({ args: ['--defer-count', '2', '--slow-ms', '300'] });
    server = await new Server({ tenants: ['t'], config: relayConfig(sink.port) }).start();
  });
  after(async () => {
    await server?.cleanup();
    await sink?.stop();
  });

  test('a message is delivered and its attempt is recorded', async () => {
    const r = await server.submit('t', { from: 'app@example.com', to: 'success@dest.test', subject: 's', text: 'hello' });
    assert.equal(r.status, 202);
    const m = await waitFinal(server, r.json.id);
    assert.equal(m.status, 'delivered');
    const rc = m.recipients[0];
    assert.equal(rc.status, 'delivered');
    assert.equal(rc.attempts_total, 1);
    assert.equal(rc.attempts.length, 1);
    const a = rc.attempts[0];
    assert.equal(a.code, 250);
    assert.equal(a.enhanced_code, '2.0.0');
    assert.match(a.text, /^Ok: queued as /);
    assert.equal(a.mx, '127.0.0.1');
    assert.equal(a.ip, '127.0.0.1');
    assert.equal(a.tls, null);
  });

  test('per recipient: 550 at RCPT bounces, the others are delivered in the same transaction', async () => {
    const r = await server.submit('t', {
      from: 'app@example.com', to: ['success@dest.test', 'bounce@dest.test', 'other@dest.test'], subject: 's', text: 'x',
    });
    const m = await waitFinal(server, r.json.id);
    assert.equal(m.status, 'partially_delivered');
    const by = Object.fromEntries(m.recipients.map((x) => [x.address, x]));
    assert.equal(by['success@dest.test'].status, 'delivered');
    assert.equal(by['other@dest.test'].status, 'delivered');
    assert.equal(by['bounce@dest.test'].status, 'bounced');
    assert.equal(by['bounce@dest.test'].reason, 'rejected');
    assert.equal(by['bounce@dest.test'].attempts[0].code, 550);
    assert.equal(by['bounce@dest.test'].attempts[0].enhanced_code, '5.1.1');
  });

  test('554 after DATA bounces every recipient of the transaction', async () => {
    const r = await server.submit('t', { from: 'app@example.com', to: ['reject@dest.test', 'success@dest.test'], subject: 's', text: 'x' });
    const m = await waitFinal(server, r.json.id);
    assert.equal(m.status, 'bounced');
    for (const rc of m.recipients) {
      assert.equal(rc.status, 'bounced');
      assert.equal(rc.attempts[0].code, 554);
    }
  });

  test('deferred twice (451), then delivered on the third attempt', async () => {
    const r = await server.submit('t', { from: 'app@example.com', to: 'defer+a1@dest.test', subject: 's', text: 'x' });
    const seen = new Set();
    const m = await waitFor(async () => {
      const g = await server.getMessage('t', r.json.id);
      seen.add(g.json.status);
      return g.json.status === 'delivered' && g.json;
    }, { timeoutMs: 20000, intervalMs: 100, what: 'delivered after deferrals' });
    assert.ok(seen.has('deferred'), `saw ${[...seen]}`);
    const rc = m.recipients[0];
    assert.equal(rc.attempts_total, 3);
    assert.deepEqual(rc.attempts.map((a) => a.code), [451, 451, 250]);
    assert.equal(rc.attempts[0].enhanced_code, '4.7.1');
  });

  test('a slow server is waited for', async () => {
    const r = await server.submit('t', { from: 'app@example.com', to: 'slow@dest.test', subject: 's', text: 'x' });
    const m = await waitFinal(server, r.json.id);
    assert.equal(m.status, 'delivered');
  });

  test('many messages share a few connections (reuse with RSET-free transactions)', async () => {
    const before = sink.stats.connections;
    const messagesBefore = sink.stats.messages;
    const ids = [];
    for (let i = 0; i < 60; i++) {
      const r = await server.submit('t', { from: 'app@example.com', to: `success+${i}@dest.test`, subject: `m${i}`, text: 'x' });
      ids.push(r.json.id);
    }
    for (const id of ids) assert.equal((await waitFinal(server, id)).status, 'delivered');
    await sink.waitStats((st) => st.messages >= messagesBefore + 60, { timeoutMs: 5000 });
    // New connections: none at all when a connection kept from the tests before carried them.
    const used = sink.stats.connections - before;
    assert.ok(used <= 20, `connections used: ${used}`);
  });
});

describe('expiry', () => {
  let sink;
  let server;
  before(async () => {
    sink = await startSink();
    server = await new Server({ tenants: ['t'], config: relayConfig(sink.port, 'max_age_seconds = 3') }).start();
  });
  after(async () => {
    await server?.cleanup();
    await sink?.stop();
  });

  test('a recipient still failing temporarily at the maximum age bounces as expired', async () => {
    const r = await server.submit('t', { from: 'app@example.com', to: 'tempfail@dest.test', subject: 's', text: 'x' });
    const m = await waitFinal(server, r.json.id, { timeoutMs: 15000 });
    assert.equal(m.status, 'bounced');
    const rc = m.recipients[0];
    assert.equal(rc.reason, 'expired');
    assert.ok(rc.attempts_total >= 2, `attempts ${rc.attempts_total}`);
    assert.ok(rc.attempts.every((a) => a.code === 451));
  });
});

describe('STARTTLS policies', () => {
  let sink;
  let dir;
  const servers = [];
  before(async () => {
    dir = makeTempDir();
    const { certFile: cert, keyFile: key } = makeCert(dir, { cn: 'sink.test' });
    sink = await startSink({ args: ['--tls-cert', cert, '--tls-key', key] });
  });
  after(async () => {
    for (const s of servers) await s.cleanup();
    await sink?.stop();
    removeDir(dir);
  });

  async function deliverWith(route) {
    const server = await new Server({ tenants: ['t'], config: relayConfig(sink.port, 'max_age_seconds = 600', route) }).start();
    servers.push(server);
    const r = await server.submit('t', { from: 'app@example.com', to: 'success@dest.test', subject: 's', text: 'x' });
    return { server, id: r.json.id };
  }

  test('required: delivered over TLS, version and cipher recorded', async () => {
    const { server, id } = await deliverWith('tls = "required"');
    const m = await waitFinal(server, id);
    const a = m.recipients[0].attempts[0];
    assert.equal(m.status, 'delivered');
    assert.match(a.tls.version, /^TLSv1\.[23]$/);
    assert.ok(a.tls.cipher.length > 0);
  });

  test('opportunistic (default) uses TLS when offered', async () => {
    const { server, id } = await deliverWith('');
    const m = await waitFinal(server, id);
    assert.ok(m.recipients[0].attempts[0].tls);
  });

  test('verify: a self-signed certificate is refused and the mail deferred, never sent in clear', async () => {
    // The two earlier tests each delivered one message here; wait until the stats line says so.
    await sink.waitStats((st) => st.messages >= 2);
    const before = sink.stats.messages;
    const { server, id } = await deliverWith('tls = "verify"');
    const m = await waitFor(async () => {
      const g = await server.getMessage('t', id);
      return g.json.status === 'deferred' && g.json;
    }, { what: 'deferred' });
    const a = m.recipients[0].attempts[0];
    assert.equal(a.code, 451);
    assert.equal(a.enhanced_code, '4.7.5');
    assert.match(a.text, /TLS handshake failed/);
    assert.equal(sink.stats.messages, before);
  });
});

describe('per-site limits', () => {
  let sink;
  let server;
  before(async () => {
    sink = await startSink();
    server = await new Server({
      tenants: ['t'],
      config: relayConfig(sink.port, 'max_messages_per_second_per_site = 5\nmax_connections_per_site = 2'),
    }).start();
  });
  after(async () => {
    await server?.cleanup();
    await sink?.stop();
  });

  test('max_messages_per_second_per_site spreads 15 messages over at least 2 seconds', async () => {
    const ids = [];
    for (let i = 0; i < 15; i++) {
      const r = await server.submit('t', { from: 'app@example.com', to: `success+r${i}@dest.test`, subject: 's', text: 'x' });
      ids.push(r.json.id);
    }
    const times = [];
    for (const id of ids) {
      const m = await waitFinal(server, id);
      assert.equal(m.status, 'delivered');
      times.push(Date.parse(m.recipients[0].attempts[0].at));
    }
    // A bucket of 5 tokens refilled at 5 a second: 5 at once, then 10 more over 2 seconds.
    const span = Math.max(...times) - Math.min(...times);
    assert.ok(span >= 1800, `15 deliveries took only ${span} ms`);
  });
});
