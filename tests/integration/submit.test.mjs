// Submitting messages: composed and raw, reading them back, scheduling, keep-alive.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import mailparser from 'mailparser';

import { startServer, ULID_RE } from './lib/server.mjs';

const { simpleParser } = mailparser;

let server;
before(async () => {
  server = await startServer({ tenants: ['acme'] });
});
after(async () => {
  await server?.cleanup();
});

// Deterministic binary content that covers every byte value.
function binary(n, seed) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 131 + seed * 7 + (i >> 8)) & 0xff;
  return b;
}

// Decodes RFC 2047 encoded words (B and Q, UTF-8), joining adjacent words as RFC 2047 says.
function decodeWords(value) {
  return value
    .replace(/\r?\n[ \t]/g, ' ')
    .replace(/(=\?[^?]+\?[BbQq]\?[^?]*\?=)\s+(?==\?)/g, '$1')
    .replace(/=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g, (_, charset, enc, text) => {
      assert.match(charset, /^utf-8$/i);
      if (enc.toUpperCase() === 'B') return Buffer.from(text, 'base64').toString('utf8');
      const bytes = text
        .replace(/_/g, ' ')
        .replace(/=([0-9A-Fa-f]{2})/g, (m, h) => String.fromCharCode(parseInt(h, 16)));
      return Buffer.from(bytes, 'latin1').toString('utf8');
    });
}

// The header section of a raw message as [name, unfolded value] pairs.
function headerFields(raw) {
  const head = raw.slice(0, raw.indexOf('\r\n\r\n'));
  const fields = [];
  for (const line of head.split('\r\n')) {
    if (/^[ \t]/.test(line)) fields[fields.length - 1][1] += '\r\n' + line;
    else {
      const c = line.indexOf(':');
      fields.push([line.slice(0, c), line.slice(c + 1).replace(/^ /, '')]);
    }
  }
  return fields;
}

// Text bodies as a mail client shows them: line endings normalized. The composer ends a body
// without a final line break with one (see the report), so one added trailing "\n" is accepted.
function assertBodyEqual(actual, expected, what) {
  const norm = (s) => s.replace(/\r\n/g, '\n');
  const a = norm(actual);
  const e = norm(expected);
  if (a === e) return;
  assert.ok(!e.endsWith('\n') && a === e + '\n', `${what} differs from what was sent`);
}

