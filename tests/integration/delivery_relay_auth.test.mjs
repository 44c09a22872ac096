// Relays (smarthosts) with AUTH: mailplane A routes every domain to a relay that demands STARTTLS
// and AUTH, here the SMTP submission listener of a second mailplane, B (a real AUTH PLAIN/LOGIN
// server whose password is a tenant API key). B delivers on to `mailplane sink`. Wrong
// credentials defer (4.7.8) and never bounce.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Server, makeTempDir, removeDir, startSink, waitFor } from './lib/server.mjs';
import { makeCert } from './lib/peers.mjs';

describe('relay with STARTTLS and AUTH', () => {
  let sink;
  let relay;
  let dir;
  const senders = [];
  before(async () => {
    dir = makeTempDir();
    const { certFile: cert, keyFile: key } = makeCert(dir, { cn: 'localhost' });
    sink = await startSink();
    relay = await new Server({
      tenants: ['r'],
      config: `[submission]
listen = "127.0.0.1:0"
tls_cert = "${cert}"
tls_key = "${key}"
[delivery]
idle_seconds = 1
[[delivery.routes]]
domain = "*"
relay = "127.0.0.1:${sink.port}"
tls = "disabled"
`,
    }).start();
  });
  after(async () => {
    for (const s of senders) await s.cleanup();
    await relay?.cleanup();
    await sink?.stop();
    removeDir(dir);
  });

  async function sender(password, extraRoute = '') {
    const s = await new Server({
      tenants: ['t'],
      config: `[delivery]
idle_seconds = 1
retry_first_seconds = 1
retry_multiplier = 1.0
retry_max_seconds = 1
retry_jitter = 0
[[delivery.routes]]
domain = "*"
relay = "127.0.0.1:${relay.smtpPort}"
tls = "required"
auth_user = "mailplane-a"
auth_password = "${password}"
${extraRoute}
`,
    }).start();
    senders.push(s);
    return s;
  }

  test('delivered through the relay over TLS with AUTH, then on to the sink', async () => {
    const a = await sender(relay.key('r'));
    const before = sink.stats.messages;
    const r = await a.submit('t', { from: 'app@example.com', to: 'success@far.test', subject: 'via relay', text: 'x' });
    const m = await waitFor(async () => {
      const g = await a.getMessage('t', r.json.id);
      return g.json.status === 'delivered' && g.json;
    }, { what: 'delivered to the relay' });
    const att = m.recipients[0].attempts[0];
    assert.equal(att.mx, '127.0.0.1');
    assert.match(att.text, /queued as [0-9A-Z]{26}/);
    assert.ok(att.tls, 'TLS recorded');
    // The relay (mailplane B) accepted it for its tenant and delivered it to the sink.
    const relayedId = att.text.match(/queued as ([0-9A-Z]{26})/)[1];
    const b = await waitFor(async () => {
      const g = await relay.getMessage('r', relayedId);
      return g.json.status === 'delivered' && g.json;
    }, { what: 'relay delivered' });
    assert.equal(b.source, 'smtp');
    await sink.waitStats((st) => st.messages > before);
  });

  test('wrong credentials: deferred with 4.7.8, not bounced', async () => {
    const a = await sender('mp_' + '1'.repeat(64));
    const r = await a.submit('t', { from: 'app@example.com', to: 'success@far.test', subject: 'x', text: 'x' });
    const m = await waitFor(async () => {
      const g = await a.getMessage('t', r.json.id);
      return g.json.status === 'deferred' && g.json;
    }, { what: 'deferred' });
    const att = m.recipients[0].attempts[0];
    assert.equal(att.code, 451);
    assert.equal(att.enhanced_code, '4.7.8');
    assert.match(att.text, /535/);
  });
});
