// Self-test of the peer harness (lib/peers.mjs): dnsmasq, a private Postfix instance and the
// fault-injecting SMTP peer, each checked against itself. No mailplane binary is needed.
//
//   cd tests && node --test --test-concurrency=1 integration/peers.test.mjs

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import dns from 'node:dns';
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { spawnSync } from 'node:child_process';
import nodemailer from 'nodemailer';
import { dnsQuery, startDns, startPostfix, startSmtpPeer, postfixProcesses } from './lib/peers.mjs';
import { sleep } from './lib/server.mjs';

// Everything started here, to check at the end that nothing is left running.
const started = { pids: [], dirs: [], confDirs: [] };

function alive(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

function pgrepLive(pattern) {
  const r = spawnSync('pgrep', ['-f', pattern], { encoding: 'utf8' });
  return (r.stdout ?? '')
    .split('\n')
    .filter(Boolean)
    .map(Number)
    .filter((p) => p !== process.pid && alive(p));
}

// A line-oriented SMTP client that does exactly what it is told (pipelining included).
class RawSmtp {
  static connect(ip, port) {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host: ip, port });
      sock.once('error', reject);
      sock.once('connect', () => {
        sock.off('error', reject);
        resolve(new RawSmtp(sock));
      });
    });
  }

  constructor(sock) {
    this.sock = sock;
    this.pending = '';
    this.current = [];
    this.replies = [];
    this.waiter = null;
    this.closed = false;
    this.attach(sock);
  }

  attach(sock) {
    sock.setEncoding('utf8');
    sock.on('data', (d) => {
      this.pending += d;
      let nl;
      while ((nl = this.pending.indexOf('\n')) >= 0) {
        const line = this.pending.slice(0, nl).replace(/\r$/, '');
        this.pending = this.pending.slice(nl + 1);
        this.current.push(line);
        if (/^\d{3}(?: |$)/.test(line)) {
          const lines = this.current;
          this.current = [];
          this.replies.push({ code: Number(line.slice(0, 3)), lines, text: lines.join('\n') });
        }
      }
      this.wake();
    });
    sock.on('error', () => {});
    sock.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  wake() {
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w();
    }
  }

  // The next reply, or null when the server closed the connection first.
  async reply(timeoutMs = 3000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.replies.length) return this.replies.shift();
      if (this.closed) return null;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('no SMTP reply in time');
      await new Promise((r) => {
        const t = setTimeout(r, left);
        this.waiter = () => {
          clearTimeout(t);
          r();
        };
      });
    }
  }

  send(text) {
    this.sock.write(text);
  }

  async cmd(line, timeoutMs) {
    this.send(`${line}\r\n`);
    return this.reply(timeoutMs);
  }

  // STARTTLS has been accepted: wrap the socket.
  async upgrade() {
    const plain = this.sock;
    plain.removeAllListeners('data');
    plain.removeAllListeners('close');
    const sock = tls.connect({ socket: plain, rejectUnauthorized: false });
    await new Promise((resolve, reject) => {
      sock.once('secureConnect', resolve);
      sock.once('error', reject);
    });
    this.sock = sock;
    this.attach(sock);
  }

  async waitClosed(timeoutMs = 3000) {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) await sleep(10);
    return this.closed;
  }

  close() {
    this.sock.destroy();
  }
}

// Greeting + EHLO; returns the EHLO reply.
async function hello(c, name = 'client.test') {
  const greeting = await c.reply();
  assert.equal(greeting?.code, 220, `greeting: ${greeting?.text}`);
  const ehlo = await c.cmd(`EHLO ${name}`);
  assert.equal(ehlo.code, 250, ehlo.text);
  return ehlo;
}

const MESSAGE = 'From: a@client.test\r\nTo: b@peer.test\r\nSubject: raw\r\n\r\nline\r\n..dot line\r\n';

after(async () => {
  // Every helper stopped its peer in its own after() hook; nothing may be left.
  await sleep(50);
  for (const pid of started.pids) assert.ok(!alive(pid), `process ${pid} still running`);
  for (const d of started.confDirs) assert.deepEqual(postfixProcesses(d), [], `postfix processes of ${d} left`);
  for (const d of started.dirs) {
    assert.deepEqual(pgrepLive(d), [], `processes mentioning ${d} left`);
    assert.ok(!fs.existsSync(d), `${d} not removed`);
  }
});

