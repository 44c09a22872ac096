// `mailplane sink` as several hostile MX hosts: one sink listens on 127.0.0.2 and 127.0.0.3, npm
// nodemailer sends from 127.0.0.4 and 127.0.0.5 (localAddress), and the control port turns the sink
// hostile for everyone, one client address or one local address. Checked: the replies a client
// sees (421 4.7.28 and the connection closed, 421 4.7.0, 450 4.2.1, 550 5.7.1, a 421 greeting),
// which setting wins, the by_peer/by_local counters, and that bad control lines get "error ...".
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import nodemailer from 'nodemailer';
import { BIN, sleep, waitFor } from './lib/server.mjs';
import { openControl, startMultiSink } from './lib/peers.mjs';

const MX_A = '127.0.0.2';
const MX_B = '127.0.0.3';
const CLIENT_A = '127.0.0.4';
const CLIENT_B = '127.0.0.5';

// One message with nodemailer from `from` (a loopback address the client binds) to `mx`.
// Resolves {ok: true, response} or {ok: false, err}.
async function send(sink, { from, mx, to = 'success@dest.test' }) {
  const transport = nodemailer.createTransport({
    host: mx, port: sink.ports[mx], secure: false, ignoreTLS: true, localAddress: from, name: 'client.test',
    connectionTimeout: 5000, greetingTimeout: 5000, socketTimeout: 5000,
  });
  try {
    const info = await transport.sendMail({ from: 'app@example.com', to, subject: 'sink control', text: 'hello' });
    return { ok: true, response: info.response };
  } catch (err) {
    return { ok: false, err };
  } finally {
    transport.close();
  }
}

// A raw dialogue from `from` to `mx`: sends each line after reading the previous reply. Returns
// {replies, closed}: closed tells whether the server closed the connection after the last reply
// without being asked (no QUIT sent).
async function dialogue(sink, { from, mx, lines }) {
  const sock = net.connect({ host: mx, port: sink.ports[mx], localAddress: from });
  sock.setEncoding('utf8');
  let buf = '';
  let ended = false;
  let wake = () => {};
  sock.on('data', (d) => { buf += d; wake(); });
  sock.on('end', () => { ended = true; wake(); });
  sock.on('error', () => { ended = true; wake(); });
  const readReply = async () => {
    const deadline = Date.now() + 5000;
    for (;;) {
      const m = buf.match(/^(?:\d{3}-[^\n]*\n)*\d{3}(?: [^\n]*)?\r?\n/);
      if (m) { buf = buf.slice(m[0].length); return m[0].trim(); }
      if (ended) return null;
      if (Date.now() > deadline) throw new Error(`no SMTP reply; got ${JSON.stringify(buf)}`);
      await new Promise((resolve) => { wake = resolve; setTimeout(resolve, 100); });
    }
  };
  const replies = [await readReply()];
  for (const l of lines) {
    if (ended) break;
    sock.write(l + '\r\n');
    replies.push(await readReply());
  }
  // Closed by the server: 'end' arrives within a moment without our QUIT.
  const deadline = Date.now() + 2000;
  while (!ended && Date.now() < deadline) await sleep(20);
  sock.destroy();
  return { replies, closed: ended };
}

const ZERO = { connections: 0, messages: 0, rcpts: 0, refused: 0 };
// Counter changes of one address between two stats objects.
function delta(before, after, table, ip) {
  const b = before[table][ip] ?? ZERO;
  const a = after[table][ip] ?? ZERO;
  return Object.fromEntries(Object.keys(ZERO).map((k) => [k, a[k] - b[k]]));
}

