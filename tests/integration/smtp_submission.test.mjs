// SMTP submission (RFC 6409): real clients (swaks, npm nodemailer) submit over STARTTLS with
// AUTH PLAIN/LOGIN and a tenant API key; the message lands in the same spool as the HTTP API and
// is delivered. Refusals come with the right codes and store nothing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import nodemailer from 'nodemailer';
import { Server, makeTempDir, removeDir, startSink, waitFor } from './lib/server.mjs';
import { makeCert } from './lib/peers.mjs';

function swaks(args) {
  const r = spawnSync('swaks', ['--suppress-data', '--hide-informational', ...args], { encoding: 'utf8', timeout: 30000 });
  return { code: r.status, out: r.stdout + r.stderr };
}

// A raw SMTP dialogue: sends each line after reading the previous reply; returns the replies.
async function dialogue(port, lines) {
  const sock = net.connect(port, '127.0.0.1');
  sock.setEncoding('utf8');
  let buf = '';
  const replies = [];
  let waiter = null;
  sock.on('data', (d) => { buf += d; if (waiter) waiter(); });
  const readReply = () => new Promise((resolve, reject) => {
    const check = () => {
      const m = buf.match(/^(?:\d{3}-[^\n]*\n)*\d{3}(?: [^\n]*)?\r?\n/);
      if (m) { buf = buf.slice(m[0].length); waiter = null; resolve(m[0].trim()); }
    };
    waiter = check;
    sock.once('error', reject);
    check();
  });
  replies.push(await readReply());
  for (const l of lines) {
    sock.write(l + '\r\n');
    replies.push(await readReply());
  }
  sock.destroy();
  return replies;
}