describe('startDns', () => {
  let d;
  const resolver = new dns.promises.Resolver({ timeout: 400, tries: 1 });

  test('starts dnsmasq', async () => {
    const t0 = Date.now();
    d = await startDns({
      records: {
        mx: [
          { domain: 'multi.test', host: 'mx1.multi.test', preference: 10 },
          { domain: 'multi.test', host: 'mx2.multi.test', preference: 20 },
          { domain: 'example.com', host: 'mx.example.com', preference: 5 },
        ],
        a: [
          { name: 'mx1.multi.test', ip: '127.0.0.3' },
          { name: 'mx1.multi.test', ip: '127.0.0.5' },
          { name: 'mx2.multi.test', ip: '::1' },
          { name: 'mx.example.com', ip: '127.0.0.4' },
        ],
        txt: [
          { name: 'multi.test', text: 'v=spf1 ip4:127.0.0.0/8, -all' },
          { name: 'dkim._domainkey.multi.test', text: `v=DKIM1; k=rsa; p=${'A'.repeat(400)}` },
        ],
        cname: [{ name: 'alias.multi.test', target: 'mx1.multi.test' }],
        nullMx: ['nullmx.test'],
        servfail: ['broken.test'],
        timeout: ['slow.test'],
      },
    });
    started.pids.push(d.pid);
    started.dirs.push(d.dir);
    resolver.setServers([d.server]);
    assert.equal(d.address, '127.0.0.1');
    assert.ok(Date.now() - t0 < 3000, `startDns took ${Date.now() - t0} ms`);
  });
  after(() => d?.stop());

  test('MX, A, AAAA, CNAME and TXT records', async () => {
    const mx = (await resolver.resolveMx('multi.test')).sort((a, b) => a.priority - b.priority);
    assert.deepEqual(mx, [
      { exchange: 'mx1.multi.test', priority: 10 },
      { exchange: 'mx2.multi.test', priority: 20 },
    ]);
    assert.deepEqual(await resolver.resolveMx('example.com'), [{ exchange: 'mx.example.com', priority: 5 }]);
    assert.deepEqual((await resolver.resolve4('mx1.multi.test')).sort(), ['127.0.0.3', '127.0.0.5']);
    assert.deepEqual(await resolver.resolve6('mx2.multi.test'), ['::1']);
    assert.deepEqual(await resolver.resolve4('mx.example.com'), ['127.0.0.4']);
    assert.deepEqual(await resolver.resolveTxt('multi.test'), [['v=spf1 ip4:127.0.0.0/8, -all']]);
    const dkim = await resolver.resolveTxt('dkim._domainkey.multi.test');
    const dkimText = `v=DKIM1; k=rsa; p=${'A'.repeat(400)}`;
    assert.deepEqual(dkim[0].map((s) => s.length), [255, dkimText.length - 255]);
    assert.equal(dkim[0].join(''), dkimText);
    const cname = await dnsQuery('alias.multi.test', 'A', { port: d.port });
    assert.deepEqual(cname.answers.map((a) => a.typeName), ['CNAME', 'A', 'A']);
    assert.equal(cname.answers[0].target, 'mx1.multi.test');
    assert.deepEqual(cname.answers.slice(1).map((a) => a.address).sort(), ['127.0.0.3', '127.0.0.5']);
  });

  test('null MX (RFC 7505): MX 0 .', async () => {
    const r = await dnsQuery('nullmx.test', 'MX', { port: d.port });
    assert.equal(r.rcodeName, 'NOERROR');
    assert.equal(r.answers.length, 1);
    assert.equal(r.answers[0].preference, 0);
    assert.equal(r.answers[0].exchange, '');
    assert.equal(r.answers[0].data.toString('hex'), '000000');
    assert.deepEqual(await resolver.resolveMx('nullmx.test'), [{ exchange: '', priority: 0 }]);
  });

  test('NXDOMAIN, NODATA, REFUSED, SERVFAIL and no answer', async () => {
    await assert.rejects(resolver.resolveMx('unknown.test'), { code: 'ENOTFOUND' });
    await assert.rejects(resolver.resolveMx('sub.example.com'), { code: 'ENOTFOUND' });
    await assert.rejects(resolver.resolveMx('mx1.multi.test'), { code: 'ENODATA' });
    assert.equal((await dnsQuery('unknown.test', 'MX', { port: d.port })).rcodeName, 'NXDOMAIN');
    assert.equal((await dnsQuery('example.org', 'MX', { port: d.port })).rcodeName, 'REFUSED');
    await assert.rejects(resolver.resolveMx('broken.test'), { code: 'ESERVFAIL' });
    await assert.rejects(resolver.resolve4('host.broken.test'), { code: 'ESERVFAIL' });
    assert.equal((await dnsQuery('broken.test', 'MX', { port: d.port })).rcodeName, 'SERVFAIL');
    const t0 = Date.now();
    await assert.rejects(resolver.resolveMx('slow.test'), { code: 'ETIMEOUT' });
    assert.ok(Date.now() - t0 >= 350);
    const q = d.queries();
    assert.ok(q.some((x) => x.type === 'MX' && x.name === 'nullmx.test'), JSON.stringify(q));
  });
});

