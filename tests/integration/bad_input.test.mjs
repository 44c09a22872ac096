// Bad requests: each gets the right status, a problem+json body with a stable code (and the
// offending field), and stores nothing. Garbage on the wire does not hurt the server.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';

import { assertProblem, parseHttpResponse, rawExchange, startServer } from './lib/server.mjs';

const MAX_MESSAGE = 100000;
const MAX_BODY = 200000;

let server;
before(async () => {
  server = await startServer({
    tenants: ['acme'],
    config: `[limits]\nmax_message_bytes = ${MAX_MESSAGE}\n[http]\nmax_body_bytes = ${MAX_BODY}\n`,
  });
});
after(async () => {
  await server?.cleanup();
});

const ok = { from: 'sender@example.com', to: ['rcpt@example.com'], subject: 'hi', text: 'hello' };
const with_ = (patch) => ({ ...ok, ...patch });
const without = (...keys) => Object.fromEntries(Object.entries(ok).filter(([k]) => !keys.includes(k)));
const isoIn = (ms) => new Date(Date.now() + ms).toISOString();

// Nothing may have been stored by any refused request: no message accepted, no envelope written.
async function assertNothingStored(what) {
  assert.deepEqual(await server.spoolSnapshot(), { accepted: 0, envelopes: 0 }, `${what} stored something`);
}