test('a composed message is accepted, readable and composed faithfully as MIME', async () => {
  const attachmentBytes = binary(5000, 1);
  const pngBytes = Buffer.concat([Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'), binary(700, 2)]);
  const subject =
    'Grüße aus München — 東京 🚀: a subject long enough to need several encoded words and folding';
  const text =
    'Héllo Zoë,\n\nThis is the plain part.\n.A line starting with a dot\nFrom the start of a line\n' +
    'trailing spaces   \n' +
    'long:' + 'abcdefghij'.repeat(150) + '\nend';
  const html =
    '<html><body><p>Héllo <b>Zoë</b></p><img src="cid:logo@acme.example" alt="logo">' +
    '<p>' + 'wörd '.repeat(400) + '</p></body></html>';
  const message = {
    from: 'Jürgen Groß <juergen@example.com>',
    to: ['Zoë Ünal <zoe@bücher.example>', 'plain@example.org'],
    cc: ['"Doe, Jane" <jane@example.net>', 'plain@EXAMPLE.ORG'],
    bcc: ['hidden.bcc@example.com'],
    reply_to: 'replies@example.com',
    subject,
    text,
    html,
    headers: { 'X-Campaign': 'spring-2026', 'X-Note': 'naïve café ☕' },
    attachments: [
      {
        filename: 'rapport-é.bin',
        content_type: 'application/octet-stream',
        content: attachmentBytes.toString('base64'),
      },
      {
        filename: 'logo.png',
        content_type: 'image/png',
        content: pngBytes.toString('base64'),
        content_id: 'logo@acme.example',
      },
    ],
    tags: ['welcome', 'ü-tag'],
    metadata: { user_id: 42, plan: 'pro', nested: { a: [1, 2] } },
  };

  const before = Date.now();
  const res = await server.submit('acme', message);
  assert.equal(res.status, 202, res.text);
  assert.match(res.headers.get('content-type'), /^application\/json/);
  assert.match(res.json.id, ULID_RE);
  assert.equal(res.json.status, 'queued');
  // Envelope recipients: to, cc, bcc in order, each address once, IDN domain as A-labels.
  assert.deepEqual(res.json.recipients, [
    { address: 'zoe@xn--bcher-kva.example', status: 'queued' },
    { address: 'plain@example.org', status: 'queued' },
    { address: 'jane@example.net', status: 'queued' },
    { address: 'hidden.bcc@example.com', status: 'queued' },
  ]);
  const id = res.json.id;

  // GET shows the envelope and per-recipient state.
  const got = await server.getMessage('acme', id);
  assert.equal(got.status, 200, got.text);
  const m = got.json;
  assert.equal(m.id, id);
  assert.equal(m.status, 'queued');
  assert.equal(m.from, 'juergen@example.com');
  assert.equal(m.subject, subject);
  assert.equal(m.source, 'http');
  assert.deepEqual(m.tags, message.tags);
  assert.deepEqual(m.metadata, message.metadata);
  assert.deepEqual(m.recipients, [
    { address: 'zoe@xn--bcher-kva.example', type: 'to', status: 'queued', attempts_total: 0, attempts: [] },
    { address: 'plain@example.org', type: 'to', status: 'queued', attempts_total: 0, attempts: [] },
    { address: 'jane@example.net', type: 'cc', status: 'queued', attempts_total: 0, attempts: [] },
    { address: 'hidden.bcc@example.com', type: 'bcc', status: 'queued', attempts_total: 0, attempts: [] },
  ]);
  for (const f of ['created_at', 'send_at', 'updated_at']) {
    assert.match(m[f], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, f);
    const t = Date.parse(m[f]);
    assert.ok(t >= before - 5000 && t <= Date.now() + 5000, `${f} ${m[f]} is not now`);
  }
  assert.equal(m.send_at, m.created_at, 'an unscheduled message is due at once');

  // The raw message.
  const raw = await server.getRaw('acme', id);
  assert.equal(raw.status, 200, raw.text);
  assert.match(raw.headers.get('content-type'), /^message\/rfc822/);
  assert.equal(m.size, raw.bytes.length, 'size in GET is the size of the raw message');

  // 7-bit, CRLF only, no line over 998 octets.
  for (let i = 0; i < raw.bytes.length; i++) {
    assert.ok(raw.bytes[i] < 0x80, `byte ${i} (0x${raw.bytes[i].toString(16)}) is not 7-bit`);
  }
  const rawText = raw.bytes.toString('latin1');
  assert.ok(!/\r(?!\n)|(?<!\r)\n/.test(rawText), 'bare CR or LF in the raw message');
  const lines = rawText.split('\r\n');
  for (let i = 0; i < lines.length; i++) {
    assert.ok(lines[i].length <= 998, `line ${i + 1} is ${lines[i].length} octets`);
  }

  // Bcc recipients are in the envelope only.
  const fields = headerFields(rawText);
  assert.ok(!fields.some(([n]) => /^bcc$/i.test(n)), 'a Bcc header was written');
  assert.ok(!rawText.includes('hidden.bcc'), 'the Bcc address appears in the message');
  const names = fields.map(([n]) => n.toLowerCase());
  for (const h of ['date', 'from', 'to', 'cc', 'subject', 'message-id', 'mime-version', 'reply-to']) {
    assert.equal(names.filter((n) => n === h).length, 1, `exactly one ${h} header`);
  }
  const xnote = fields.find(([n]) => n === 'X-Note');
  assert.ok(xnote, 'X-Note header missing');
  assert.equal(decodeWords(xnote[1]), 'naïve café ☕');

  // keepCidLinks: compare the html as sent (mailparser would inline cid: images as data: URIs).
  const p = await simpleParser(raw.bytes, { keepCidLinks: true });
  assert.deepEqual(p.from.value, [{ address: 'juergen@example.com', name: 'Jürgen Groß' }]);
  // mailparser shows IDN domains in U-labels; the wire form is checked above and below.
  assert.deepEqual(p.to.value, [
    { address: 'zoe@bücher.example', name: 'Zoë Ünal' },
    { address: 'plain@example.org', name: '' },
  ]);
  assert.match(fields.find(([n]) => n === 'To')[1], /<zoe@xn--bcher-kva\.example>/);
  // Headers show what was written; only the envelope drops the duplicate (domains ignore case).
  assert.deepEqual(p.cc.value, [
    { address: 'jane@example.net', name: 'Doe, Jane' },
    { address: 'plain@EXAMPLE.ORG', name: '' },
  ]);
  assert.deepEqual(p.replyTo.value, [{ address: 'replies@example.com', name: '' }]);
  assert.equal(p.bcc, undefined);
  assert.equal(p.subject, subject);
  assertBodyEqual(p.text, text, 'text');
  assertBodyEqual(p.html, html, 'html');
  assert.equal(p.headers.get('x-campaign'), 'spring-2026');
  assert.equal(p.messageId, `<${m.message_id}>`);
  assert.match(m.message_id, /^[^<>\s]+@[^<>\s]+$/);
  assert.ok(p.date instanceof Date && !Number.isNaN(p.date.getTime()), 'Date header missing');
  assert.ok(Math.abs(p.date.getTime() - Date.parse(m.created_at)) < 2000, 'Date is not the submission time');

  assert.equal(p.attachments.length, 2);
  const file = p.attachments.find((a) => a.filename === 'rapport-é.bin');
  assert.ok(file, `attachment names: ${p.attachments.map((a) => a.filename)}`);
  assert.equal(file.contentType, 'application/octet-stream');
  assert.equal(file.contentDisposition, 'attachment');
  assert.ok(file.content.equals(attachmentBytes), 'attachment bytes differ');
  const logo = p.attachments.find((a) => a.filename === 'logo.png');
  assert.ok(logo, 'inline image missing');
  assert.equal(logo.contentType, 'image/png');
  assert.equal(logo.cid, 'logo@acme.example');
  assert.equal(logo.contentDisposition, 'inline');
  assert.equal(logo.related, true, 'the inline image is not in multipart/related with the html');
  assert.ok(logo.content.equals(pngBytes), 'inline image bytes differ');
});

test('a text-only message is a single text/plain part', async () => {
  const res = await server.submit('acme', {
    from: 'a@example.com',
    to: 'b@example.com',
    subject: 'plain',
    text: 'just text\n',
  });
  assert.equal(res.status, 202, res.text);
  const raw = await server.getRaw('acme', res.json.id);
  const p = await simpleParser(raw.bytes);
  assert.equal(p.text, 'just text\n');
  assert.equal(p.html, false);
  assert.equal(p.attachments.length, 0);
  assert.match(raw.text, /^Content-Type: text\/plain; charset=utf-8\r$/m);
});

test('raw mode stores the given bytes exactly', async () => {
  const rawMessage = Buffer.concat([
    Buffer.from(
      'From: Sender <sender@example.com>\r\n' +
        'To: rcpt@example.com\r\n' +
        'Subject: raw mode\r\n' +
        'Message-ID: <raw-test-1@example.com>\r\n' +
        'X-Odd:   spaced   value  \r\n' +
        'Content-Type: text/plain; charset=utf-8\r\n' +
        'Content-Transfer-Encoding: 8bit\r\n' +
        '\r\n' +
        'Grüße, 8-bit body \r\n' +
        'a line ending in LF only\n' +
        '.\r\n' +
        '\r\n\r\n',
      'utf8',
    ),
    Buffer.from([0xe2, 0x82, 0xac, 0x20]),
    Buffer.from('no final line break', 'utf8'),
  ]);
  const res = await server.submit('acme', {
    from: 'sender@example.com',
    to: ['rcpt@example.com'],
    bcc: 'archive@example.com',
    raw: rawMessage.toString('base64'),
  });
  assert.equal(res.status, 202, res.text);
  assert.match(res.json.id, ULID_RE);
  assert.deepEqual(
    res.json.recipients.map((r) => r.address),
    ['rcpt@example.com', 'archive@example.com'],
  );
  const raw = await server.getRaw('acme', res.json.id);
  assert.equal(raw.status, 200);
  assert.ok(raw.bytes.equals(rawMessage), 'raw bytes were changed');
  const got = await server.getMessage('acme', res.json.id);
  assert.equal(got.json.message_id, 'raw-test-1@example.com');
  assert.equal(got.json.size, rawMessage.length);
  assert.equal(got.json.from, 'sender@example.com');
});

test('send_at in the future schedules the message', async () => {
  const sendAt = new Date(Date.now() + 3 * 86400 * 1000);
  sendAt.setUTCMilliseconds(0);
  const res = await server.submit('acme', {
    from: 'a@example.com',
    to: ['b@example.com', 'c@example.com'],
    subject: 'later',
    text: 'scheduled',
    send_at: sendAt.toISOString().replace('.000Z', 'Z'),
  });
  assert.equal(res.status, 202, res.text);
  assert.equal(res.json.status, 'scheduled');
  assert.deepEqual(res.json.recipients.map((r) => r.status), ['scheduled', 'scheduled']);
  const got = await server.getMessage('acme', res.json.id);
  assert.equal(got.json.status, 'scheduled');
  assert.equal(Date.parse(got.json.send_at), sendAt.getTime());
  assert.ok(Date.parse(got.json.created_at) < sendAt.getTime());

  // An offset other than Z means the same instant.
  const withOffset = await server.submit('acme', {
    from: 'a@example.com',
    to: 'b@example.com',
    text: 'offset',
    send_at: '2099-01-01T00:00:00+02:00',
  });
  // 2099 is far beyond 30 days: refused, and a near date with an offset is accepted.
  assert.equal(withOffset.status, 422);
  const near = new Date(Date.now() + 86400 * 1000);
  near.setUTCMilliseconds(0);
  const local = new Date(near.getTime() + 2 * 3600 * 1000).toISOString().slice(0, 19) + '+02:00';
  const res2 = await server.submit('acme', {
    from: 'a@example.com',
    to: 'b@example.com',
    text: 'offset',
    send_at: local,
  });
  assert.equal(res2.status, 202, res2.text);
  const got2 = await server.getMessage('acme', res2.json.id);
  assert.equal(Date.parse(got2.json.send_at), near.getTime());
});

test('several requests work over one keep-alive connection', async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const sockets = [];
  const call = (method, path, body) =>
    new Promise((resolve, reject) => {
      const headers = { authorization: `Bearer ${server.key('acme')}` };
      let payload;
      if (body !== undefined) {
        payload = Buffer.from(JSON.stringify(body));
        headers['content-type'] = 'application/json';
        headers['content-length'] = payload.length;
      }
      const req = http.request(
        { host: '127.0.0.1', port: server.port, method, path, headers, agent },
        (res) => {
          const chunks = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode,
              headers: res.headers,
              body: Buffer.concat(chunks).toString('utf8'),
              reused: req.reusedSocket,
            }),
          );
          res.on('error', reject);
        },
      );
      req.on('socket', (s) => sockets.push(s));
      req.on('error', reject);
      req.end(payload);
    });
  try {
    const results = [];
    const a = await call('POST', '/v1/messages', { from: 'a@example.com', to: 'b@example.com', text: 'one' });
    results.push(a);
    const id = JSON.parse(a.body).id;
    results.push(await call('GET', `/v1/messages/${id}`));
    results.push(await call('GET', `/v1/messages/${id}/raw`));
    results.push(await call('GET', '/healthz'));
    results.push(await call('POST', '/v1/messages', { from: 'a@example.com', to: 'b@example.com', text: 'two' }));
    // An error answer keeps the connection too.
    results.push(await call('GET', '/v1/messages/01ARZ3NDEKTSV4RRFFQ69G5FAV'));
    results.push(await call('DELETE', `/v1/messages/${id}`));
    assert.deepEqual(results.map((r) => r.status), [202, 200, 200, 200, 202, 404, 200]);
    assert.equal(JSON.parse(results[1].body).id, id);
    assert.match(results[2].body, /^Date: /);
    assert.equal(JSON.parse(results[6].body).status, 'canceled');
    for (const r of results) assert.notEqual(r.headers.connection, 'close');
    assert.deepEqual(results.map((r) => r.reused), [false, true, true, true, true, true, true]);
    assert.ok(sockets.every((s) => s === sockets[0]), 'a new connection was opened');
  } finally {
    agent.destroy();
  }
});
