// Suppression lists over the HTTP API, against a real server: a tenant adds, reads, replaces,
// lists (filters, cursor paging) and deletes entries; the operator's global list is visible to
// tenants, who cannot delete from it (409); the admin API acts on a tenant's list with ?tenant=;
// CSV import reports bad rows by line and imports the good ones; an export carries the formula
// guard and imports back to the same entries; settings round trip and are validated strictly;
// tenants never see each other's entries; bad inputs get a clear 4xx and change nothing. The
// answers validate against their schemas in docs/openapi.yaml.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import YAML from 'yaml';
import { REPO_ROOT, Server, assertProblem } from './lib/server.mjs';

const DEFAULT_SETTINGS = {
  auto: {
    invalid_recipient: { enabled: true, duration_days: null },
    bad_domain: { enabled: true, duration_days: 30 },
    inactive_mailbox: { enabled: true, duration_days: null },
    complaint: { enabled: true, duration_days: null },
    unsubscribe: { enabled: true, duration_days: null },
  },
  use_global: true,
};

describe('suppression lists', () => {
  let server;
  before(async () => {
    server = await new Server({ tenants: ['t', 'other'], adminToken: true }).start();
  });
  after(async () => {
    await server?.cleanup();
  });

  // Every JSON answer, to check against docs/openapi.yaml at the end.
  const answers = [];
  const keep = (method, path) => (r) => {
    if (r.json !== undefined) answers.push({ method, path, status: r.status, body: r.json });
    return r;
  };
  const api = (method, path, opts = {}, tenant = 't') =>
    server.request(method, path, { key: server.key(tenant), ...opts }).then(keep(method, path));
  const admin = (method, path, opts = {}) =>
    server.request(method, path, { admin: true, ...opts }).then(keep(method, path));
  const enc = encodeURIComponent;
  const csv = (text) => ({ body: text, headers: { 'content-type': 'text/csv' } });

  // Every entry of a list, following next_cursor.
  const listAll = async (query = '', via = (p) => api('GET', p)) => {
    const out = [];
    let cursor = null;
    for (let pages = 0; pages < 100; pages++) {
      const sep = query ? '&' : '';
      const r = await via(`/v1/suppressions?${query}${cursor ? `${sep}cursor=${enc(cursor)}` : ''}`);
      assert.equal(r.status, 200, r.text);
      out.push(...r.json.suppressions);
      cursor = r.json.next_cursor;
      if (cursor === null) return out;
    }
    throw new Error('paging did not end');
  };

  test('add, read, replace and delete an entry', async () => {
    const put = await api('PUT', `/v1/suppressions/${enc('Bob@Example.COM')}`, {
      json: { reason: 'complaint', detail: 'said so\non the phone' },
    });
    assert.equal(put.status, 201, put.text);
    assert.equal(put.json.address, 'bob@example.com');
    assert.equal(put.json.scope, 'tenant');
    assert.equal(put.json.reason, 'complaint');
    assert.equal(put.json.source, 'api');
    assert.equal(put.json.expires_at, null);
    assert.equal(put.json.expired, false);
    assert.equal(put.json.detail, 'said so on the phone', 'control characters are stored as spaces');
    assert.equal(put.json.message_id, null);
    assert.equal(put.json.event_id, null);
    assert.ok(Math.abs(Date.parse(put.json.created_at) - Date.now()) < 60000);

    // '@' unencoded, and any case, name the same entry.
    const get = await api('GET', '/v1/suppressions/BOB@example.com');
    assert.equal(get.status, 200, get.text);
    assert.deepEqual(get.json, put.json);

    // Replacing: 200, the defaults for what the body leaves out.
    const again = await api('PUT', '/v1/suppressions/bob%40example.com');
    assert.equal(again.status, 200, again.text);
    assert.equal(again.json.reason, 'manual');
    assert.equal(again.json.detail, '');
    const expires = new Date(Date.now() + 7 * 86400000).toISOString();
    const timed = await api('PUT', '/v1/suppressions/bob%40example.com', { json: { expires_at: expires } });
    assert.equal(timed.status, 200, timed.text);
    assert.equal(Date.parse(timed.json.expires_at), Date.parse(expires));

    // '+' in a path is a plus sign.
    const plus = await api('PUT', '/v1/suppressions/a+tag@example.com', { json: {} });
    assert.equal(plus.status, 201, plus.text);
    assert.equal(plus.json.address, 'a+tag@example.com');

    assert.equal((await api('DELETE', '/v1/suppressions/bob%40example.com')).status, 204);
    assertProblem(await api('GET', '/v1/suppressions/bob%40example.com'), 404, 'not_found');
    assertProblem(await api('DELETE', '/v1/suppressions/bob%40example.com'), 404, 'not_found');
    assert.equal((await api('DELETE', '/v1/suppressions/a+tag@example.com')).status, 204);
  });

  test('listing filters by prefix, domain and reason and pages with a cursor', async () => {
    const added = [];
    for (let i = 0; i < 25; i++) {
      const a = `user${String(i).padStart(2, '0')}@list-a.test`;
      assert.equal((await api('PUT', `/v1/suppressions/${a}`, { json: {} })).status, 201);
      added.push(a);
    }
    for (let i = 0; i < 5; i++) {
      const a = `b${i}@list-b.test`;
      assert.equal((await api('PUT', `/v1/suppressions/${a}`, { json: { reason: 'complaint' } })).status, 201);
      added.push(a);
    }
    const page = await api('GET', '/v1/suppressions?limit=10');
    assert.equal(page.status, 200);
    assert.equal(page.json.suppressions.length, 10);
    assert.equal(typeof page.json.next_cursor, 'string');

    const all = (await listAll('limit=7')).map((s) => s.address);
    assert.deepEqual(all, [...added].sort(), 'every entry once, in address order');

    const byDomain = await listAll('domain=LIST-B.test&limit=2');
    assert.deepEqual(byDomain.map((s) => s.address), ['b0@list-b.test', 'b1@list-b.test', 'b2@list-b.test', 'b3@list-b.test', 'b4@list-b.test']);
    assert.ok(byDomain.every((s) => s.reason === 'complaint' && s.scope === 'tenant'));
    const byReason = await listAll('reason=complaint');
    assert.equal(byReason.length, 5);
    const byPrefix = await listAll('address_prefix=user1');
    assert.deepEqual(byPrefix.map((s) => s.address), added.slice(10, 20));
    const none = await api('GET', '/v1/suppressions?domain=nothing-here.test');
    assert.deepEqual(none.json, { suppressions: [], next_cursor: null });

    // Expired entries (an import may carry a past expiry) are hidden unless asked for.
    const imp = await api('POST', '/v1/suppressions/import', csv('old@list-c.test,manual,2020-01-01T00:00:00Z,gone\n'));
    assert.equal(imp.status, 200, imp.text);
    assert.equal(imp.json.imported, 1);
    assert.deepEqual(await listAll('domain=list-c.test'), []);
    const expired = await listAll('domain=list-c.test&include_expired=true');
    assert.equal(expired.length, 1);
    assert.equal(expired[0].expired, true);
    assert.equal(expired[0].expires_at, '2020-01-01T00:00:00.000Z');
    assertProblem(await api('GET', '/v1/suppressions/old@list-c.test'), 404, 'not_found');
    const withExpired = await api('GET', '/v1/suppressions/old@list-c.test?include_expired=true');
    assert.equal(withExpired.status, 200);
    assert.equal(withExpired.json.expired, true);

    for (const [q, field] of [['limit=0', 'limit'], ['limit=1001', 'limit'], ['limit=ten', 'limit'],
      ['reason=bounce', 'reason'], ['cursor=zz', 'cursor'], ['include_expired=maybe', 'include_expired'],
      ['domain=a%40b.test', 'domain']]) {
      assertProblem(await api('GET', `/v1/suppressions?${q}`), 422, 'invalid_value', field);
    }
  });

  test('global entries apply to every tenant, and only the operator removes them', async () => {
    const g = await admin('PUT', '/v1/admin/suppressions/global%40example.com', { json: { reason: 'complaint', detail: 'op' } });
    assert.equal(g.status, 201, g.text);
    assert.equal(g.json.scope, 'global');
    for (const tenant of ['t', 'other']) {
      const r = await api('GET', '/v1/suppressions/global@example.com', {}, tenant);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.scope, 'global');
      assert.equal(r.json.reason, 'complaint');
    }
    // Tenants do not list the global list.
    assert.ok(!(await listAll()).some((s) => s.address === 'global@example.com'));

    const del = await api('DELETE', '/v1/suppressions/global@example.com');
    assertProblem(del, 409, 'conflict');
    assert.match(del.json.detail, /global suppression list/);
    assert.match(del.json.detail, /operator/);
    assert.equal((await admin('GET', '/v1/admin/suppressions/global@example.com')).status, 200, 'still there');

    // The tenant's own entry comes first, and deleting it shows the global one again.
    assert.equal((await api('PUT', '/v1/suppressions/global@example.com', { json: { reason: 'unsubscribe' } })).status, 201);
    assert.equal((await api('GET', '/v1/suppressions/global@example.com')).json.scope, 'tenant');
    assert.equal((await api('DELETE', '/v1/suppressions/global@example.com')).status, 204);
    assert.equal((await api('GET', '/v1/suppressions/global@example.com')).json.scope, 'global');

    const globals = await listAll('', (p) => admin('GET', p.replace('/v1/', '/v1/admin/')));
    assert.deepEqual(globals.map((s) => [s.address, s.scope]), [['global@example.com', 'global']]);
    assert.equal((await admin('DELETE', '/v1/admin/suppressions/global@example.com')).status, 204);
    assertProblem(await api('GET', '/v1/suppressions/global@example.com'), 404, 'not_found');
    assertProblem(await admin('DELETE', '/v1/admin/suppressions/global@example.com'), 404, 'not_found');
  });

  test('the admin API acts on a tenant\'s list with ?tenant=', async () => {
    const tid = server.tenantId('t');
    const put = await admin('PUT', `/v1/admin/suppressions/by-admin%40example.com?tenant=${tid}`, { json: { reason: 'manual' } });
    assert.equal(put.status, 201, put.text);
    assert.equal(put.json.scope, 'tenant');
    assert.equal((await api('GET', '/v1/suppressions/by-admin@example.com')).json.scope, 'tenant');
    assertProblem(await api('GET', '/v1/suppressions/by-admin@example.com', {}, 'other'), 404, 'not_found');
    assertProblem(await admin('GET', '/v1/admin/suppressions/by-admin@example.com'), 404, 'not_found', undefined);
    const listed = await listAll('address_prefix=by-admin', (p) => admin('GET', p.replace('/v1/', '/v1/admin/') + `&tenant=${tid}`));
    assert.deepEqual(listed.map((s) => s.address), ['by-admin@example.com']);
    assertProblem(await admin('GET', '/v1/admin/suppressions?tenant=tn_nope'), 422, 'invalid_value', 'tenant');
    assertProblem(await admin('PUT', '/v1/admin/suppressions/x@example.com?tenant=tn_nope', { json: {} }), 422, 'invalid_value', 'tenant');
    const settings = await admin('GET', `/v1/admin/suppressions/settings?tenant=${tid}`);
    assert.equal(settings.status, 200);
    assert.deepEqual(settings.json, DEFAULT_SETTINGS);
    assertProblem(await admin('GET', '/v1/admin/suppressions/settings'), 422, 'missing_field', 'tenant');
    assert.equal((await admin('DELETE', `/v1/admin/suppressions/by-admin@example.com?tenant=${tid}`)).status, 204);
    assertProblem(await api('GET', '/v1/suppressions/by-admin@example.com'), 404, 'not_found');
  });

  test('a tenant never sees or changes another tenant\'s entries', async () => {
    assert.equal((await api('PUT', '/v1/suppressions/private@example.com', { json: { detail: 'mine' } })).status, 201);
    assertProblem(await api('GET', '/v1/suppressions/private@example.com', {}, 'other'), 404, 'not_found');
    assertProblem(await api('DELETE', '/v1/suppressions/private@example.com', {}, 'other'), 404, 'not_found');
    assert.ok(!(await listAll('', (p) => api('GET', p, {}, 'other'))).some((s) => s.address === 'private@example.com'));
    const exp = await api('GET', '/v1/suppressions/export', {}, 'other');
    assert.ok(!exp.text.includes('private@example.com'));
    assert.equal((await api('GET', '/v1/suppressions/private@example.com')).status, 200, 'the owner still has it');
  });

  test('CSV import reports bad rows by line and imports the good ones', async () => {
    const file = [
      'address,reason,expires_at,detail',
      'good1@imp.test,complaint,,hello',
      'not-an-address,manual,,',
      'good2@imp.test,,2099-01-01T00:00:00Z,"a, b"',
      'good3@imp.test,bogus,,',
      '',
      'GOOD1@imp.test,unsubscribe,,last row wins',
    ].join('\r\n');
    const r = await api('POST', '/v1/suppressions/import', csv(file));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.imported, 2);
    assert.equal(r.json.failed, 2);
    assert.deepEqual(r.json.errors.map((e) => e.line), [3, 5]);
    assert.match(r.json.errors[0].message, /@/);
    assert.match(r.json.errors[1].message, /reason/);
    const g1 = await api('GET', '/v1/suppressions/good1@imp.test');
    assert.equal(g1.json.source, 'import');
    assert.equal(g1.json.reason, 'unsubscribe');
    assert.equal(g1.json.detail, 'last row wins');
    const g2 = await api('GET', '/v1/suppressions/good2@imp.test');
    assert.equal(g2.json.expires_at, '2099-01-01T00:00:00.000Z');
    assert.equal(g2.json.reason, 'manual');
    assert.equal(g2.json.detail, 'a, b');
    assertProblem(await api('GET', '/v1/suppressions/good3@imp.test'), 404, 'not_found');

    // Whole-file refusals write nothing.
    assertProblem(await api('POST', '/v1/suppressions/import', { body: 'x1@imp2.test\n', headers: { 'content-type': 'application/json' } }),
      415, 'unsupported_media_type', 'Content-Type');
    assertProblem(await api('POST', '/v1/suppressions/import', csv('address,expires\nx2@imp2.test,\n')), 422, 'invalid_value', 'csv');
    assertProblem(await api('POST', '/v1/suppressions/import', { body: Buffer.from([0x78, 0x33, 0x40, 0xff, 0x2e, 0x74, 0x0a]), headers: { 'content-type': 'text/csv' } }),
      422, 'invalid_value', 'csv');
    assert.deepEqual(await listAll('domain=imp2.test&include_expired=true'), []);
    assert.equal((await api('GET', '/v1/suppressions/import')).status, 405);

    // More than 500 rows: written in several commits, all of them there.
    const many = Array.from({ length: 1234 }, (_, i) => `m${i}@bulk.test`).join('\n');
    const bulk = await api('POST', '/v1/suppressions/import', csv(many));
    assert.equal(bulk.status, 200, bulk.text);
    assert.deepEqual(bulk.json, { imported: 1234, failed: 0, errors: [] });
    assert.equal((await listAll('domain=bulk.test&limit=1000')).length, 1234);
  });

  test('an export carries the formula guard and imports back to the same entries', async () => {
    assert.equal((await api('PUT', `/v1/suppressions/${enc('=cmd@frm.test')}`, { json: { detail: '+SUM(A1)', reason: 'complaint' } })).status, 201);
    assert.equal((await api('PUT', '/v1/suppressions/quote@frm.test', { json: { detail: 'say "hi", then\tgo' } })).status, 201);
    const exp = await api('GET', '/v1/suppressions/export');
    assert.equal(exp.status, 200, exp.text);
    assert.match(exp.headers.get('content-type'), /^text\/csv/);
    assert.match(exp.headers.get('content-disposition') ?? '', /attachment/);
    assert.equal(exp.headers.get('mailplane-next-cursor'), null, 'complete');
    const lines = exp.text.split('\r\n');
    assert.equal(lines[0], 'address,reason,source,created_at,expires_at,message_id,detail');
    assert.equal(lines.at(-1), '', 'ends with CRLF');
    const guarded = lines.find((l) => l.includes('cmd@frm.test'));
    assert.ok(guarded.startsWith("'=cmd@frm.test,complaint,api,"), guarded);
    assert.ok(guarded.endsWith(",'+SUM(A1)"), guarded);

    const mine = await listAll('include_expired=true');
    assert.equal(lines.length - 2, mine.length, 'one line per entry, expired ones too');

    // The export imports into the other tenant as the same entries.
    const back = await api('POST', '/v1/suppressions/import', csv(exp.text), 'other');
    assert.equal(back.status, 200, back.text);
    assert.deepEqual(back.json, { imported: mine.length, failed: 0, errors: [] });
    const theirs = await listAll('include_expired=true', (p) => api('GET', p, {}, 'other'));
    const key = (s) => [s.address, s.reason, s.expires_at, s.detail];
    assert.deepEqual(theirs.map(key), mine.map(key));
    assert.ok(theirs.every((s) => s.source === 'import'));
    assert.equal(theirs.find((s) => s.address === '=cmd@frm.test').detail, '+SUM(A1)');
  });

  test('settings round trip and are validated strictly', async () => {
    const get = await api('GET', '/v1/suppressions/settings');
    assert.equal(get.status, 200, get.text);
    assert.deepEqual(get.json, DEFAULT_SETTINGS);

    const put = await api('PUT', '/v1/suppressions/settings', {
      json: { auto: { complaint: { enabled: false }, bad_domain: { enabled: true, duration_days: 7 } }, use_global: false },
    });
    assert.equal(put.status, 200, put.text);
    const want = structuredClone(DEFAULT_SETTINGS);
    want.auto.complaint = { enabled: false, duration_days: null };
    want.auto.bad_domain = { enabled: true, duration_days: 7 };
    want.use_global = false;
    assert.deepEqual(put.json, want);
    assert.deepEqual((await api('GET', '/v1/suppressions/settings')).json, want);
    // Per tenant.
    assert.deepEqual((await api('GET', '/v1/suppressions/settings', {}, 'other')).json, DEFAULT_SETTINGS);

    // Without the global list, its entries neither show nor conflict.
    assert.equal((await admin('PUT', '/v1/admin/suppressions/g2@example.com', { json: {} })).status, 201);
    assertProblem(await api('GET', '/v1/suppressions/g2@example.com'), 404, 'not_found');
    assertProblem(await api('DELETE', '/v1/suppressions/g2@example.com'), 404, 'not_found');
    assert.equal((await api('GET', '/v1/suppressions/g2@example.com', {}, 'other')).json.scope, 'global');

    // Only what the body names changes; re-enabling without a duration gives the default.
    const again = await api('PUT', '/v1/suppressions/settings', { json: { auto: { complaint: { enabled: true } } } });
    assert.equal(again.status, 200, again.text);
    want.auto.complaint = { enabled: true, duration_days: null };
    assert.deepEqual(again.json, want);
    const keep = await api('PUT', '/v1/suppressions/settings', { json: { auto: { bad_domain: { enabled: true } } } });
    assert.deepEqual(keep.json, want, 'an enabled reason keeps its duration');

    const bad = [
      [{ auto: { manual: { enabled: true } } }, 'unknown_field', 'auto.manual'],
      [{ auto: { bounce: { enabled: true } } }, 'unknown_field', 'auto.bounce'],
      [{ auto: { complaint: { enabled: true, days: 3 } } }, 'unknown_field', 'auto.complaint.days'],
      [{ auto: { complaint: {} } }, 'missing_field', 'auto.complaint.enabled'],
      [{ auto: { complaint: { enabled: 'yes' } } }, 'invalid_type', 'auto.complaint.enabled'],
      [{ auto: { complaint: true } }, 'invalid_type', 'auto.complaint'],
      [{ auto: { bad_domain: { enabled: true, duration_days: 0 } } }, 'invalid_value', 'auto.bad_domain.duration_days'],
      [{ auto: { bad_domain: { enabled: true, duration_days: 3651 } } }, 'invalid_value', 'auto.bad_domain.duration_days'],
      [{ auto: { bad_domain: { enabled: true, duration_days: 1.5 } } }, 'invalid_value', 'auto.bad_domain.duration_days'],
      [{ auto: { bad_domain: { enabled: true, duration_days: '7' } } }, 'invalid_value', 'auto.bad_domain.duration_days'],
      [{ auto: [] }, 'invalid_type', 'auto'],
      [{ use_global: 1 }, 'invalid_type', 'use_global'],
      [{ colour: 'red' }, 'unknown_field', 'colour'],
      // A good change next to a bad one is not applied either.
      [{ use_global: true, auto: { bogus: { enabled: true } } }, 'unknown_field', 'auto.bogus'],
    ];
    for (const [body, code, field] of bad) {
      assertProblem(await api('PUT', '/v1/suppressions/settings', { json: body }), 422, code, field);
    }
    assertProblem(await api('PUT', '/v1/suppressions/settings', { body: '{', headers: { 'content-type': 'application/json' } }), 400, 'invalid_json');
    assert.equal((await api('POST', '/v1/suppressions/settings', { json: {} })).status, 405);
    assert.deepEqual((await api('GET', '/v1/suppressions/settings')).json, want, 'nothing changed');

    // The admin changes a tenant's settings too.
    const tid = server.tenantId('t');
    const reset = await admin('PUT', `/v1/admin/suppressions/settings?tenant=${tid}`, { json: DEFAULT_SETTINGS });
    assert.equal(reset.status, 200, reset.text);
    assert.deepEqual((await api('GET', '/v1/suppressions/settings')).json, DEFAULT_SETTINGS);
    assert.equal((await api('GET', '/v1/suppressions/g2@example.com')).json.scope, 'global');
    assert.equal((await admin('DELETE', '/v1/admin/suppressions/g2@example.com')).status, 204);
  });

  test('bad inputs get a clear error and change nothing', async () => {
    const before = await listAll('include_expired=true');
    const cases = [
      ['PUT', '/v1/suppressions/not-an-address', { json: {} }, 422, 'invalid_value', 'address'],
      ['PUT', '/v1/suppressions/a%ZZb@example.com', { json: {} }, 422, 'invalid_value', 'address'],
      ['PUT', `/v1/suppressions/${enc('"a b"@example.com')}`, { json: {} }, 422, 'invalid_value', 'address'],
      ['PUT', '/v1/suppressions/a@example', { json: {} }, 422, 'invalid_value', 'address'],
      ['PUT', '/v1/suppressions/new@bad.test', { json: { reason: 'bounce' } }, 422, 'invalid_value', 'reason'],
      ['PUT', '/v1/suppressions/new@bad.test', { json: { reason: 5 } }, 422, 'invalid_type', 'reason'],
      ['PUT', '/v1/suppressions/new@bad.test', { json: { expires_at: '2020-01-01T00:00:00Z' } }, 422, 'invalid_value', 'expires_at'],
      ['PUT', '/v1/suppressions/new@bad.test', { json: { expires_at: 'tomorrow' } }, 422, 'invalid_value', 'expires_at'],
      ['PUT', '/v1/suppressions/new@bad.test', { json: { detail: 'x'.repeat(513) } }, 422, 'invalid_value', 'detail'],
      ['PUT', '/v1/suppressions/new@bad.test', { json: { source: 'auto' } }, 422, 'unknown_field', 'source'],
      ['PUT', '/v1/suppressions/new@bad.test', { json: [] }, 422, 'invalid_type', undefined],
      ['PUT', '/v1/suppressions/new@bad.test', { body: '{', headers: { 'content-type': 'application/json' } }, 400, 'invalid_json', undefined],
      ['PUT', '/v1/suppressions/new@bad.test', { body: '{}', headers: { 'content-type': 'text/plain' } }, 415, 'unsupported_media_type', 'Content-Type'],
      ['GET', '/v1/suppressions/nope', {}, 422, 'invalid_value', 'address'],
      ['DELETE', '/v1/suppressions/nope', {}, 422, 'invalid_value', 'address'],
      ['POST', '/v1/suppressions', { json: {} }, 405, 'method_not_allowed', undefined],
      ['PATCH', '/v1/suppressions/new@bad.test', { json: {} }, 405, 'method_not_allowed', undefined],
      ['POST', '/v1/suppressions/export', {}, 405, 'method_not_allowed', undefined],
    ];
    for (const [method, path, opts, status, code, field] of cases) {
      const r = await api(method, path, opts);
      assertProblem(r, status, code, field);
      assert.ok(r.json.detail.length > 10, `a clear detail: ${r.json.detail}`);
    }
    assertProblem(await api('GET', '/v1/suppressions/new@bad.test'), 404, 'not_found');
    assert.deepEqual(await listAll('include_expired=true'), before);
  });

  test('credentials are required', async () => {
    assertProblem(await server.request('GET', '/v1/suppressions'), 401, 'unauthorized');
    assertProblem(await server.request('GET', '/v1/suppressions/export', { key: 'mp_' + '0'.repeat(64) }), 401, 'unauthorized');
    assertProblem(await server.request('PUT', '/v1/suppressions/x@example.com', { json: {} }), 401, 'unauthorized');
    assertProblem(await server.request('POST', '/v1/suppressions/import', csv('y@example.com\n')), 401, 'unauthorized');
    // A tenant key is not the admin token, and the admin token is not a tenant key.
    assertProblem(await api('GET', '/v1/admin/suppressions'), 401, 'unauthorized');
    assertProblem(await admin('GET', '/v1/suppressions'), 401, 'unauthorized');
    assertProblem(await api('GET', '/v1/suppressions/x@example.com'), 404, 'not_found');
  });

  test('the answers match docs/openapi.yaml', () => {
    const doc = YAML.parse(fs.readFileSync(`${REPO_ROOT}/docs/openapi.yaml`, 'utf8'));
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    ajv.addSchema(doc, 'openapi');
    const schema = (name) => ajv.getSchema(`openapi#/components/schemas/${name}`);
    const problems = [];
    const counts = {};
    for (const a of answers) {
      const route = a.path.split('?')[0].replace(/^\/v1\/admin\//, '/v1/');
      let name;
      if (a.status >= 400) name = 'Problem';
      else if (route === '/v1/suppressions') name = 'SuppressionList';
      else if (route === '/v1/suppressions/import') name = 'SuppressionImportResult';
      else if (route === '/v1/suppressions/settings') name = 'SuppressionSettings';
      else name = 'Suppression';
      counts[name] = (counts[name] ?? 0) + 1;
      const v = schema(name);
      if (!v(a.body)) {
        problems.push(`${a.method} ${a.path} -> ${a.status} as ${name}: ${ajv.errorsText(v.errors)}\n  ${JSON.stringify(a.body).slice(0, 300)}`);
      }
    }
    for (const name of ['Problem', 'SuppressionList', 'SuppressionImportResult', 'SuppressionSettings', 'Suppression']) {
      assert.ok(counts[name] >= 3, `only ${counts[name] ?? 0} answers checked as ${name}`);
    }
    assert.deepEqual(problems, [], problems.join('\n'));
    // Not vacuous.
    assert.equal(schema('Suppression')({ address: 'a@b.c' }), false);
    assert.equal(schema('SuppressionSettings')({ ...DEFAULT_SETTINGS, use_global: 'yes' }), false);
  });
});