// [name, request body (object or raw string), status, code, field (null: none)]
const cases = [
  // Malformed JSON.
  ['truncated JSON', '{"from": "a@example.com", "to": [', 400, 'invalid_json', null],
  ['empty body', '', 400, 'invalid_json', null],
  ['trailing garbage', JSON.stringify(ok) + 'x', 400, 'invalid_json', null],
  ['single quotes', "{'from': 'a@example.com'}", 400, 'invalid_json', null],
  ['nested too deep', '['.repeat(100) + ']'.repeat(100), 400, 'invalid_json', null],
  // Wrong types.
  ['to is a number', with_({ to: 5 }), 422, 'invalid_type', 'to'],
  ['to holds a number', with_({ to: ['ok@example.com', 5] }), 422, 'invalid_type', 'to[1]'],
  ['from is an array', with_({ from: ['a@example.com'] }), 422, 'invalid_type', 'from'],
  ['subject is a number', with_({ subject: 42 }), 422, 'invalid_type', 'subject'],
  ['text is a boolean', with_({ text: true }), 422, 'invalid_type', 'text'],
  ['headers is an array', with_({ headers: ['X-A: b'] }), 422, 'invalid_type', 'headers'],
  ['header value is a number', with_({ headers: { 'X-A': 1 } }), 422, 'invalid_type', 'headers.X-A'],
  ['attachments is an object', with_({ attachments: {} }), 422, 'invalid_type', 'attachments'],
  ['tags is a string', with_({ tags: 'a,b' }), 422, 'invalid_type', 'tags'],
  ['metadata is an array', with_({ metadata: [] }), 422, 'invalid_type', 'metadata'],
  ['send_at is a number', with_({ send_at: 1790000000 }), 422, 'invalid_type', 'send_at'],
  ['body is an array', [ok], 422, 'invalid_type', undefined],
  ['body is a string', '"hello"', 422, 'invalid_type', undefined],
  // Missing fields.
  ['missing from', without('from'), 422, 'missing_field', 'from'],
  ['missing to', without('to'), 422, 'missing_field', 'to'],
  ['empty to', with_({ to: [] }), 422, 'missing_field', 'to'],
  ['null to', with_({ to: null }), 422, 'missing_field', 'to'],
  ['no content', without('text'), 422, 'missing_field', 'text'],
  ['attachment without content', with_({ attachments: [{ filename: 'a.txt' }] }), 422, 'missing_field',
    'attachments[0].content'],
  // Invalid addresses.
  ...[
    'plainaddress', '@example.com', 'user@', 'user@localhost', 'a..b@example.com', '.a@example.com',
    'a.@example.com', 'a b@example.com', 'user@-bad.example.com', 'user@bad-.example.com',
    'user@example.123', 'user@exa_mple.com', 'user@example..com', `${'x'.repeat(65)}@example.com`,
    `u@${'a'.repeat(64)}.example.com`, 'jöhn@example.com', 'user@[300.1.1.1]', 'user@[1.2.3]',
    'Name <user@example.com', 'Name user@example.com>', '"unterminated@example.com',
    `${'a'.repeat(60)}@${'b'.repeat(60)}.${'c'.repeat(60)}.${'d'.repeat(60)}.example.com`,
  ].map((addr) => [`invalid to address ${JSON.stringify(addr).slice(0, 40)}`, with_({ to: [addr] }), 422,
    'invalid_address', 'to[0]']),
  ['invalid address as a string', with_({ to: 'nope' }), 422, 'invalid_address', 'to'],
  ['invalid second address', with_({ to: ['ok@example.com', 'bad@'] }), 422, 'invalid_address', 'to[1]'],
  ['invalid from', with_({ from: 'not an address' }), 422, 'invalid_address', 'from'],
  ['invalid cc', with_({ cc: ['x@y'] }), 422, 'invalid_address', 'cc[0]'],
  ['invalid bcc', with_({ bcc: 'bcc@' }), 422, 'invalid_address', 'bcc'],
  ['invalid reply_to', with_({ reply_to: 'reply' }), 422, 'invalid_address', 'reply_to'],
  // Header injection.
  ['CRLF in subject', with_({ subject: 'Hi\r\nBcc: victim@example.com' }), 422, 'header_injection', 'subject'],
  ['LF in subject', with_({ subject: 'Hi\nBcc: victim@example.com' }), 422, 'header_injection', 'subject'],
  ['CR in subject', with_({ subject: 'Hi\rthere' }), 422, 'header_injection', 'subject'],
  ['NUL in subject', with_({ subject: 'Hi\u0000there' }), 422, 'header_injection', 'subject'],
  ['LF in a header name', with_({ headers: { 'X-A\nBcc': 'v' } }), 422, 'header_injection', 'headers.X-A\nBcc'],
  ['CRLF in a header name', with_({ headers: { 'X-A\r\nBcc': 'v' } }), 422, 'header_injection',
    'headers.X-A\r\nBcc'],
  ['CRLF in a header value', with_({ headers: { 'X-Custom': 'v\r\nBcc: victim@example.com' } }), 422,
    'header_injection', 'headers.X-Custom'],
  ['LF in a header value', with_({ headers: { 'X-Custom': 'v\nX-Evil: 1' } }), 422, 'header_injection',
    'headers.X-Custom'],
  ['CRLF in the from display name', with_({ from: 'Evil\r\nBcc: victim@example.com <a@example.com>' }), 422,
    'header_injection', 'from'],
  ['LF in a to display name', with_({ to: ['Bob\n <b@example.com>'] }), 422, 'header_injection', 'to[0]'],
  ['CR in a cc display name', with_({ cc: '"Carol\r" <c@example.com>' }), 422, 'header_injection', 'cc'],
  ['CRLF in an attachment filename', with_({ attachments: [{ filename: 'a\r\n.txt', content: 'aGk=' }] }),
    422, 'header_injection', 'attachments[0].filename'],
  // Too many recipients.
  ['1001 recipients in to',
    with_({ to: Array.from({ length: 1001 }, (_, i) => `r${i}@example.com`) }), 422, 'too_many_recipients', 'to'],
  ['1001 recipients across to, cc and bcc', with_({
    to: Array.from({ length: 400 }, (_, i) => `t${i}@example.com`),
    cc: Array.from({ length: 400 }, (_, i) => `c${i}@example.com`),
    bcc: Array.from({ length: 201 }, (_, i) => `b${i}@example.com`),
  }), 422, 'too_many_recipients', 'to'],
  // Invalid base64.
  ['invalid base64 characters in an attachment',
    with_({ attachments: [{ filename: 'a.bin', content: 'not base64!!' }] }), 422, 'invalid_base64',
    'attachments[0].content'],
  ['base64 with a bad length in an attachment',
    with_({ attachments: [{ filename: 'a.bin', content: 'aGVsbG8' }] }), 422, 'invalid_base64',
    'attachments[0].content'],
  ['base64 with data after padding', with_({ attachments: [{ content: 'aGk=aGk=' }] }), 422, 'invalid_base64',
    'attachments[0].content'],
  ['invalid base64 in raw', { from: 'a@example.com', to: 'b@example.com', raw: '%%%not-base64%%%' }, 422,
    'invalid_base64', 'raw'],
  ['non-canonical base64 in raw', { from: 'a@example.com', to: 'b@example.com', raw: 'RnJvbTogYQ=' }, 422,
    'invalid_base64', 'raw'],
  // send_at.
  ['send_at an hour ago', with_({ send_at: isoIn(-3600 * 1000) }), 422, 'invalid_send_at', 'send_at'],
  ['send_at 31 days ahead', with_({ send_at: isoIn(31 * 86400 * 1000) }), 422, 'invalid_send_at', 'send_at'],
  ['send_at unparsable', with_({ send_at: 'tomorrow at noon' }), 422, 'invalid_send_at', 'send_at'],
  ['send_at without a zone', with_({ send_at: '2026-12-01T10:00:00' }), 422, 'invalid_send_at', 'send_at'],
  ['send_at with month 13', with_({ send_at: '2026-13-01T10:00:00Z' }), 422, 'invalid_send_at', 'send_at'],
  ['send_at empty', with_({ send_at: '' }), 422, 'invalid_send_at', 'send_at'],
  // Unknown fields.
  ['unknown top-level field', with_({ form: 'typo@example.com' }), 422, 'unknown_field', 'form'],
  ['unknown attachment field', with_({ attachments: [{ name: 'a.txt', content: 'aGk=' }] }), 422,
    'unknown_field', 'attachments[0].name'],
  // Other invalid values.
  ['Bcc through headers', with_({ headers: { Bcc: 'victim@example.com' } }), 422, 'invalid_value', 'headers.Bcc'],
  ['raw combined with subject', { from: 'a@example.com', to: 'b@example.com', subject: 's', raw: 'RnJvbTogYQ==' },
    422, 'invalid_value', 'subject'],
  ['raw that is not a message', { from: 'a@example.com', to: 'b@example.com', raw: 'aGVsbG8gd29ybGQ=' }, 422,
    'invalid_value', 'raw'],
];

