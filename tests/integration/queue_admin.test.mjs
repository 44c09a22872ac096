// Queue introspection and operator actions: /v1/admin/queue (depth by status, age, tenant,
// domain, site and pool), /v1/admin/queue/messages (pages), hold, release, retry now and purge by
// id, tenant and domain, and the `mailplane queue` CLI against the running server. Mail stays
// queued because the sink answers tempfail@ with 451 and the first retry is an hour away, or
// because it is scheduled an hour ahead; slow@ keeps a message in delivery (busy) for 3 s.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import YAML from 'yaml';
import { assertProblem, BIN, REPO_ROOT, Server, sleep, startSink, waitFor } from './lib/server.mjs';

const later = (s) => new Date(Date.now() + s * 1000).toISOString();
const msg = (to, extra = {}) => ({ from: 'app@example.com', to, subject: 'q', text: 'x', ...extra });

// The answers are checked against docs/openapi.yaml too.
const doc = YAML.parse(fs.readFileSync(`${REPO_ROOT}/docs/openapi.yaml`, 'utf8'));
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema(doc, 'openapi');
function assertSchema(body, component) {
  const v = ajv.getSchema(`openapi#/components/schemas/${component}`);
  assert.ok(v, `no schema ${component}`);
  assert.ok(v(body), `${component}: ${ajv.errorsText(v.errors)}\n${JSON.stringify(body).slice(0, 400)}`);
}