describe('startPostfix', () => {
  let pf;
  const mailer = () =>
    nodemailer.createTransport({
      host: pf.ip,
      port: pf.port,
      secure: false,
      requireTLS: true,
      tls: { rejectUnauthorized: false },
      name: 'client.test',
      connectionTimeout: 5000,
    });

  test('starts a private instance', async () => {
    const t0 = Date.now();
    pf = await startPostfix({ users: ['alice', 'bob'], domains: ['pf.test'] });
    started.pids.push(pf.masterPid);
    started.dirs.push(pf.dir);
    started.confDirs.push(pf.confDir);
    assert.equal(pf.ip, '127.0.0.3');
    assert.deepEqual(pf.addresses, ['alice@pf.test', 'bob@pf.test']);
    assert.ok(Date.now() - t0 < 5000, `startPostfix took ${Date.now() - t0} ms`);
    assert.ok(pf.processes().length >= 1);
    // Only our listener: nothing on port 25.
    await assert.rejects(RawSmtp.connect(pf.ip, 25), { code: 'ECONNREFUSED' });
  });
  after(() => pf?.stop());

  test('delivers over STARTTLS to a known user', async () => {
    const t = mailer();
    const info = await t.sendMail({
      from: 'sender@client.test',
      to: 'alice@pf.test',
      subject: 'hello postfix',
      text: 'first message',
    });
    t.close();
    assert.match(info.response, /^250 2\.0\.0 Ok: queued as/);
    const msgs = await pf.waitForMessages(1, 5000);
    assert.equal(msgs.length, 1);
    assert.equal(msgs[0].recipient, 'alice@pf.test');
    assert.match(msgs[0].raw, /^Return-Path: <sender@client\.test>/);
    assert.match(msgs[0].raw, /^Subject: hello postfix$/m);
    assert.match(msgs[0].raw, /Received: from client\.test[\s\S]*using TLSv1\.[23]/);
    assert.match(pf.log(), /status=sent \(delivered to maildir\)/);
  });

  test('answers 550 5.1.1 to an unknown user, 554 to another domain', async () => {
    const t = mailer();
    await assert.rejects(
      t.sendMail({ from: 'sender@client.test', to: 'nobody@pf.test', subject: 'x', text: 'x' }),
      (err) => err.responseCode === 550 && /5\.1\.1 <nobody@pf\.test>.*User unknown/.test(err.response),
    );
    await assert.rejects(
      t.sendMail({ from: 'sender@client.test', to: 'someone@elsewhere.test', subject: 'x', text: 'x' }),
      (err) => err.responseCode === 554 && /Relay access denied/.test(err.response),
    );
    t.close();
    // Raw: STARTTLS offered, 550 at RCPT.
    const c = await RawSmtp.connect(pf.ip, pf.port);
    const ehlo = await hello(c);
    assert.match(ehlo.text, /STARTTLS/);
    assert.equal((await c.cmd('MAIL FROM:<s@client.test>')).code, 250);
    const r = await c.cmd('RCPT TO:<ghost@pf.test>');
    assert.equal(r.code, 550);
    assert.match(r.text, /^550 5\.1\.1 /);
    assert.equal((await c.cmd('QUIT')).code, 221);
    c.close();
    assert.equal(pf.messages().length, 1);
  });

  test('stop() leaves no process behind', async () => {
    const conf = pf.confDir;
    const { ip, port } = pf;
    await pf.stop();
    assert.deepEqual(postfixProcesses(conf), []);
    assert.ok(!fs.existsSync(pf.dir));
    await assert.rejects(RawSmtp.connect(ip, port), { code: 'ECONNREFUSED' });
  });
});