describe('mailplane sink: several listen addresses, per-address stats, hostile modes on command', () => {
  let sink;
  let ctl;
  before(async () => {
    sink = await startMultiSink([`${MX_A}:0`, `${MX_B}:0`], { statsIntervalMs: 50, waitStats: true });
    ctl = await openControl(sink.controlPort);
  });
  beforeEach(async () => {
    assert.equal(await ctl.cmd('reset'), 'ok');  // each test starts with no mode set
  });
  after(async () => {
    ctl?.close();
    const exit = await sink?.stop();
    assert.equal(exit?.code, 0, `sink exit: ${JSON.stringify(exit)} ${sink?.stderr}`);
  });

  test('one sink.listening line per address, each with its own free port', () => {
    assert.deepEqual(sink.listening.map((l) => l.host), [MX_A, MX_B]);
    for (const l of sink.listening) {
      assert.ok(l.port > 0);
      assert.equal(l.tls, false);
    }
    assert.notEqual(sink.ports[MX_A], sink.ports[MX_B]);
    assert.equal(sink.stats.port, sink.ports[MX_A]);
    assert.deepEqual(sink.stats.by_peer, {});
    assert.deepEqual(sink.stats.by_local, {});
  });

  test('normal mode: mail to both addresses is accepted and counted per peer and per local address', async () => {
    const s0 = await ctl.stats();
    const a = await send(sink, { from: CLIENT_A, mx: MX_A });
    assert.ok(a.ok, a.err?.message);
    assert.match(a.response, /^250 2\.0\.0 Ok: queued as /);
    const b = await send(sink, { from: CLIENT_B, mx: MX_B, to: ['success@dest.test', 'other@dest.test'] });
    assert.ok(b.ok, b.err?.message);
    const s1 = await ctl.stats();
    assert.deepEqual(delta(s0, s1, 'by_peer', CLIENT_A), { connections: 1, messages: 1, rcpts: 1, refused: 0 });
    assert.deepEqual(delta(s0, s1, 'by_peer', CLIENT_B), { connections: 1, messages: 1, rcpts: 2, refused: 0 });
    assert.deepEqual(delta(s0, s1, 'by_local', MX_A), { connections: 1, messages: 1, rcpts: 1, refused: 0 });
    assert.deepEqual(delta(s0, s1, 'by_local', MX_B), { connections: 1, messages: 1, rcpts: 2, refused: 0 });
    // The stdout stats line carries the same tables.
    const same = (x, y) => JSON.stringify(x) === JSON.stringify(y);
    await waitFor(() => same(sink.stats.by_peer, s1.by_peer) && same(sink.stats.by_local, s1.by_local),
      { what: 'the stdout stats line to show the control port\'s tables' });
  });

  test('throttle for one peer: 421 4.7.28 at MAIL and the connection closed; other peers unaffected', async () => {
    assert.equal(await ctl.cmd(`mode throttle peer ${CLIENT_A}`), 'ok');
    const s0 = await ctl.stats();
    const a = await send(sink, { from: CLIENT_A, mx: MX_A });
    assert.equal(a.ok, false);
    assert.equal(a.err.responseCode, 421);
    assert.equal(a.err.command, 'MAIL FROM');
    assert.match(a.err.response,
      /^421 4\.7\.28 Our system has detected an unusual rate of unsolicited mail originating from your IP address\. \(sink\)$/);
    const raw = await dialogue(sink, { from: CLIENT_A, mx: MX_B, lines: ['EHLO client.test', 'MAIL FROM:<app@example.com>'] });
    assert.match(raw.replies[0], /^220 /);
    assert.match(raw.replies[2], /^421 4\.7\.28 /);
    assert.equal(raw.closed, true, 'the sink closes the connection after its 421');
    const b = await send(sink, { from: CLIENT_B, mx: MX_A });
    assert.ok(b.ok, b.err?.message);
    const s1 = await ctl.stats();
    assert.deepEqual(delta(s0, s1, 'by_peer', CLIENT_A), { connections: 2, messages: 0, rcpts: 0, refused: 2 });
    assert.deepEqual(delta(s0, s1, 'by_peer', CLIENT_B), { connections: 1, messages: 1, rcpts: 1, refused: 0 });
    assert.deepEqual(delta(s0, s1, 'by_local', MX_A), { connections: 2, messages: 1, rcpts: 1, refused: 1 });
    assert.deepEqual(delta(s0, s1, 'by_local', MX_B), { connections: 1, messages: 0, rcpts: 0, refused: 1 });
  });

  test('busy for one local address: 450 4.2.1 at RCPT, the connection stays open', async () => {
    assert.equal(await ctl.cmd(`mode busy local ${MX_B}`), 'ok');
    const s0 = await ctl.stats();
    const b = await send(sink, { from: CLIENT_B, mx: MX_B });
    assert.equal(b.ok, false);
    assert.equal(b.err.responseCode, 450);
    assert.match(b.err.response, /^450 4\.2\.1 The user you are trying to contact is receiving mail too quickly \(sink\)$/);
    const raw = await dialogue(sink, {
      from: CLIENT_A, mx: MX_B,
      lines: ['EHLO client.test', 'MAIL FROM:<app@example.com>', 'RCPT TO:<success@dest.test>', 'NOOP', 'QUIT'],
    });
    assert.match(raw.replies[3], /^450 4\.2\.1 /);
    assert.match(raw.replies[4], /^250 /, 'NOOP after the 450 is answered');
    assert.match(raw.replies[5], /^221 /);
    const a = await send(sink, { from: CLIENT_B, mx: MX_A });  // the other local address
    assert.ok(a.ok, a.err?.message);
    const s1 = await ctl.stats();
    assert.deepEqual(delta(s0, s1, 'by_local', MX_B), { connections: 2, messages: 0, rcpts: 0, refused: 2 });
    assert.deepEqual(delta(s0, s1, 'by_local', MX_A), { connections: 1, messages: 1, rcpts: 1, refused: 0 });
  });

  test('the most specific setting wins: peer+local over peer over local over global', async () => {
    assert.equal(await ctl.cmd('mode block'), 'ok');
    assert.equal(await ctl.cmd(`mode busy local ${MX_A}`), 'ok');
    assert.equal(await ctl.cmd(`mode throttle-470 peer ${CLIENT_A}`), 'ok');
    assert.equal(await ctl.cmd(`mode normal peer ${CLIENT_A} local ${MX_B}`), 'ok');

    // Global: 550 5.7.1 naming the client's address.
    const g = await send(sink, { from: CLIENT_B, mx: MX_B });
    assert.equal(g.err?.responseCode, 550);
    assert.match(g.err.response, /^550 5\.7\.1 Service unavailable, client host \[127\.0\.0\.5\] blocked \(sink\)$/);
    // Local beats global.
    const l = await send(sink, { from: CLIENT_B, mx: MX_A });
    assert.equal(l.err?.responseCode, 450);
    // Peer beats local.
    const p = await send(sink, { from: CLIENT_A, mx: MX_A });
    assert.equal(p.err?.responseCode, 421);
    assert.equal(p.err.response, '421 4.7.0 Try again later, closing connection (sink)');
    // Peer and local beat everything.
    const pl = await send(sink, { from: CLIENT_A, mx: MX_B });
    assert.ok(pl.ok, pl.err?.message);

    assert.equal(await ctl.cmd('reset'), 'ok');
    const after = await send(sink, { from: CLIENT_B, mx: MX_B });
    assert.ok(after.ok, `after reset: ${after.err?.message}`);
  });

  test('greeting-421: a 421 greeting, then the connection is closed', async () => {
    assert.equal(await ctl.cmd('mode greeting-421'), 'ok');
    const s0 = await ctl.stats();
    const r = await send(sink, { from: CLIENT_A, mx: MX_A });
    assert.equal(r.err?.responseCode, 421);
    assert.match(r.err.response, /^421 sink\.localhost Service not available/);
    const raw = await dialogue(sink, { from: CLIENT_B, mx: MX_B, lines: [] });
    assert.match(raw.replies[0], /^421 /);
    assert.equal(raw.closed, true);
    const s1 = await ctl.stats();
    assert.deepEqual(delta(s0, s1, 'by_peer', CLIENT_A), { connections: 1, messages: 0, rcpts: 0, refused: 1 });
    assert.deepEqual(delta(s0, s1, 'by_peer', CLIENT_B), { connections: 1, messages: 0, rcpts: 0, refused: 1 });
  });

  test('bad control lines get "error ..." and the control connection keeps working', async () => {
    for (const line of ['', 'bogus', 'mode', 'mode furious', 'mode busy peer', 'mode busy peer not-an-ip',
      'mode busy peer 127.0.0.4 peer 127.0.0.5', 'mode busy remote 127.0.0.4', 'stats now', 'x'.repeat(2000)]) {
      assert.match(await ctl.cmd(line), /^error /, `reply to ${JSON.stringify(line.slice(0, 40))}`);
    }
    assert.equal(await ctl.cmd('mode normal local ::ffff:127.0.0.2'), 'ok');  // IPv4-mapped is IPv4
    assert.equal(await ctl.cmd('reset'), 'ok');
    assert.equal((await ctl.stats()).event, 'sink.stats');
    // A line far past the limit, sent in pieces: dropped as it comes, one error at its end.
    const other = await openControl(sink.controlPort);
    other.sock.write('y'.repeat(3000));
    await sleep(50);
    other.sock.write('y'.repeat(6000));
    assert.equal(await other.cmd(''), 'error line too long');
    assert.equal(await other.cmd('mode busy peer 127.0.0.9'), 'ok');
    assert.equal(await other.cmd('reset'), 'ok');
    other.close();
    const r = await send(sink, { from: CLIENT_A, mx: MX_A });
    assert.ok(r.ok, r.err?.message);
  });

  test('--mode sets the global behaviour at start; an unknown one exits with status 2', async () => {
    const bad = spawnSync(BIN, ['sink', '--listen', '127.0.0.1:0', '--mode', 'furious'], { encoding: 'utf8', timeout: 10000 });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /unknown --mode furious/);

    const proc = spawn(BIN, ['sink', '--listen', `${MX_A}:0`, '--mode', 'block'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise((resolve) => proc.on('exit', resolve));
    try {
      let out = '';
      proc.stdout.setEncoding('utf8');
      proc.stdout.on('data', (d) => { out += d; });
      const line = await waitFor(() => out.split('\n').find((l) => l.includes('sink.listening')), { what: 'listening' });
      const port = JSON.parse(line).port;
      const raw = await dialogue({ ports: { [MX_A]: port } }, {
        from: CLIENT_B, mx: MX_A, lines: ['EHLO client.test', 'MAIL FROM:<a@example.com>', 'RCPT TO:<success@dest.test>', 'QUIT'],
      });
      assert.match(raw.replies[3], /^550 5\.7\.1 Service unavailable, client host \[127\.0\.0\.5\] blocked/);
    } finally {
      proc.kill('SIGTERM');
      await exited;
    }
  });
});
