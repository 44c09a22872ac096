// docs/openapi.yaml against the real server: every route the server answered is declared, every
// status it answered is declared for that route, and every body validates (Ajv, JSON Schema
// 2020-12 as OpenAPI 3.1 uses) against the declared schema and against the named component
// (Problem, AcceptedMessage, BatchResponse, Message, Tenant, TenantWithKey, TenantList).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import YAML from 'yaml';

import { parseHttpResponse, rawExchange, REPO_ROOT, startServer } from './lib/server.mjs';

const DOC_PATH = `${REPO_ROOT}/docs/openapi.yaml`;
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

let doc;
let ajv;
let server;
const observed = []; // {method, path, status, contentType, body, component}
const crashes = []; // server exits seen while exercising the routes

function loadDoc() {
  assert.ok(fs.existsSync(DOC_PATH), `${DOC_PATH} does not exist`);
  const d = YAML.parse(fs.readFileSync(DOC_PATH, 'utf8'));
  assert.match(String(d.openapi), /^3\.1\./, 'expected an OpenAPI 3.1 document');
  for (const name of ['Problem', 'AcceptedMessage', 'BatchResponse', 'Message', 'Tenant', 'TenantWithKey', 'TenantList']) {
    assert.ok(d.components?.schemas?.[name], `components.schemas.${name} is missing`);
  }
  return d;
}