describe('refused submissions', () => {
  test('the spool is empty to begin with', async () => {
    await assertNothingStored('start-up');
  });
  for (const [name, body, status, code, field] of cases) {
    test(`${name} -> ${status} ${code}`, async () => {
      const res = await server.request('POST', '/v1/messages', {
        key: server.key('acme'),
        headers: { 'content-type': 'application/json' },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      assertProblem(res, status, code, field);
      await assertNothingStored(name);
    });
  }
});

describe('sizes', () => {
  test('a Content-Length over http.max_body_bytes gets 413 at once, without the body being read', async () => {
    const head =
      'POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
      `Authorization: Bearer ${server.key('acme')}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${50 * 1024 * 1024}\r\n\r\n`;
    // Only the start of the body is sent: a server waiting for the rest would not answer for
    // body_timeout_seconds (120 s).
    const r = await rawExchange(server.port, {
      chunks: [Buffer.from(head + '{"from":"a@example.com","to":"b@example.com","text":"' + 'x'.repeat(1000))],
      timeoutMs: 5000,
    });
    assert.ok(r.closed, `the connection was not closed within 5 s; got: ${r.data.toString().slice(0, 300)}`);
    const res = parseHttpResponse(r.data);
    assert.ok(res, `no HTTP response before the close (error ${r.error?.code})`);
    const json = JSON.parse(res.body.toString());
    assert.deepEqual([res.status, json.status, json.code], [413, 413, 'message_too_large'],
      `got ${res.status} ${res.body}`);
    assert.match(res.headers['content-type'], /^application\/problem\+json/);
    assert.equal(res.headers.connection, 'close');
    await assertNothingStored('an oversized request');
  });

  test('a Content-Length just over the limit gets 413 too', async () => {
    const body = JSON.stringify(with_({ text: 'x'.repeat(MAX_BODY) }));
    assert.ok(body.length > MAX_BODY);
    const head =
      'POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
      `Authorization: Bearer ${server.key('acme')}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${MAX_BODY + 1}\r\n\r\n`;
    const r = await rawExchange(server.port, { chunks: [Buffer.from(head + body.slice(0, 100))] });
    const res = parseHttpResponse(r.data);
    assert.ok(res, `no HTTP response (error ${r.error?.code})`);
    assert.equal(res.status, 413, `got ${res.status} ${res.body}`);
    assert.equal(JSON.parse(res.body.toString()).code, 'message_too_large');
    await assertNothingStored('an oversized request');
  });

  test('a body under max_body_bytes whose composed message is over max_message_bytes gets 413', async () => {
    const line = 'y'.repeat(70) + '\n';
    const text = line.repeat(Math.ceil((MAX_MESSAGE + 20000) / line.length));
    const body = JSON.stringify(with_({ text }));
    assert.ok(body.length < MAX_BODY && body.length > MAX_MESSAGE);
    const res = await server.request('POST', '/v1/messages', {
      key: server.key('acme'), headers: { 'content-type': 'application/json' }, body });
    assertProblem(res, 413, 'message_too_large');

    // An attachment that fits in the body as base64 but makes the message too large.
    const bytes = Buffer.alloc(90000, 7);
    const res2 = await server.submit('acme', with_({ attachments: [{ filename: 'big.bin', content: bytes.toString('base64') }] }));
    assertProblem(res2, 413, 'message_too_large');

    // A raw message over the limit.
    const raw = Buffer.from('Subject: big\r\n\r\n' + line.repeat(1700).replace(/\n/g, '\r\n'));
    assert.ok(raw.length > MAX_MESSAGE);
    const res3 = await server.submit('acme', { from: 'a@example.com', to: 'b@example.com', raw: raw.toString('base64') });
    assertProblem(res3, 413, 'message_too_large', 'raw');
    await assertNothingStored('an oversized message');
  });
});

describe('HTTP level', () => {
  test('a wrong Content-Type gets 415', async () => {
    for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'application/jsonx', undefined]) {
      const headers = ct ? { 'content-type': ct } : {};
      const res = await server.request('POST', '/v1/messages', {
        key: server.key('acme'), headers, body: Buffer.from(JSON.stringify(ok)) });
      assertProblem(res, 415, 'unsupported_media_type', 'Content-Type');
      const batch = await server.request('POST', '/v1/messages/batch', {
        key: server.key('acme'), headers, body: Buffer.from(JSON.stringify({ messages: [ok] })) });
      assertProblem(batch, 415, 'unsupported_media_type', 'Content-Type');
    }
    await assertNothingStored('a wrong content type');
  });

  test('a wrong method gets 405 with an Allow header', async () => {
    const id = '01ARZ3NDEKTSV4RRFFQ69G5FAV';
    for (const [method, path, allow] of [
      ['PATCH', '/v1/messages', 'GET, POST'],
      ['PUT', '/v1/messages', 'GET, POST'],
      ['DELETE', '/v1/messages', 'GET, POST'],
      ['GET', '/v1/messages/batch', 'POST'],
      ['PUT', `/v1/messages/${id}`, 'GET, DELETE'],
      ['PATCH', `/v1/messages/${id}`, 'GET, DELETE'],
      ['POST', `/v1/messages/${id}`, 'GET, DELETE'],
      ['POST', `/v1/messages/${id}/raw`, 'GET'],
      ['DELETE', `/v1/messages/${id}/raw`, 'GET'],
    ]) {
      const res = await server.request(method, path, { key: server.key('acme') });
      assertProblem(res, 405, 'method_not_allowed');
      assert.equal(res.headers.get('allow'), allow, `${method} ${path}`);
    }
    await assertNothingStored('a wrong method');
  });

  test('HEAD is answered with headers only and the connection stays usable', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const call = (method, path) => new Promise((resolve) => {
      const req = http.request({ host: '127.0.0.1', port: server.port, method, path, agent,
        headers: { authorization: `Bearer ${server.key('acme')}` } }, (res) => {
        let body = '';
        res.on('data', (c) => { body += c; });
        res.on('end', () => resolve({ status: res.statusCode, body, reused: req.reusedSocket }));
      });
      req.on('error', (e) => resolve({ error: `${e.code}: ${e.message}` }));
      req.end();
    });
    try {
      for (const path of ['/healthz', '/v1/messages/01ARZ3NDEKTSV4RRFFQ69G5FAV']) {
        const head = await call('HEAD', path);
        assert.equal(head.error, undefined, `HEAD ${path} failed in the client: ${head.error}`);
        assert.ok(head.status < 500, `HEAD ${path}: ${head.status}`);
        assert.equal(head.body, '');
        const get = await call('GET', '/healthz');
        assert.equal(get.error, undefined, `GET after HEAD ${path} failed: ${get.error}`);
        assert.equal(get.status, 200);
        assert.equal(get.body, '{"status":"ok"}');
      }
    } finally {
      agent.destroy();
    }
  });

  test('an unknown route is 404', async () => {
    for (const p of ['/', '/v2/messages', '/v1/message', '/v1/messages/x/y/z']) {
      assertProblem(await server.request('GET', p, { key: server.key('acme') }), 404, 'not_found');
    }
  });
});

