// The asynchronous feedback loop: outgoing mail carries a VERP return path
// (b+<token>@bounces.<sender domain>); the bounce listener takes what comes back to it:
//   - an auto-reply from the sink's ooto@ (RFC 3834) -> auto_replied, not a bounce;
//   - an ARF complaint from the sink's complaint@ (RFC 5965) -> complained, address suppressed;
//   - a DSN produced by a real Postfix that accepted the mail and then failed it (RFC 3464) ->
//     bounced (the recipient delivered to Postfix becomes bounced), address suppressed.
// RCPT to anything but a valid token is refused: no open relay, no forged reports.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { Server, makeTempDir, removeDir, startSink, waitFor } from './lib/server.mjs';
import { freePort, startPostfix } from './lib/peers.mjs';

// A minimal SMTP client: sends the lines one at a time and collects the replies.
async function smtpDialog(port, lines) {
  const sock = net.connect(port, '127.0.0.1');
  sock.setEncoding('utf8');
  let buf = '';
  const replies = [];
  sock.on('data', (d) => {
    buf += d;
    let m;
    while ((m = /^(\d{3}) [^\r\n]*\r\n/m.exec(buf))) {
      const end = m.index + m[0].length;
      replies.push(buf.slice(0, end));
      buf = buf.slice(end);
    }
  });
  await new Promise((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
  const read = async (n) => {
    const deadline = Date.now() + 5000;
    while (replies.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    return replies[n - 1] ?? '(no reply)';
  };
  const out = [await read(1)];
  for (const line of lines) {
    sock.write(line);
    out.push(await read(out.length + 1));
  }
  sock.destroy();
  return out;
}

describe('asynchronous bounces and complaints', () => {
  let dir;
  let sink;
  let server;
  let postfix;
  let bouncePort;
  before(async () => {
    dir = makeTempDir('mailplane-fb-');
    bouncePort = await freePort();
    sink = await startSink({ args: ['--maildir', `${dir}/maildir`, '--report-to', `127.0.0.1:${bouncePort}`] });
    postfix = await startPostfix({
      users: [],
      domains: ['postfix.test'],
      tls: false,
      main: {
        smtpd_relay_restrictions: 'permit_mynetworks, reject_unauth_destination',
        // Postfix takes far.test mail, then its own delivery to the sink fails (550 5.1.1 for
        // bounce@): it sends a DSN to the return path, which routes to our bounce listener.
        transport_maps: `inline:{bounces.example.com=smtp:[127.0.0.1]:${bouncePort}, far.test=smtp:[127.0.0.1]:${sink.port}}`,
      },
    });
    server = await new Server({
      tenants: ['t'],
      config: `[delivery]
idle_seconds = 1
[[delivery.routes]]
domain = "far.test"
relay = "${postfix.ip}:${postfix.port}"
tls = "disabled"
[[delivery.routes]]
domain = "*"
relay = "127.0.0.1:${sink.port}"
tls = "disabled"
[bounces]
listen = "127.0.0.1:${bouncePort}"
`,
    }).start();
  });
  after(async () => {
    await server?.cleanup();
    await sink?.stop();
    await postfix?.stop();
    if (dir) removeDir(dir);
  });

  const events = async (id) => (await server.request('GET', `/v1/messages/${id}/events`, { key: server.key('t') })).json.events;
  const submit = async (to) => {
    const r = await server.submit('t', { from: 'app@example.com', to, subject: `to ${to}`, text: 'x' });
    assert.equal(r.status, 202, r.text);
    return r.json.id;
  };

  test('the return path is a VERP address on the bounce domain', async () => {
    await submit('success@dest.test');
    await waitFor(() => fs.existsSync(`${dir}/maildir/new`) && fs.readdirSync(`${dir}/maildir/new`).length >= 1, { what: 'a message in the Maildir' });
    const file = fs.readdirSync(`${dir}/maildir/new`)[0];
    const text = fs.readFileSync(`${dir}/maildir/new/${file}`, 'utf8');
    assert.match(text, /^Return-Path: <b\+[a-z2-7]{39}@bounces\.example\.com>/m);
  });

  test('an auto-reply is recorded as such, not as a bounce', async () => {
    const id = await submit('ooto@dest.test');
    await waitFor(async () => (await events(id)).some((e) => e.type === 'auto_replied'), { timeoutMs: 15000, what: 'auto_replied' });
    const list = await events(id);
    const ev = list.find((e) => e.type === 'auto_replied');
    assert.equal(ev.recipient, 'ooto@dest.test');
    assert.match(ev.detail, /Auto-Submitted/i);
    assert.ok(!list.some((e) => e.type === 'bounced'));
    assert.equal((await server.getMessage('t', id)).json.status, 'delivered');
    assert.equal((await server.request('GET', '/v1/suppressions/ooto@dest.test', { key: server.key('t') })).status, 404);
  });

  test('a complaint is recorded, suppresses the address and counts for reputation', async () => {
    const id = await submit('complaint@dest.test');
    await waitFor(async () => (await events(id)).some((e) => e.type === 'complained'), { timeoutMs: 15000, what: 'complained' });
    const ev = (await events(id)).find((e) => e.type === 'complained');
    assert.equal(ev.recipient, 'complaint@dest.test');
    assert.match(ev.detail, /feedback-type: abuse/);
    const sup = await server.request('GET', '/v1/suppressions/complaint@dest.test', { key: server.key('t') });
    assert.equal(sup.status, 200, sup.text);
    assert.equal(sup.json.reason, 'complaint');
    assert.equal(sup.json.message_id, id);
    const again = await server.submit('t', { from: 'app@example.com', to: 'complaint@dest.test', subject: 'again', text: 'x' });
    assert.equal(again.json.recipients[0].status, 'suppressed');
    const rep = (await server.request('GET', '/v1/reputation', { key: server.key('t') })).json;
    assert.ok(rep.last_24_hours.complained >= 1, JSON.stringify(rep));
  });

  test('a DSN from a real Postfix turns a delivered recipient into a bounce', async () => {
    const id = await submit('bounce@far.test');
    await waitFor(async () => (await events(id)).some((e) => e.type === 'bounced'), { timeoutMs: 20000, what: 'the bounce from Postfix' });
    const list = await events(id);
    assert.ok(list.some((e) => e.type === 'delivered'), 'Postfix accepted it first: ' + JSON.stringify(list));
    const b = list.find((e) => e.type === 'bounced');
    assert.equal(b.recipient, 'bounce@far.test');
    assert.equal(b.reply.code, 550);
    assert.equal(b.reply.enhanced_code, '5.1.1');
    assert.match(b.reply.text, /user unknown \(sink\)/);
    assert.equal(b.category, 'invalid_recipient');
    assert.equal(b.bounce_type, 'hard');
    assert.equal(b.site, 'dsn');
    await waitFor(async () => (await server.getMessage('t', id)).json.status === 'bounced', { what: 'message status bounced' });
    const m = (await server.getMessage('t', id)).json;
    assert.equal(m.recipients[0].reason, 'async_bounce');
    assert.equal((await server.request('GET', '/v1/suppressions/bounce@far.test', { key: server.key('t') })).json.reason, 'invalid_recipient');
  });

  test('the bounce listener refuses addresses that are not our tokens', async () => {
    const replies = await smtpDialog(bouncePort, [
      'EHLO test\r\n',
      'MAIL FROM:<>\r\n',
      'RCPT TO:<postmaster@bounces.example.com>\r\n',
      'RCPT TO:<b+aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@bounces.example.com>\r\n',
      'RCPT TO:<someone@example.org>\r\n',
      'QUIT\r\n',
    ]);
    assert.match(replies[3], /^550 /);
    assert.match(replies[4], /^550 /);
    assert.match(replies[5], /^550 /);
  });
});