// JSON pointer escaping.
const esc = (s) => String(s).replace(/~/g, '~0').replace(/\//g, '~1');

// Follows a local $ref (for response objects, which are not JSON schemas).
function deref(obj, pointer) {
  let p = pointer;
  let o = obj;
  while (o && o.$ref) {
    assert.match(o.$ref, /^#\//, `only local $refs are supported: ${o.$ref}`);
    p = o.$ref.slice(1);
    o = p.split('/').slice(1).reduce((acc, k) => acc?.[k.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
  }
  return { obj: o, pointer: p };
}

// The base path of the first server URL, if any ("/v1" in "https://host/v1").
function basePath() {
  const url = doc.servers?.[0]?.url ?? '';
  const m = /^(?:[a-z]+:\/\/[^/]+)?(\/.*)?$/i.exec(url);
  return (m?.[1] ?? '').replace(/\/$/, '');
}

// The documented path template for a concrete path: literal matches win over templates.
function findPathTemplate(path) {
  const base = basePath();
  if (base && !path.startsWith(base)) return null;
  const rel = path.slice(base.length);
  const templates = Object.keys(doc.paths ?? {});
  if (templates.includes(rel)) return rel;
  const matches = templates.filter((t) => {
    const re = new RegExp('^' + t.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+') + '$');
    return re.test(rel);
  });
  // Prefer the template with the most literal characters.
  matches.sort((a, b) => b.replace(/\{[^}]+\}/g, '').length - a.replace(/\{[^}]+\}/g, '').length);
  return matches[0] ?? null;
}

function validatorFor(ref) {
  const v = ajv.getSchema(ref);
  assert.ok(v, `cannot compile ${ref}`);
  return v;
}

function describeErrors(v) {
  return ajv.errorsText(v.errors, { separator: '\n    ' });
}

function mediaTypeOf(ct) {
  return (ct ?? '').split(';')[0].trim().toLowerCase();
}

before(async () => {
  doc = loadDoc();
  ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema(doc, 'openapi');

  server = await startServer({
    tenants: ['acme', 'other'],
    adminToken: true,
    config: '[limits]\nmax_message_bytes = 20000\n[http]\nmax_body_bytes = 200000\n',
  });
  await exercise();
});

after(async () => {
  await server?.cleanup();
});

// One request; the answer is recorded. If the server is found dead, the crash is recorded and
// the server is started again (same data), so that the remaining routes are still checked.
async function call(method, path, opts = {}, component = undefined) {
  let res = null;
  for (let attempt = 0; attempt < 3 && !res; attempt++) {
    try {
      res = await server.request(method, path, opts);
    } catch (err) {
      if (server.running) throw err;
      crashes.push(`${method} ${path}: no answer; server exit ${JSON.stringify(server.exit)}`);
      await server.start();
    }
  }
  if (!res) return null;
  const body = /json/.test(res.headers.get('content-type') ?? '') ? res.json : res.text;
  observed.push({ method, path, status: res.status, contentType: res.headers.get('content-type'), body, component });
  await new Promise((r) => setTimeout(r, 50));
  if (!server.running) {
    crashes.push(`after ${method} ${path} answered ${res.status}: server exit ${JSON.stringify(server.exit)}`);
    await server.start();
  }
  return res;
}

// Requests that only a raw socket can send (malformed or oversized at the HTTP level).
async function rawCall(method, path, headerLines, body, component) {
  const text = `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${headerLines.join('')}\r\n${body}`;
  const r = await rawExchange(server.port, { chunks: [text] });
  const res = parseHttpResponse(r.data);
  assert.ok(res, `${method} ${path}: no HTTP answer (${r.error?.code})`);
  let parsed = res.body.toString();
  try {
    parsed = JSON.parse(parsed);
  } catch {
    // not JSON
  }
  observed.push({ method, path, status: res.status, contentType: res.headers['content-type'], body: parsed, component });
}

async function exercise() {
  const key = server.key('acme');
  const json = (j) => ({ key, json: j });
  const simple = { from: 'a@example.com', to: 'b@example.com', subject: 's', text: 't' };

  await call('GET', '/healthz', {}, 'HealthStatus');
  await call('GET', '/readyz', {}, 'ReadyStatus');
  await call('GET', '/metrics');
  await call('POST', '/healthz', {}, 'Problem');
  await rawCall('GET', '/healthz', ['Bad Header Line\r\n'], '', 'Problem');
  await rawCall('GET', '/healthz', [`X-Padding: ${'a'.repeat(17000)}\r\n`], '', 'Problem');
  await rawCall('POST', '/v1/messages', [`Authorization: Bearer ${server.key('acme')}\r\n`,
    'Content-Type: application/json\r\n', 'Content-Length: 300000\r\n'], '{"from":', 'Problem');

  const composed = await call('POST', '/v1/messages', json({
    ...simple, cc: ['Cc Person <c@example.com>'], bcc: 'd@example.com', html: '<p>t</p>',
    headers: { 'X-A': 'b' }, tags: ['x'], metadata: { k: 'v' },
    attachments: [{ filename: 'a.txt', content_type: 'text/plain', content: 'aGk=' }],
  }), 'AcceptedMessage');
  await call('POST', '/v1/messages', json({ ...simple, send_at: new Date(Date.now() + 86400000).toISOString() }),
    'AcceptedMessage');
  const raw = Buffer.from('From: a@example.com\r\nTo: b@example.com\r\nSubject: r\r\n\r\nbody\r\n').toString('base64');
  await call('POST', '/v1/messages', json({ from: 'a@example.com', to: 'b@example.com', raw }), 'AcceptedMessage');
  await call('POST', '/v1/messages', json({ ...simple, to: 'bad' }), 'Problem');
  await call('POST', '/v1/messages', json({ ...simple, bogus: 1 }), 'Problem');
  await call('POST', '/v1/messages', { key, body: '{', headers: { 'content-type': 'application/json' } }, 'Problem');
  await call('POST', '/v1/messages', { key, body: '{}', headers: { 'content-type': 'text/plain' } }, 'Problem');
  await call('POST', '/v1/messages', { json: simple }, 'Problem');
  await call('POST', '/v1/messages', json({ ...simple, text: 'x'.repeat(30000) }), 'Problem');
  await call('GET', '/v1/messages', { key }, 'MessageList');
  await call('PATCH', '/v1/messages', { key }, 'Problem');
  const idem = { key, json: simple, headers: { 'idempotency-key': 'openapi-1' } };
  await call('POST', '/v1/messages', idem, 'AcceptedMessage');
  await call('POST', '/v1/messages', idem, 'AcceptedMessage');
  await call('POST', '/v1/messages', { ...idem, json: { ...simple, subject: 'other' } }, 'Problem');

  await call('POST', '/v1/messages/batch', json({ messages: [simple, { ...simple, to: 'bad' }] }), 'BatchResponse');
  await call('POST', '/v1/messages/batch', json({ messages: [] }), 'Problem');
  await call('GET', '/v1/messages/batch', { key }, 'Problem');

  const id = composed?.json?.id;
  await call('GET', `/v1/messages/${id}`, { key }, 'Message');
  await call('GET', `/v1/messages/${id}/raw`, { key });
  await call('GET', `/v1/messages/${id}`, { key: server.key('other') }, 'Problem');
  await call('GET', '/v1/messages/01ARZ3NDEKTSV4RRFFQ69G5FAV/raw', { key }, 'Problem');
  await call('PUT', `/v1/messages/${id}`, { key }, 'Problem');
  await call('DELETE', `/v1/messages/${id}`, { key }, 'Message');
  await call('DELETE', `/v1/messages/${id}`, { key }, 'Message');
  await call('DELETE', '/v1/messages/01ARZ3NDEKTSV4RRFFQ69G5FAV', { key }, 'Problem');

  await call('GET', '/v1/admin/tenants', { admin: true }, 'TenantList');
  await call('GET', '/v1/admin/tenants', {}, 'Problem');
  await call('GET', `/v1/admin/tenants/${server.tenantId('acme')}`, { admin: true }, 'Tenant');
  await call('GET', '/v1/admin/tenants/tn_nope', { admin: true }, 'Problem');
  await call('POST', '/v1/admin/tenants', { admin: true, json: {} }, 'Problem');
  await call('POST', '/v1/admin/tenants', { admin: true, json: { name: 'openapi-co' } }, 'TenantWithKey');
  await call('POST', '/v1/admin/tenants', { admin: true, json: { name: 'acme' } }, 'Problem');
  const tid = server.tenantId('other');
  await call('POST', `/v1/admin/tenants/${tid}/rotate-key`, { admin: true, json: { grace_seconds: 60 } }, 'TenantWithKey');
  await call('POST', `/v1/admin/tenants/${tid}/rotate-key`, { admin: true, json: { grace_seconds: -5 } }, 'Problem');
  await call('POST', `/v1/admin/tenants/${tid}/disable`, { admin: true }, 'Tenant');
  await call('POST', `/v1/admin/tenants/${tid}/enable`, { admin: true }, 'Tenant');
  await call('GET', `/v1/admin/tenants/${tid}/disable`, { admin: true }, 'Problem');
}

test('every path and method the server answered is declared', () => {
  const missing = new Set();
  for (const o of observed) {
    if (o.status === 404 && o.body?.detail === 'no such route') continue; // not a route
    const t = findPathTemplate(o.path);
    if (!t) {
      missing.add(`${o.method} ${o.path}: no such path`);
      continue;
    }
    // 405 answers are for methods the route does not have.
    if (o.status === 405) continue;
    if (!doc.paths[t][o.method.toLowerCase()]) missing.add(`${o.method} ${t}`);
  }
  assert.deepEqual([...missing], [], `undeclared routes:\n  ${[...missing].join('\n  ')}`);
});

test('every status and content type the server answered is declared for its route', () => {
  const problems = [];
  for (const o of observed) {
    const t = findPathTemplate(o.path);
    if (!t) continue;
    const item = doc.paths[t];
    // A 405 is about the route as a whole: any operation of it may declare it.
    const ops = o.status === 405 ? METHODS.filter((m) => item[m]).map((m) => item[m]) : [item[o.method.toLowerCase()]];
    const declared = ops.filter(Boolean).map((op) => op.responses?.[String(o.status)] ??
      op.responses?.[`${String(o.status)[0]}XX`] ?? op.responses?.default).find(Boolean);
    if (!declared) {
      problems.push(`${o.method} ${t} -> ${o.status} is not declared`);
      continue;
    }
    const { obj: resp } = deref(declared, '');
    const mt = mediaTypeOf(o.contentType);
    if (resp.content && !resp.content[mt]) {
      problems.push(`${o.method} ${t} -> ${o.status}: content type ${mt} is not declared ` +
        `(declared: ${Object.keys(resp.content).join(', ')})`);
    }
  }
  assert.deepEqual(problems, [], problems.join('\n'));
});

test('every body validates against the schema declared for its route and status', () => {
  const problems = [];
  let checked = 0;
  for (const o of observed) {
    const t = findPathTemplate(o.path);
    if (!t) continue;
    const item = doc.paths[t];
    const candidates = o.status === 405 ? METHODS.filter((m) => item[m]) : [o.method.toLowerCase()];
    let found = null;
    for (const m of candidates) {
      const responses = item[m]?.responses ?? {};
      const key = [String(o.status), `${String(o.status)[0]}XX`, 'default'].find((k) => responses[k]);
      if (key) {
        found = deref(responses[key], `/paths/${esc(t)}/${m}/responses/${esc(key)}`);
        break;
      }
    }
    if (!found) continue; // reported by the test above
    const mt = mediaTypeOf(o.contentType);
    const media = found.obj.content?.[mt];
    if (!media?.schema) continue;
    const v = validatorFor(`openapi#${found.pointer}/content/${esc(mt)}/schema`);
    checked++;
    if (!v(o.body)) {
      problems.push(`${o.method} ${o.path} -> ${o.status}:\n    ${describeErrors(v)}\n    body: ` +
        JSON.stringify(o.body).slice(0, 300));
    }
  }
  assert.ok(checked >= 30, `only ${checked} bodies were checked`);
  assert.deepEqual(problems, [], problems.join('\n'));
});

test('every body validates against its named component schema', () => {
  const problems = [];
  const seen = new Set();
  for (const o of observed) {
    if (!o.component) continue;
    seen.add(o.component);
    const v = validatorFor(`openapi#/components/schemas/${o.component}`);
    if (!v(o.body)) {
      problems.push(`${o.method} ${o.path} -> ${o.status} as ${o.component}:\n    ${describeErrors(v)}\n    body: ` +
        JSON.stringify(o.body).slice(0, 300));
    }
  }
  for (const name of ['Problem', 'AcceptedMessage', 'BatchResponse', 'Message', 'Tenant', 'TenantWithKey', 'TenantList']) {
    assert.ok(seen.has(name), `no response was checked as ${name}`);
  }
  assert.deepEqual(problems, [], problems.join('\n'));
});

test('the schemas are not vacuous: wrong bodies are refused', () => {
  const problem = validatorFor('openapi#/components/schemas/Problem');
  assert.equal(problem({ type: '/problems/x', title: 'X', status: 422 }), false, 'Problem without code accepted');
  const accepted = validatorFor('openapi#/components/schemas/AcceptedMessage');
  assert.equal(accepted({ id: 'nope', status: 'queued', recipients: [] }), false);
  const message = validatorFor('openapi#/components/schemas/Message');
  const good = observed.find((o) => o.component === 'Message' && o.status === 200)?.body;
  assert.ok(good && message(good));
  assert.equal(message({ ...good, status: 'lost' }), false, 'Message with an unknown status accepted');
  const tenant = validatorFor('openapi#/components/schemas/TenantWithKey');
  assert.equal(tenant({ tenant_id: 'tn_x' }), false);
});

test('the server stayed up while every route was exercised', () => {
  assert.deepEqual(crashes, [], `the server crashed:\n  ${crashes.join('\n  ')}`);
});