// `mailplane queue ...` with a clean environment (plus env).
function queueCli(args, env = {}) {
  const clean = { ...process.env };
  delete clean.MAILPLANE_ADMIN_TOKEN;
  const r = spawnSync(BIN, ['queue', ...args], { encoding: 'utf8', timeout: 60000, env: { ...clean, ...env } });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('queue admin', () => {
  let sink;
  let server;
  before(async () => {
    sink = await startSink({ args: ['--defer-count', '1', '--slow-ms', '3000'] });
    server = await new Server({
      tenants: ['sum', 'ops', 'bulk', 'cli'],
      adminToken: true,
      config: `[delivery]
idle_seconds = 1
retry_first_seconds = 3600
retry_max_seconds = 3600
[[delivery.routes]]
domain = "*"
relay = "127.0.0.1:${sink.port}"
tls = "disabled"
`,
    }).start();
  });
  after(async () => {
    await server?.cleanup();
    await sink?.stop();
  });

  const admin = (method, p, json) => server.request(method, p, { admin: true, json });
  const act = async (action, selector) => {
    const r = await admin('POST', `/v1/admin/queue/${action}`, selector);
    assert.equal(r.status, 200, `${action} ${JSON.stringify(selector)}: ${r.text}`);
    assertSchema(r.json, 'QueueActionResult');
    return r.json;
  };
  const summary = async (query = '') => {
    const r = await admin('GET', `/v1/admin/queue${query}`);
    assert.equal(r.status, 200, r.text);
    assertSchema(r.json, 'QueueSummary');
    return r.json;
  };
  const submit = async (tenant, m) => {
    const r = await server.submit(tenant, m);
    assert.equal(r.status, 202, r.text);
    return r.json.id;
  };
  const get = async (tenant, id) => (await server.getMessage(tenant, id)).json;
  const waitStatus = (tenant, id, status, timeoutMs = 15000) =>
    waitFor(async () => {
      const m = await get(tenant, id);
      return m.status === status && m;
    }, { timeoutMs, what: `${id} ${status}` });
  const ages = (counts) => ['<1m', '1-5m', '5-30m', '30m-2h', '2-6h', '6-24h', '1-3d', '>3d']
    .map((age, i) => ({ age, messages: counts[i] ?? 0 }));

  const ids = {};
  let relaySite;

  test('summary: exact depth by status, tenant, domain, site, pool and age', async () => {
    const sum = server.tenantId('sum');
    // Deferred: both recipients answered 451, next attempt in an hour.
    ids.deferred = await submit('sum', msg(['tempfail@x.test', 'tempfail+2@y.test']));
    // Deferred with one recipient delivered: only the pending one counts.
    ids.partial = await submit('sum', msg(['success+p@x.test', 'tempfail+3@w.test']));
    // Scheduled an hour ahead: never tried, so unrouted.
    ids.scheduled = await submit('sum', msg(['success@x.test', 'success@z.test'], { send_at: later(3600) }));
    ids.held = await submit('sum', msg(['success+h@y.test'], { send_at: later(3600) }));
    await waitStatus('sum', ids.deferred, 'deferred');
    const partial = await waitStatus('sum', ids.partial, 'deferred');
    assert.deepEqual(partial.recipients.map((r) => r.status), ['delivered', 'deferred']);
    const mx = partial.recipients[1].attempts[0].mx;
    assert.ok(mx, 'a relay attempt names its host');
    // Static relay routes name their site in the attempt: relay:host:port/tls/user.
    relaySite = partial.recipients[1].attempts[0].site;
    assert.match(relaySite, new RegExp(`^relay:${mx.replace(/\./g, '\\.')}:\\d+/disabled/$`));
    assert.deepEqual(await act('hold', { id: ids.held }), { matched: 1, changed: 1, busy: 0, ids: [ids.held] });

    const s = await summary(`?tenant=${sum}`);
    assert.equal(s.tenant, sum);
    assert.equal(s.domain, null);
    assert.equal(s.messages, 4);
    assert.equal(s.recipients, 6);
    assert.equal(s.truncated, false);
    assert.deepEqual(s.by_status, { queued: 0, scheduled: 1, deferred: 2, held: 1 });
    assert.deepEqual(s.by_tenant, [{ tenant: sum, name: 'sum', messages: 4, recipients: 6 }]);
    assert.deepEqual(s.by_domain, [
      { domain: 'x.test', messages: 2, recipients: 2 },
      { domain: 'y.test', messages: 2, recipients: 2 },
      { domain: 'w.test', messages: 1, recipients: 1 },
      { domain: 'z.test', messages: 1, recipients: 1 },
    ]);
    assert.equal(s.domains, 4);
    assert.deepEqual(s.by_site, [
      { site: relaySite, messages: 2, recipients: 3 },
      { site: 'unrouted', messages: 2, recipients: 3 },
    ]);
    assert.deepEqual(s.by_pool, [
      { pool: 'none', messages: 2, recipients: 3 },
      { pool: 'unrouted', messages: 2, recipients: 3 },
    ]);
    assert.deepEqual(s.by_age, ages([4]));
    const created = await Promise.all(Object.values(ids).map(async (id) => Date.parse((await get('sum', id)).created_at)));
    assert.equal(Date.parse(s.oldest_created_at), Math.min(...created));

    // One domain: only its recipients count; the domain is compared without case.
    const y = await summary(`?tenant=${sum}&domain=Y.TEST`);
    assert.equal(y.domain, 'y.test');
    assert.equal(y.messages, 2);
    assert.equal(y.recipients, 2);
    assert.deepEqual(y.by_status, { queued: 0, scheduled: 0, deferred: 1, held: 1 });
    assert.deepEqual(y.by_domain, [{ domain: 'y.test', messages: 2, recipients: 2 }]);

    // A limit cuts the walk short and says so.
    const cut = await summary(`?tenant=${sum}&limit=1`);
    assert.equal(cut.truncated, true);
    assert.equal(cut.messages, 1);
    assert.equal(cut.scanned, 1);
    assert.equal((await summary(`?tenant=${sum}&limit=4`)).truncated, false);

    // Every tenant: the totals are the sum of the tenants' rows.
    const all = await summary();
    assert.deepEqual(all.by_tenant.find((t) => t.tenant === sum), { tenant: sum, name: 'sum', messages: 4, recipients: 6 });
    assert.equal(all.messages, all.by_tenant.reduce((a, t) => a + t.messages, 0));
    assert.equal(all.recipients, all.by_tenant.reduce((a, t) => a + t.recipients, 0));
  });

  test('messages: a page per filter, cursors, statuses', async () => {
    const sum = server.tenantId('sum');
    const r = await admin('GET', `/v1/admin/queue/messages?tenant=${sum}`);
    assert.equal(r.status, 200, r.text);
    assertSchema(r.json, 'QueueMessageList');
    assert.equal(r.json.next_cursor, null);
    const listed = r.json.messages;
    assert.deepEqual(new Set(listed.map((m) => m.id)), new Set(Object.values(ids)));
    // Queued ones first (by due time), held ones last.
    assert.equal(listed.at(-1).id, ids.held);
    const held = listed.at(-1);
    assert.equal(held.status, 'held');
    assert.equal(held.held, true);
    assert.equal(held.due_at, null);
    const deferred = listed.find((m) => m.id === ids.deferred);
    assert.equal(deferred.status, 'deferred');
    assert.ok(Date.parse(deferred.due_at) > Date.now() + 1800 * 1000, deferred.due_at);
    assert.deepEqual(deferred.recipients.map((x) => [x.domain, x.status, x.attempts_total, x.last_reply.code,
      x.last_reply.site, x.last_reply.pool]), [
      ['x.test', 'deferred', 1, 451, relaySite, 'none'],
      ['y.test', 'deferred', 1, 451, relaySite, 'none'],
    ]);
    const scheduled = listed.find((m) => m.id === ids.scheduled);
    assert.equal(scheduled.recipients[0].last_reply, null);

    // One at a time: the same messages in the same order.
    const paged = [];
    let cursor = null;
    for (let page = 0; page < 10; page++) {
      const q = `/v1/admin/queue/messages?tenant=${sum}&limit=1${cursor ? `&cursor=${cursor}` : ''}`;
      const p = await admin('GET', q);
      assert.equal(p.status, 200, p.text);
      assert.ok(p.json.messages.length <= 1);
      paged.push(...p.json.messages.map((m) => m.id));
      cursor = p.json.next_cursor;
      if (!cursor) break;
    }
    assert.equal(cursor, null);
    assert.deepEqual(paged, listed.map((m) => m.id));

    const onlyHeld = await admin('GET', `/v1/admin/queue/messages?tenant=${sum}&status=held`);
    assert.deepEqual(onlyHeld.json.messages.map((m) => m.id), [ids.held]);
    const onlyScheduled = await admin('GET', `/v1/admin/queue/messages?tenant=${sum}&status=scheduled`);
    assert.deepEqual(onlyScheduled.json.messages.map((m) => m.id), [ids.scheduled]);
    const atW = await admin('GET', `/v1/admin/queue/messages?tenant=${sum}&domain=w.test`);
    assert.deepEqual(atW.json.messages.map((m) => m.id), [ids.partial]);

    assertProblem(await admin('GET', '/v1/admin/queue/messages?status=lost'), 422, 'invalid_value', 'status');
    assertProblem(await admin('GET', '/v1/admin/queue/messages?cursor=zz'), 422, 'invalid_value', 'cursor');
    assertProblem(await admin('GET', '/v1/admin/queue/messages?limit=1001'), 422, 'invalid_value', 'limit');
  });

  test('the CLI against the running server', async () => {
    const sum = server.tenantId('sum');
    const conn = ['--url', server.baseUrl, '--token', server.adminToken];
    const table = queueCli(['summary', ...conn, '--tenant', sum]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^4 messages, 6 recipients pending, tenant tn_/);
    assert.match(table.stdout, /^held\s+1$/m);
    assert.match(table.stdout, /^deferred\s+2$/m);
    assert.match(table.stdout, /^<1m\s+4$/m);
    assert.match(table.stdout, new RegExp(`^sum \\(${sum}\\)\\s+4\\s+6$`, 'm'));
    assert.match(table.stdout, /^x\.test\s+2\s+2$/m);
    assert.match(table.stdout, /^unrouted\s+2\s+3$/m);

    const asJson = queueCli(['summary', ...conn, '--tenant', sum, '--json']);
    assert.equal(asJson.code, 0, asJson.stderr);
    const parsed = JSON.parse(asJson.stdout);
    assert.equal(parsed.messages, 4);
    assert.deepEqual(parsed.by_status, { queued: 0, scheduled: 1, deferred: 2, held: 1 });

    // The token from the environment; the address and token from the server's configuration.
    const env = queueCli(['summary', '--url', server.baseUrl, '--tenant', sum, '--json'],
      { MAILPLANE_ADMIN_TOKEN: server.adminToken });
    assert.equal(env.code, 0, env.stderr);
    const cfg = `${server.root}/cli.toml`;
    fs.writeFileSync(cfg, `[http]\nlisten = "0.0.0.0:${server.port}"\n[admin]\ntoken = "${server.adminToken}"\n`);
    const fromConfig = queueCli(['summary', '--config', cfg, '--tenant', sum, '--json']);
    assert.equal(fromConfig.code, 0, fromConfig.stderr);
    assert.equal(JSON.parse(fromConfig.stdout).messages, 4);

    const list = queueCli(['list', ...conn, '--tenant', sum]);
    assert.equal(list.code, 0, list.stderr);
    for (const id of Object.values(ids)) assert.match(list.stdout, new RegExp(id));
    assert.match(list.stdout, /^4 messages$/m);

    // Actions: a message of the cli tenant, purged by id.
    const id = await submit('cli', msg(['success@c.test'], { send_at: later(3600) }));
    const purge = queueCli(['purge', ...conn, '--id', id]);
    assert.equal(purge.code, 0, purge.stderr);
    assert.match(purge.stdout, /^purge: matched 1, changed 1, busy 0$/m);
    assert.match(purge.stdout, new RegExp(`^  ${id}$`, 'm'));
    assert.equal((await get('cli', id)).status, 'canceled');

    // API errors: exit 1 with the problem; usage errors: exit 2.
    const wrongToken = queueCli(['summary', '--url', server.baseUrl, '--token', 'wrong-token-0123456789']);
    assert.equal(wrongToken.code, 1);
    assert.match(wrongToken.stderr, /401: unauthorized: missing or invalid admin token/);
    const badDomain = queueCli(['hold', ...conn, '--domain', 'not a domain']);
    assert.equal(badDomain.code, 1);
    assert.match(badDomain.stderr, /422: invalid_value: domain must be a domain name.*\(field domain\)/);
    const unknown = queueCli(['release', ...conn, '--id', '01M87M0A540SJS95S5AJEQ2A00']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /404: not_found: no such message/);
    const refused = queueCli(['summary', '--url', 'http://127.0.0.1:1', '--token', 'x'.repeat(20)]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /cannot connect/);
    for (const args of [
      ['hold', ...conn],
      ['hold', ...conn, '--id', id, '--tenant', sum],
      ['purge', ...conn, '--bogus'],
      ['summary', '--url', 'https://127.0.0.1:1', '--token', 't'],
      ['summary', '--url', server.baseUrl],
      ['list', ...conn, '--status', 'lost'],
    ]) {
      const r = queueCli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.code} ${r.stdout} ${r.stderr}`);
    }
  });

  test('hold: nothing is delivered while held; release: delivered at once', async () => {
    const ops = server.tenantId('ops');
    const id = await submit('ops', msg(['success+hold@h.test'], { send_at: later(2) }));
    assert.deepEqual(await act('hold', { id }), { matched: 1, changed: 1, busy: 0, ids: [id] });
    assert.deepEqual(await act('hold', { id }), { matched: 1, changed: 0, busy: 0, ids: [] });
    const held = await get('ops', id);
    assert.equal(held.held, true);
    assert.equal(held.status, 'scheduled');
    await sleep(4000); // past send_at
    const still = await get('ops', id);
    assert.equal(still.status, 'scheduled');
    assert.equal(still.recipients[0].attempts_total, 0);
    assert.equal((await summary(`?tenant=${ops}`)).by_status.held, 1);
    assert.deepEqual(await act('release', { id }), { matched: 1, changed: 1, busy: 0, ids: [id] });
    const done = await waitStatus('ops', id, 'delivered', 10000);
    assert.equal(done.held, false);
    assert.deepEqual(await act('release', { id }), { matched: 0, changed: 0, busy: 0, ids: [] });
  });

  test('retry now: a deferred message is delivered at once, attempt count unchanged', async () => {
    const id = await submit('ops', msg(['defer+r@r.test']));
    const deferred = await waitStatus('ops', id, 'deferred');
    assert.equal(deferred.recipients[0].attempts_total, 1);
    assert.ok(Date.parse(deferred.recipients[0].next_attempt_at) > Date.now() + 1800 * 1000);
    const scheduled = await submit('ops', msg(['success+s@r.test'], { send_at: later(3600) }));
    const started = Date.now();
    // By domain: the deferred message is retried, the scheduled one is not.
    assert.deepEqual(await act('retry', { domain: 'r.test' }), { matched: 2, changed: 1, busy: 0, ids: [id] });
    const done = await waitStatus('ops', id, 'delivered', 10000);
    assert.ok(Date.now() - started < 10000);
    assert.equal(done.recipients[0].attempts_total, 2); // the first 451 and the retry
    assert.equal((await get('ops', scheduled)).status, 'scheduled');
    assert.deepEqual(await act('retry', { id }), { matched: 0, changed: 0, busy: 0, ids: [] });
    await act('purge', { id: scheduled });
  });

  test('purge by domain cancels only that domain\'s recipients', async () => {
    const ops = server.tenantId('ops');
    const id = await submit('ops', msg(['tempfail@p1.test', 'tempfail@p2.test', 'tempfail+b@p1.test']));
    await waitStatus('ops', id, 'deferred');
    assert.deepEqual(await act('purge', { tenant: ops, domain: 'p1.test' }), { matched: 1, changed: 1, busy: 0, ids: [id] });
    const m = await get('ops', id);
    assert.deepEqual(m.recipients.map((r) => [r.address, r.status]), [
      ['tempfail@p1.test', 'canceled'],
      ['tempfail@p2.test', 'deferred'],
      ['tempfail+b@p1.test', 'canceled'],
    ]);
    assert.equal(m.status, 'deferred');
    // Each canceled recipient has its event, as a cancel through the API writes.
    const ev = await server.request('GET', `/v1/messages/${id}/events`, { key: server.key('ops') });
    const canceled = ev.json.events.filter((e) => e.type === 'canceled').map((e) => e.recipient).sort();
    assert.deepEqual(canceled, ['tempfail+b@p1.test', 'tempfail@p1.test']);
    assert.equal((await summary(`?tenant=${ops}&domain=p1.test`)).messages, 0);
    assert.equal((await summary(`?tenant=${ops}&domain=p2.test`)).recipients, 1);
    // A domain alone selects across tenants; the last pending recipient goes, so the message
    // leaves the queue.
    assert.deepEqual(await act('purge', { domain: 'p2.test' }), { matched: 1, changed: 1, busy: 0, ids: [id] });
    assert.equal((await get('ops', id)).status, 'canceled');
    assert.equal((await summary(`?domain=p2.test`)).messages, 0);
  });

  test('hold by tenant and domain holds whole messages; purge by id and by tenant', async () => {
    const bulk = server.tenantId('bulk');
    const a = await submit('bulk', msg(['a@b1.test'], { send_at: later(3600) }));
    const b = await submit('bulk', msg(['a@b2.test'], { send_at: later(3600) }));
    const c = await submit('bulk', msg(['a@b1.test', 'a@b2.test'], { send_at: later(3600) }));
    const held = await act('hold', { tenant: bulk, domain: 'b2.test' });
    assert.deepEqual({ ...held, ids: new Set(held.ids) }, { matched: 2, changed: 2, busy: 0, ids: new Set([b, c]) });
    const whole = await get('bulk', c);
    assert.equal(whole.held, true);
    assert.deepEqual(whole.recipients.map((r) => r.status), ['scheduled', 'scheduled']);
    assert.equal((await get('bulk', a)).held, false);

    assert.deepEqual(await act('purge', { id: a }), { matched: 1, changed: 1, busy: 0, ids: [a] });
    assert.equal((await get('bulk', a)).status, 'canceled');
    assert.deepEqual(await act('purge', { id: a }), { matched: 0, changed: 0, busy: 0, ids: [] });

    const purged = await act('purge', { tenant: bulk });
    assert.deepEqual({ ...purged, ids: new Set(purged.ids) }, { matched: 2, changed: 2, busy: 0, ids: new Set([b, c]) });
    for (const id of [b, c]) {
      const m = await get('bulk', id);
      assert.equal(m.status, 'canceled');
      assert.equal(m.held, false);
    }
    const s = await summary(`?tenant=${bulk}`);
    assert.equal(s.messages, 0);
    assert.equal(s.by_status.held, 0);
    assert.deepEqual(await act('release', { tenant: bulk }), { matched: 0, changed: 0, busy: 0, ids: [] });

    // A held message canceled by its tenant (DELETE) leaves the held index too.
    const d = await submit('bulk', msg(['a@b3.test'], { send_at: later(3600) }));
    await act('hold', { id: d });
    assert.equal((await summary(`?tenant=${bulk}`)).by_status.held, 1);
    const del = await server.request('DELETE', `/v1/messages/${d}`, { key: server.key('bulk') });
    assert.equal(del.status, 200, del.text);
    assert.equal(del.json.status, 'canceled');
    assert.equal(del.json.held, false);
    const after = await summary(`?tenant=${bulk}`);
    assert.equal(after.by_status.held, 0);
    assert.equal(after.scanned, 0, 'the held index entry is gone');
  });

  test('a message being delivered is left alone and reported busy', async () => {
    const id = await submit('ops', msg(['slow@s.test']));
    await sleep(1000); // the sink holds the end of data for 3 s
    const r = await act('hold', { id });
    if (r.changed) await act('release', { id }); // not busy after all: let it go before failing
    assert.deepEqual(r, { matched: 1, changed: 0, busy: 1, ids: [] });
    const done = await waitStatus('ops', id, 'delivered', 10000);
    assert.equal(done.held, false);
  });

  test('bad selectors and queries are refused with a specific error', async () => {
    const post = (action, body, opts = {}) => server.request('POST', `/v1/admin/queue/${action}`, { admin: true, ...opts, json: body });
    assertProblem(await post('hold', {}), 422, 'missing_field');
    assertProblem(await post('hold', undefined), 422, 'missing_field');
    assertProblem(await post('purge', { id: '01M87M0A540SJS95S5AJEQ2A00', tenant: server.tenantId('ops') }), 422, 'invalid_value', 'id');
    assertProblem(await post('purge', { id: 'nope' }), 422, 'invalid_value', 'id');
    assertProblem(await post('release', { id: '01M87M0A540SJS95S5AJEQ2A00' }), 404, 'not_found', 'id');
    assertProblem(await post('retry', { tenant: 'tn_nope' }), 422, 'invalid_value', 'tenant');
    assertProblem(await post('retry', { domain: 5 }), 422, 'invalid_type', 'domain');
    assertProblem(await post('retry', { domain: '' }), 422, 'invalid_value', 'domain');
    assertProblem(await post('hold', { domain: 'bad domain' }), 422, 'invalid_value', 'domain');
    assertProblem(await post('hold', { domain: 'x@y.test' }), 422, 'invalid_value', 'domain');
    assertProblem(await post('hold', { tenant: server.tenantId('ops'), status: 'deferred' }), 422, 'unknown_field', 'status');
    assertProblem(await post('hold', [1]), 422, 'invalid_type');
    assertProblem(await server.request('POST', '/v1/admin/queue/hold',
      { admin: true, body: '{', headers: { 'content-type': 'application/json' } }), 400, 'invalid_json');
    assertProblem(await server.request('POST', '/v1/admin/queue/hold',
      { admin: true, body: '{}', headers: { 'content-type': 'text/plain' } }), 415, 'unsupported_media_type');
    assertProblem(await server.request('POST', '/v1/admin/queue/hold', { json: { domain: 'x.test' } }), 401, 'unauthorized');
    assertProblem(await admin('GET', '/v1/admin/queue/hold'), 405, 'method_not_allowed');
    assertProblem(await admin('POST', '/v1/admin/queue', {}), 405, 'method_not_allowed');
    assertProblem(await admin('POST', '/v1/admin/queue/flush', {}), 404, 'not_found');
    assertProblem(await admin('GET', '/v1/admin/queue?limit=0'), 422, 'invalid_value', 'limit');
    assertProblem(await admin('GET', '/v1/admin/queue?tenant=tn_nope'), 422, 'invalid_value', 'tenant');
    assertProblem(await admin('GET', '/v1/admin/queue?domain=a%20b'), 422, 'invalid_value', 'domain');
    // Nothing was changed by any of them.
    assert.equal((await summary(`?tenant=${server.tenantId('sum')}`)).messages, 4);
  });
});