// A PRNG with a seed, so that a failure can be reproduced.
function randomBytes(n, seed) {
  const out = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

describe('garbage on the wire', () => {
  async function assertHealthy(what) {
    const res = await server.request('GET', '/healthz');
    assert.equal(res.status, 200, `not healthy after ${what}`);
    assert.deepEqual(res.json, { status: 'ok' });
    assert.ok(server.running);
  }

  test('random bytes are refused and the server carries on', async () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const r = await rawExchange(server.port, { chunks: [randomBytes(4096, seed)], timeoutMs: 5000 });
      assert.ok(r.closed, `seed ${seed}: the connection stayed open`);
      const res = parseHttpResponse(r.data);
      if (res) assert.ok(res.status >= 400 && res.status < 500, `seed ${seed}: ${res.status}`);
      await assertHealthy(`random bytes (seed ${seed})`);
    }
  });

  test('a request line that is not HTTP gets a 400 problem whose status says 400', async () => {
    const r = await rawExchange(server.port, { chunks: ['GARBAGE\r\n\r\n'] });
    const res = parseHttpResponse(r.data);
    assert.ok(res, 'no answer');
    assert.equal(res.status, 400);
    assert.match(res.headers['content-type'], /^application\/problem\+json/);
    const json = JSON.parse(res.body.toString());
    assert.equal(json.status, res.status, `problem body says status ${json.status}: ${res.body}`);
    await assertHealthy('a bad request line');
  });

  test('truncated requests are dropped and the server carries on', async () => {
    const key = server.key('acme');
    const truncated = [
      // Body shorter than its Content-Length, then the client stops sending.
      `POST /v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\n` +
        'Content-Type: application/json\r\nContent-Length: 500\r\n\r\n{"from":"a@example.com",',
      // Headers cut off.
      'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Partial: ',
      // Chunked body cut off.
      `POST /v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\n` +
        'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{"from":"a@exam',
    ];
    for (const t of truncated) {
      const r = await rawExchange(server.port, { chunks: [t], end: true, timeoutMs: 5000 });
      assert.ok(r.closed, `a truncated request kept the connection open: ${t.slice(0, 40)}`);
      const res = parseHttpResponse(r.data);
      if (res) assert.ok(res.status >= 400, `truncated request answered ${res.status}`);
      await assertHealthy('a truncated request');
    }
    // Clients that vanish mid-request, many at once.
    await Promise.all(Array.from({ length: 30 }, (_, i) =>
      rawExchange(server.port, { chunks: [truncated[i % 3]], timeoutMs: 50 })));
    await assertHealthy('clients vanishing mid-request');
    await assertNothingStored('truncated requests');
  });

  test('request headers up to 16 KiB are accepted; larger ones get 431', async () => {
    for (const n of [4000, 12000, 15000]) {
      const res = await server.request('GET', '/healthz', { headers: { 'x-padding': 'a'.repeat(n) } });
      assert.equal(res.status, 200, `${n} bytes of headers: ${res.status} ${res.text}`);
    }
    const big = await server.request('GET', '/healthz', { headers: { 'x-padding': 'a'.repeat(17000) } });
    assertProblem(big, 431, big.json?.code);
    await assertHealthy('large headers');
  });
});

describe('limits are exact', () => {
  test('exactly 1000 recipients and a send_at a little in the past are accepted', async () => {
    const before = await server.spoolSnapshot();
    const res = await server.submit('acme', with_({ to: Array.from({ length: 1000 }, (_, i) => `r${i}@example.com`) }));
    assert.equal(res.status, 202, res.text);
    assert.equal(res.json.recipients.length, 1000);
    const past = await server.submit('acme', with_({ send_at: isoIn(-60 * 1000) }));
    assert.equal(past.status, 202, past.text);
    assert.equal(past.json.status, 'queued');
    const ct = await server.request('POST', '/v1/messages', {
      key: server.key('acme'), headers: { 'content-type': 'Application/JSON; charset=utf-8' },
      body: JSON.stringify(ok) });
    assert.equal(ct.status, 202, ct.text);
    const after = await server.spoolSnapshot();
    assert.equal(after.accepted, before.accepted + 3);
  });
});