describe('startSmtpPeer', () => {
  const peers = [];
  async function peer(opts) {
    const p = await startSmtpPeer(opts);
    peers.push(p);
    started.pids.push(p.pid);
    return p;
  }
  after(async () => {
    for (const p of peers) await p.stop();
  });

  test('accept: STARTTLS, EHLO name, connection reuse (nodemailer)', async () => {
    const t0 = Date.now();
    const p = await peer({ mode: 'accept', tls: true });
    assert.ok(Date.now() - t0 < 3000, `startSmtpPeer took ${Date.now() - t0} ms`);
    assert.equal(p.ip, '127.0.0.4');
    const t = nodemailer.createTransport({
      host: p.ip,
      port: p.port,
      pool: true,
      maxConnections: 1,
      requireTLS: true,
      tls: { rejectUnauthorized: false },
      name: 'reuse.client.test',
    });
    await t.sendMail({ from: 'a@client.test', to: 'x@peer.test', subject: 'one', text: 'one' });
    await t.sendMail({ from: 'a@client.test', to: ['y@peer.test', 'z@peer.test'], subject: 'two', text: 'two' });
    t.close();
    const got = await p.waitForMessages(2);
    assert.deepEqual(got.map((m) => m.rcptTo), [['x@peer.test'], ['y@peer.test', 'z@peer.test']]);
    assert.match(got[1].text, /^Subject: two$/m);
    assert.ok(got.every((m) => m.tls && m.ehlo === 'reuse.client.test' && m.conn === 1));
    const [c] = await p.waitForConnections(1);
    assert.equal(c.tls, true);
    assert.match(c.tlsVersion, /^TLSv1\.[23]$/);
    assert.equal(c.ehlo, 'reuse.client.test');
    assert.equal(c.messages, 2);
    assert.equal(p.connections().length, 1);
  });

  test('accept: pipelining is detected, dot-unstuffing, recipient options', async () => {
    const p = await peer({ mode: 'accept', rejectRecipients: ['bad@peer.test'], maxRcpts: 2 });
    const c = await RawSmtp.connect(p.ip, p.port);
    const ehlo = await hello(c);
    assert.match(ehlo.text, /^250-PIPELINING$/m);
    assert.doesNotMatch(ehlo.text, /STARTTLS/);
    c.send('MAIL FROM:<a@client.test> BODY=8BITMIME\r\nRCPT TO:<b@peer.test>\r\nRCPT TO:<bad@peer.test>\r\nRCPT TO:<c@peer.test>\r\nRCPT TO:<d@peer.test>\r\nDATA\r\n');
    const replies = [];
    for (let i = 0; i < 6; i++) replies.push((await c.reply()).code);
    assert.deepEqual(replies, [250, 250, 550, 250, 452, 354]);
    c.send(`${MESSAGE}.\r\n`);
    assert.equal((await c.reply()).code, 250);
    assert.equal((await c.cmd('QUIT')).code, 221);
    const [m] = await p.waitForMessages(1);
    assert.deepEqual(m.rcptTo, ['b@peer.test', 'c@peer.test']);
    assert.deepEqual(m.mailParams, ['BODY=8BITMIME']);
    assert.deepEqual(m.rcpts.map((r) => r.reply.slice(0, 9)), ['250 2.1.5', '550 5.1.1', '250 2.1.5', '452 4.5.3']);
    assert.equal(m.text, MESSAGE.replace('..dot', '.dot'));
    assert.equal(m.pipelined, true);
    const [conn] = await p.waitForConnections(1);
    assert.deepEqual(conn.pipelinedCommands, ['MAIL', 'RCPT', 'RCPT', 'RCPT', 'RCPT']);
    assert.equal(conn.quit, true);
    assert.equal(conn.tls, false);
  });

  test('no-pipelining: not advertised; a client that pipelines anyway is recorded', async () => {
    const p = await peer({ mode: 'no-pipelining' });
    // A well-behaved client, with STARTTLS absent and one command at a time.
    let c = await RawSmtp.connect(p.ip, p.port);
    const ehlo = await hello(c, 'polite.test');
    assert.doesNotMatch(ehlo.text, /PIPELINING/);
    assert.equal((await c.cmd('MAIL FROM:<a@client.test>')).code, 250);
    assert.equal((await c.cmd('RCPT TO:<b@peer.test>')).code, 250);
    assert.equal((await c.cmd('DATA')).code, 354);
    assert.equal((await c.cmd(`${MESSAGE}.`)).code, 250);
    assert.equal((await c.cmd('QUIT')).code, 221);
    // A rude one.
    c = await RawSmtp.connect(p.ip, p.port);
    await hello(c, 'rude.test');
    c.send('MAIL FROM:<a@client.test>\r\nRCPT TO:<b@peer.test>\r\nDATA\r\n');
    for (const code of [250, 250, 354]) assert.equal((await c.reply()).code, code);
    assert.equal((await c.cmd(`${MESSAGE}.`)).code, 250);
    assert.equal((await c.cmd('QUIT')).code, 221);
    const msgs = await p.waitForMessages(2);
    assert.deepEqual(msgs.map((m) => [m.ehlo, m.pipelined]), [['polite.test', false], ['rude.test', true]]);
    const conns = await p.waitForConnections(2);
    assert.deepEqual(conns.map((x) => x.pipelined), [false, true]);
    assert.deepEqual(conns[1].pipelinedCommands, ['MAIL', 'RCPT']);
  });

  test('disconnect-at-mail, disconnect-at-data-cmd, disconnect-at-data: no reply, connection closed', async () => {
    for (const mode of ['disconnect-at-mail', 'disconnect-at-data-cmd', 'disconnect-at-data']) {
      const p = await peer({ mode });
      const c = await RawSmtp.connect(p.ip, p.port);
      await hello(c);
      let r = await c.cmd('MAIL FROM:<a@client.test>');
      if (mode === 'disconnect-at-mail') {
        assert.equal(r, null, `${mode}: MAIL got a reply`);
      } else {
        assert.equal(r.code, 250);
        assert.equal((await c.cmd('RCPT TO:<b@peer.test>')).code, 250);
        r = await c.cmd('DATA');
        if (mode === 'disconnect-at-data-cmd') {
          assert.equal(r, null, `${mode}: DATA got a reply`);
        } else {
          assert.equal(r.code, 354);
          assert.equal(await c.cmd(`${MESSAGE}.`), null, `${mode}: end of data got a reply`);
        }
      }
      assert.ok(await c.waitClosed(), `${mode}: connection still open`);
      const [txn] = await p.waitForTransactions(1);
      assert.equal(txn.outcome, mode.replace('disconnect', 'disconnected'));
      assert.equal(txn.data === null, mode !== 'disconnect-at-data');
      assert.deepEqual(p.received(), []);
      const [conn] = await p.waitForConnections(1);
      assert.equal(conn.closedBy, 'server');
    }
  });

  test('tempfail-rcpt: 451 4.3.0; reject-rcpt-550: 550 5.1.1', async () => {
    for (const [mode, code, status] of [
      ['tempfail-rcpt', 451, '4.3.0'],
      ['reject-rcpt-550', 550, '5.1.1'],
    ]) {
      const p = await peer({ mode });
      const c = await RawSmtp.connect(p.ip, p.port);
      await hello(c);
      assert.equal((await c.cmd('MAIL FROM:<a@client.test>')).code, 250);
      const r = await c.cmd('RCPT TO:<b@peer.test>');
      assert.equal(r.code, code);
      assert.ok(r.text.startsWith(`${code} ${status} `), r.text);
      assert.equal((await c.cmd('DATA')).code, 554);
      assert.equal((await c.cmd('QUIT')).code, 221);
      const [txn] = await p.waitForTransactions(1);
      assert.equal(txn.outcome, 'no-valid-rcpt');
      assert.deepEqual(txn.rcptTo, []);
    }
  });

  test('defer-then-accept: 451 4.7.1 deferTimes times per recipient, then 250', async () => {
    const p = await peer({ mode: 'defer-then-accept', deferTimes: 2 });
    const attempt = async (rcpts) => {
      const c = await RawSmtp.connect(p.ip, p.port);
      await hello(c);
      assert.equal((await c.cmd('MAIL FROM:<a@client.test>')).code, 250);
      const codes = [];
      for (const r of rcpts) codes.push((await c.cmd(`RCPT TO:<${r}>`)).code);
      if (codes.includes(250)) {
        assert.equal((await c.cmd('DATA')).code, 354);
        assert.equal((await c.cmd(`${MESSAGE}.`)).code, 250);
      } else {
        assert.equal((await c.cmd('RSET')).code, 250);
      }
      assert.equal((await c.cmd('QUIT')).code, 221);
      return codes;
    };
    assert.deepEqual(await attempt(['one@peer.test']), [451]);
    assert.deepEqual(await attempt(['One@Peer.test', 'two@peer.test']), [451, 451]);
    assert.deepEqual(await attempt(['one@peer.test', 'two@peer.test']), [250, 451]);
    assert.deepEqual(await attempt(['two@peer.test']), [250]);
    const got = await p.waitForMessages(2);
    assert.deepEqual(got.map((m) => m.rcptTo), [['one@peer.test'], ['two@peer.test']]);
    assert.match(p.transactions()[0].rcpts[0].reply, /^451 4\.7\.1 /);
    assert.deepEqual(p.transactions().map((t) => t.outcome), ['rset', 'rset', 'accepted', 'accepted']);
  });

  test('greeting-421: 421 then close; nodemailer sees the failure', async () => {
    const p = await peer({ mode: 'greeting-421' });
    const c = await RawSmtp.connect(p.ip, p.port);
    const r = await c.reply();
    assert.equal(r.code, 421);
    assert.match(r.text, /^421 4\.3\.2 /);
    assert.ok(await c.waitClosed());
    const t = nodemailer.createTransport({ host: p.ip, port: p.port, connectionTimeout: 3000 });
    await assert.rejects(t.sendMail({ from: 'a@client.test', to: 'b@peer.test', text: 'x' }));
    t.close();
    await p.waitForConnections(2);
    assert.deepEqual(p.transactions(), []);
  });

  test('tempfail-data and reject-data: final reply 451 / 554', async () => {
    for (const [mode, code, outcome] of [
      ['tempfail-data', 451, 'tempfail-data'],
      ['reject-data', 554, 'rejected-data'],
    ]) {
      const p = await peer({ mode });
      const t = nodemailer.createTransport({ host: p.ip, port: p.port, connectionTimeout: 3000 });
      await assert.rejects(
        t.sendMail({ from: 'a@client.test', to: 'b@peer.test', subject: 's', text: 'x' }),
        (err) => err.responseCode === code,
      );
      t.close();
      const [txn] = await p.waitForTransactions(1);
      assert.equal(txn.outcome, outcome);
      assert.match(txn.text, /^Subject: s$/m);
    }
  });

  test('binds other loopback addresses and port 25', async () => {
    const p = await peer({ ip: '127.0.0.9', port: 25 });
    assert.equal(p.port, 25);
    const c = await RawSmtp.connect('127.0.0.9', 25);
    await hello(c);
    assert.equal((await c.cmd('QUIT')).code, 221);
    const [conn] = await p.waitForConnections(1);
    assert.equal(conn.peer.address, '127.0.0.1');
    await assert.rejects(startSmtpPeer({ ip: '10.0.0.1' }), /127\.0\.0\.0\/8/);
  });

  test('STARTTLS by hand; plain text after STARTTLS is discarded', async () => {
    const p = await peer({ mode: 'accept', tls: true, hostname: 'tls.peer.test' });
    const c = await RawSmtp.connect(p.ip, p.port);
    const ehlo = await hello(c);
    assert.match(ehlo.text, /^250-tls\.peer\.test$/m);
    assert.match(ehlo.text, /STARTTLS/);
    // A command injected in plain text behind STARTTLS must not survive the upgrade.
    assert.equal((await c.cmd('STARTTLS\r\nMAIL FROM:<evil@client.test>')).code, 220);
    await c.upgrade();
    assert.equal((await c.cmd('MAIL FROM:<a@client.test>')).code, 503, 'EHLO is needed again after STARTTLS');
    const again = await c.cmd('EHLO after.tls.test');
    assert.doesNotMatch(again.text, /STARTTLS/);
    assert.equal((await c.cmd('QUIT')).code, 221);
    const [conn] = await p.waitForConnections(1);
    assert.equal(conn.tls, true);
    assert.deepEqual(conn.ehloNames, ['client.test', 'after.tls.test']);
    assert.equal(conn.ehlo, 'after.tls.test');
    assert.equal(conn.starttlsInjected, true);
    assert.deepEqual(p.transactions(), []);
  });

  test('stop() ends the peer', async () => {
    const p = await peer({});
    await p.stop();
    assert.ok(!alive(p.pid));
    await assert.rejects(RawSmtp.connect(p.ip, p.port), { code: 'ECONNREFUSED' });
  });
});
