// Requests with wrong credentials are refused on their headers alone: the server answers 401 and
// closes without reading (or buffering) the body, so unauthenticated clients cannot make it hold
// large bodies in memory.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { parseHttpResponse, rawExchange, startServer } from './lib/server.mjs';

let server;
before(async () => {
  server = await startServer({ tenants: ['acme'], adminToken: true });
});
after(async () => {
  await server?.cleanup();
});

for (const [what, path, auth] of [
  ['a wrong tenant key', '/v1/messages', 'Bearer mp_wrong'],
  ['no key at all', '/v1/messages/batch', null],
  ['a wrong admin token', '/v1/admin/tenants', 'Bearer not-the-admin-token'],
]) {
  test(`${what}: 401 before the body is read, then the connection closes`, async () => {
    const head =
      `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
      (auth ? `Authorization: ${auth}\r\n` : '') +
      'Content-Length: 30000000\r\n\r\n';
    // Only the headers and a few bytes of the 30 MB body are ever sent.
    const r = await rawExchange(server.port, { chunks: [Buffer.from(head + '{"from":')] });
    assert.ok(r.closed, 'the server closed the connection');
    const res = parseHttpResponse(r.data);
    assert.equal(res.status, 401, r.data.toString().slice(0, 200));
    assert.equal(res.headers['content-type'], 'application/problem+json');
    assert.equal(JSON.parse(res.body).code, 'unauthorized');
  });
}

test('a valid key still has its body read and judged', async () => {
  const body = JSON.stringify({ from: 'a@example.com', to: ['b@example.org'], text: 'hi' });
  const head =
    'POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n' +
    `Authorization: Bearer ${server.key('acme')}\r\nConnection: close\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
  const r = await rawExchange(server.port, { chunks: [Buffer.from(head + body)] });
  assert.equal(parseHttpResponse(r.data).status, 202, r.data.toString().slice(0, 200));
});
