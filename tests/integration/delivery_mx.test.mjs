// Delivery to MX hosts found in a real DNS server (dnsmasq on loopback): Postfix as a receiving MX
// with STARTTLS and 550 for unknown users, fault-injecting SMTP peers (tests/peers/smtp_peer.py),
// MX order and fallback, implicit MX, null MX, NXDOMAIN, SERVFAIL. All peers listen on one port
// (delivery.port) at different 127.0.0.x addresses.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Server, waitFor } from './lib/server.mjs';
import { freePort, startDns, startPostfix, startSmtpPeer } from './lib/peers.mjs';

describe('delivery to MX hosts from DNS', () => {
  let dns;
  let server;
  const peers = {};
  let port;
  before(async () => {
    port = await freePort('127.0.0.3');
    const peerSpecs = {
      accept: { ip: '127.0.0.4', mode: 'accept' },
      greeting421: { ip: '127.0.0.6', mode: 'greeting-421' },
      dropMail: { ip: '127.0.0.7', mode: 'disconnect-at-mail' },
      dropData: { ip: '127.0.0.8', mode: 'disconnect-at-data' },
      tempRcpt: { ip: '127.0.0.9', mode: 'tempfail-rcpt' },
      noPipe: { ip: '127.0.0.10', mode: 'no-pipelining' },
      deferTwice: { ip: '127.0.0.11', mode: 'defer-then-accept', deferTimes: 2 },
      brokenTls: { ip: '127.0.0.12', mode: 'broken-starttls' },
    };
    const started = await Promise.all([
      startPostfix({ ip: '127.0.0.3', port, users: ['alice'], domains: ['pf.test'], tls: true }),
      ...Object.values(peerSpecs).map((s) => startSmtpPeer({ ...s, port })),
    ]);
    peers.postfix = started[0];
    Object.keys(peerSpecs).forEach((k, i) => { peers[k] = started[i + 1]; });
    dns = await startDns({
      ttl: 60,
      records: {
        mx: [
          { domain: 'pf.test', host: 'mx.pf.test', preference: 10 },
          { domain: 'multi.test', host: 'mx1.multi.test', preference: 10 },
          { domain: 'multi.test', host: 'mx2.multi.test', preference: 20 },
          { domain: 'dm.test', host: 'mx.dm.test' },
          { domain: 'dd.test', host: 'mx.dd.test' },
          { domain: 'tr.test', host: 'mx.tr.test' },
          { domain: 'np.test', host: 'mx.np.test' },
          { domain: 'dta.test', host: 'mx.dta.test' },
          { domain: 'bt.test', host: 'mx.bt.test' },
        ],
        nullMx: ['null.test'],
        a: [
          { name: 'mx.pf.test', ip: '127.0.0.3' },
          { name: 'mx1.multi.test', ip: '127.0.0.6' },
          { name: 'mx2.multi.test', ip: '127.0.0.4' },
          { name: 'implicit.test', ip: '127.0.0.4' },
          { name: 'mx.dm.test', ip: '127.0.0.7' },
          { name: 'mx.dd.test', ip: '127.0.0.8' },
          { name: 'mx.tr.test', ip: '127.0.0.9' },
          { name: 'mx.np.test', ip: '127.0.0.10' },
          { name: 'mx.dta.test', ip: '127.0.0.11' },
          { name: 'mx.bt.test', ip: '127.0.0.12' },
        ],
        servfail: ['servfail.test'],
      },
    });
    server = await new Server({
      tenants: ['t'],
      config: `[dns]
servers = ["${dns.server}"]
timeout_ms = 500
tries = 1
[delivery]
port = ${port}
helo_name = "mailplane.test"
retry_first_seconds = 1
retry_multiplier = 1.0
retry_max_seconds = 1
retry_jitter = 0
idle_seconds = 1
connect_timeout_seconds = 3
`,
    }).start();
  });
  after(async () => {
    await server?.cleanup();
    for (const p of Object.values(peers)) await p.stop();
    await dns?.stop();
  });

  async function send(to, extra = {}) {
    const r = await server.submit('t', { from: 'app@example.com', to, subject: 'MX test', text: 'hello MX', ...extra });
    assert.equal(r.status, 202, r.text);
    return r.json.id;
  }
  async function until(id, pred, what, timeoutMs = 20000) {
    return waitFor(async () => {
      const g = await server.getMessage('t', id);
      return pred(g.json) && g.json;
    }, { timeoutMs, intervalMs: 100, what: `${id}: ${what}` });
  }
  const final = (m) => ['delivered', 'bounced', 'partially_delivered'].includes(m.status);

  test('Postfix MX: delivered over STARTTLS to a known user, 550 bounces an unknown one', async () => {
    const id = await send(['alice@pf.test', 'nobody@pf.test']);
    const m = await until(id, final, 'final');
    const by = Object.fromEntries(m.recipients.map((x) => [x.address, x]));
    assert.equal(by['alice@pf.test'].status, 'delivered');
    const a = by['alice@pf.test'].attempts[0];
    assert.equal(a.mx, 'mx.pf.test');
    assert.equal(a.ip, '127.0.0.3');
    assert.equal(a.code, 250);
    assert.match(a.tls.version, /^TLSv1\.[23]$/);
    assert.equal(by['nobody@pf.test'].status, 'bounced');
    assert.equal(by['nobody@pf.test'].attempts[0].code, 550);
    assert.equal(by['nobody@pf.test'].attempts[0].enhanced_code, '5.1.1');
    const msgs = await peers.postfix.waitForMessages(1, 10000);
    assert.match(msgs[0].raw ?? String(msgs[0]), /Subject: MX test/);
  });

  test('a 421 greeting on the first MX: the next MX by preference takes the mail', async () => {
    const id = await send('x@multi.test');
    const m = await until(id, final, 'final');
    assert.equal(m.status, 'delivered');
    const a = m.recipients[0].attempts.at(-1);
    assert.equal(a.mx, 'mx2.multi.test');
    assert.equal(a.ip, '127.0.0.4');
  });

  test('implicit MX: a domain with only an A record', async () => {
    const id = await send('y@implicit.test');
    const m = await until(id, final, 'final');
    assert.equal(m.status, 'delivered');
    assert.equal(m.recipients[0].attempts[0].mx, 'implicit.test');
  });

  test('null MX bounces at once with 5.1.10; NXDOMAIN bounces with 5.1.2; nobody is contacted', async () => {
    const id = await send(['a@null.test', 'b@nosuch.test']);
    const m = await until(id, final, 'final');
    assert.equal(m.status, 'bounced');
    const by = Object.fromEntries(m.recipients.map((x) => [x.address, x]));
    assert.equal(by['a@null.test'].reason, 'null_mx');
    assert.equal(by['a@null.test'].attempts[0].enhanced_code, '5.1.10');
    assert.equal(by['a@null.test'].attempts[0].mx, '');
    assert.equal(by['b@nosuch.test'].reason, 'no_such_domain');
    assert.equal(by['b@nosuch.test'].attempts[0].enhanced_code, '5.1.2');
  });

  test('SERVFAIL is temporary: deferred with 4.4.3', async () => {
    const id = await send('z@servfail.test');
    const m = await until(id, (j) => j.status === 'deferred', 'deferred');
    const a = m.recipients[0].attempts[0];
    assert.equal(a.code, 451);
    assert.equal(a.enhanced_code, '4.4.3');
    assert.ok(m.recipients[0].next_attempt_at);
  });

  test('a connection dropped at MAIL or during DATA counts as 451 and is retried', async () => {
    const id1 = await send('u@dm.test');
    const id2 = await send('v@dd.test');
    for (const id of [id1, id2]) {
      const m = await until(id, (j) => j.recipients[0].attempts_total >= 2, 'two attempts');
      for (const a of m.recipients[0].attempts) {
        assert.equal(a.code, 451);
        assert.equal(a.enhanced_code, '4.4.2');
      }
      assert.notEqual(m.status, 'delivered');
    }
  });

  test('451 at RCPT defers', async () => {
    const id = await send('w@tr.test');
    const m = await until(id, (j) => j.status === 'deferred', 'deferred');
    assert.equal(m.recipients[0].attempts[0].code, 451);
    assert.equal(m.recipients[0].attempts[0].enhanced_code, '4.3.0');
  });

  test('without PIPELINING the client waits for each reply', async () => {
    const id = await send(['p1@np.test', 'p2@np.test']);
    const m = await until(id, final, 'final');
    assert.equal(m.status, 'delivered');
    await peers.noPipe.waitForMessages(1, 5000);
    for (const c of peers.noPipe.connections()) assert.equal(c.pipelined, false, JSON.stringify(c));
    assert.equal(peers.noPipe.connections()[0].ehlo ?? peers.noPipe.connections()[0].helo, 'mailplane.test');
  });

  test('deferred twice by the MX, then delivered', async () => {
    const id = await send('q@dta.test');
    const m = await until(id, (j) => j.status === 'delivered', 'delivered');
    assert.deepEqual(m.recipients[0].attempts.map((a) => a.code), [451, 451, 250]);
  });

  test('opportunistic TLS: a failed handshake is retried at once in clear, never deferred', async () => {
    const id = await send('t@bt.test');
    const m = await until(id, final, 'final');
    assert.equal(m.status, 'delivered');
    assert.equal(m.recipients[0].attempts_total, 1);
    assert.equal(m.recipients[0].attempts[0].tls, null);
    await peers.brokenTls.waitForMessages(1, 5000);
    assert.ok(peers.brokenTls.connections().length >= 2, 'a second connection, in clear');
  });
});