describe('SMTP submission', () => {
  let sink;
  let server;
  let dir;
  let smtpPort;
  before(async () => {
    dir = makeTempDir();
    const { certFile: cert, keyFile: key } = makeCert(dir, { cn: 'localhost' });
    sink = await startSink();
    server = await new Server({
      tenants: ['t'],
      config: `[submission]
listen = "127.0.0.1:0"
tls_cert = "${cert}"
tls_key = "${key}"
[limits]
max_message_bytes = 200000
max_recipients = 5
[delivery]
idle_seconds = 1
[[delivery.routes]]
domain = "*"
relay = "127.0.0.1:${sink.port}"
tls = "disabled"
`,
    }).start();
    smtpPort = server.smtpPort;
    assert.ok(smtpPort > 0);
  });
  after(async () => {
    await server?.cleanup();
    await sink?.stop();
    removeDir(dir);
  });

  test('swaks: STARTTLS + AUTH PLAIN with the API key; 250 names the message, which is delivered', async () => {
    const r = swaks(['--server', `127.0.0.1:${smtpPort}`, '--from', 'app@example.com', '--to', 'success@dest.test',
      '--tls', '--auth', 'PLAIN', '--auth-user', 'anything', '--auth-password', server.key('t'),
      '--header', 'Subject: via swaks']);
    assert.equal(r.code, 0, r.out);
    const id = r.out.match(/250 2\.0\.0 Ok: queued as ([0-9A-Z]{26})/)[1];
    const m = await waitFor(async () => {
      const g = await server.getMessage('t', id);
      return g.json.status === 'delivered' && g.json;
    }, { what: 'delivered' });
    assert.equal(m.source, 'smtp');
    assert.equal(m.from, 'app@example.com');
    const raw = await server.getRaw('t', id);
    assert.match(raw.text, /Subject: via swaks/);
  });

  test('swaks: AUTH LOGIN works too', async () => {
    const r = swaks(['--server', `127.0.0.1:${smtpPort}`, '--from', 'app@example.com', '--to', 'success@dest.test',
      '--tls', '--auth', 'LOGIN', '--auth-user', 'x', '--auth-password', server.key('t')]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /235 2\.7\.0/);
  });

  test('nodemailer: STARTTLS, AUTH, a message with an attachment, several recipients', async () => {
    const transport = nodemailer.createTransport({
      host: '127.0.0.1', port: smtpPort, secure: false, requireTLS: true,
      tls: { rejectUnauthorized: false },
      auth: { user: 'app', pass: server.key('t') },
    });
    const info = await transport.sendMail({
      from: 'App <app@example.com>', to: ['success@dest.test', 'success+2@dest.test'], subject: 'Hello from nodemailer',
      text: 'Hi!', attachments: [{ filename: 'a.txt', content: 'attached' }],
    });
    transport.close();
    assert.deepEqual(info.accepted.sort(), ['success+2@dest.test', 'success@dest.test']);
    const id = info.response.match(/queued as ([0-9A-Z]{26})/)[1];
    const m = await waitFor(async () => {
      const g = await server.getMessage('t', id);
      return g.json.status === 'delivered' && g.json;
    }, { what: 'delivered' });
    assert.equal(m.recipients.length, 2);
  });

  test('a wrong key is 535; AUTH before STARTTLS is 538; MAIL before AUTH is 530', async () => {
    const bad = swaks(['--server', `127.0.0.1:${smtpPort}`, '--from', 'a@example.com', '--to', 'success@dest.test',
      '--tls', '--auth', 'PLAIN', '--auth-user', 'x', '--auth-password', 'mp_' + '0'.repeat(64)]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.out, /535 5\.7\.8/);
    const plain = await dialogue(smtpPort, ['EHLO client.test', 'AUTH PLAIN AGFiYwBkZWY=', 'MAIL FROM:<a@example.com>', 'QUIT']);
    assert.match(plain[0], /^220 /);
    assert.doesNotMatch(plain[1], /AUTH/, 'AUTH is not offered before TLS');
    assert.match(plain[1], /STARTTLS/);
    assert.match(plain[2], /^538 5\.7\.11/);
    assert.match(plain[3], /^530 5\.7\.0/);
  });

  test('limits: SIZE advertised and enforced (552), too many recipients (452), bad syntax (501)', async () => {
    const r = await dialogue(smtpPort, ['EHLO client.test', 'MAIL FROM:<a@example.com', 'QUIT']);
    assert.match(r[1], /250-SIZE 200000/);
    assert.match(r[2], /^501 /);
    // The same server code in the sink (no AUTH there): a declared SIZE over the limit is 552.
    const s = await dialogue(sink.port, ['EHLO client.test', 'MAIL FROM:<a@example.com> SIZE=999999999', 'QUIT']);
    assert.match(s[2], /^552 5\.3\.4/);
    const transport = nodemailer.createTransport({
      host: '127.0.0.1', port: smtpPort, requireTLS: true, tls: { rejectUnauthorized: false },
      auth: { user: 'app', pass: server.key('t') },
    });
    await assert.rejects(
      transport.sendMail({ from: 'app@example.com', to: 'success@dest.test', subject: 'big',
        text: ('y'.repeat(70) + '\n').repeat(4000) }),
      (err) => err.responseCode === 552 && /5\.3\.4/.test(err.response),
    );
    transport.close();
    const many = swaks(['--server', `127.0.0.1:${smtpPort}`, '--from', 'app@example.com',
      '--to', 'a1@d.test,a2@d.test,a3@d.test,a4@d.test,a5@d.test,a6@d.test',
      '--tls', '--auth', 'PLAIN', '--auth-user', 'x', '--auth-password', server.key('t')]);
    assert.match(many.out, /452 4\.5\.3/);
  });

  test('an invalid address is refused after DATA with 553 and nothing is stored', async () => {
    const before = (await server.metrics()).get('mailplane_smtp_submissions_total') ?? 0;
    const r = swaks(['--server', `127.0.0.1:${smtpPort}`, '--from', 'app@example.com', '--to', 'bad..dots@dest.test',
      '--tls', '--auth', 'PLAIN', '--auth-user', 'x', '--auth-password', server.key('t')]);
    assert.notEqual(r.code, 0);
    assert.match(r.out, /553 5\.1\.3/);
    const after = (await server.metrics()).get('mailplane_smtp_submissions_total') ?? 0;
    assert.equal(after, before);
  });
});
