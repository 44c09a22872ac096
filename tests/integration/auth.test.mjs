// Authentication and tenant isolation; the admin API; the tenant CLI on a stopped server.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { assertProblem, runCli, sleep, startServer } from './lib/server.mjs';

const msg = (subject) => ({ from: 'a@example.com', to: 'b@example.com', subject, text: 'hi' });
const NONEXISTENT = '01ARZ3NDEKTSV4RRFFQ69G5FAV';

// The server must still be running after an admin call (see the report: admin changes have
// crashed it). Waits a moment so that a crash right after the answer is seen.
async function assertAlive(server, what) {
  await sleep(150);
  assert.ok(server.running,
    `the server died after ${what} (exit ${JSON.stringify(server.exit)}); last log lines:\n` +
      server.logs.slice(-3).join('\n'));
}

// One admin call that must answer (the fetch error otherwise says little).
async function admin(server, method, p, json) {
  let res;
  try {
    res = await server.request(method, p, { admin: true, json });
  } catch (err) {
    await sleep(150);
    assert.fail(`${method} ${p} got no answer (${err.cause?.code ?? err.message}); server exit: ` +
      `${JSON.stringify(server.exit)}; last log lines:\n${server.logs.slice(-3).join('\n')}`);
  }
  await assertAlive(server, `${method} ${p}`);
  return res;
}

describe('API keys and tenants', () => {
  let server;
  before(async () => {
    server = await startServer({ tenants: ['alpha', 'beta'], adminToken: true });
  });
  after(async () => {
    await server?.cleanup();
  });

  test('missing, wrong and malformed keys get the same 401', async () => {
    const good = server.key('alpha');
    const cases = {
      missing: {},
      wrong: { authorization: `Bearer mp_${'0'.repeat(64)}` },
      'valid key plus a character': { authorization: `Bearer ${good}0` },
      'valid key truncated': { authorization: `Bearer ${good.slice(0, -1)}` },
      'another scheme': { authorization: `Basic ${Buffer.from(`u:${good}`).toString('base64')}` },
      'no scheme': { authorization: good },
      'empty bearer': { authorization: 'Bearer ' },
      garbage: { authorization: 'Bearer \u00ff\u00fe not a key' },
      'very long': { authorization: `Bearer ${'x'.repeat(4000)}` },
      'admin token as tenant key': { authorization: `Bearer ${server.adminToken}` },
    };
    const bodies = new Set();
    for (const [name, headers] of Object.entries(cases)) {
      const res = await server.request('POST', '/v1/messages', {
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify(msg('x')),
      });
      assertProblem(res, 401, 'unauthorized');
      assert.equal(res.headers.get('www-authenticate'), 'Bearer', name);
      bodies.add(res.text);
    }
    // The other routes answer the same.
    for (const [method, p] of [['GET', `/v1/messages/${NONEXISTENT}`], ['GET', `/v1/messages/${NONEXISTENT}/raw`],
      ['DELETE', `/v1/messages/${NONEXISTENT}`], ['POST', '/v1/messages/batch']]) {
      const res = await server.request(method, p, { key: `mp_${'1'.repeat(64)}` });
      assertProblem(res, 401, 'unauthorized');
      bodies.add(res.text);
    }
    assert.equal(bodies.size, 1, `401 bodies differ:\n${[...bodies].join('\n')}`);
    assert.equal(await server.accepted('alpha'), 0);
    // And the real key works.
    const ok = await server.submit('alpha', msg('ok'));
    assert.equal(ok.status, 202, ok.text);
  });

  test("a tenant cannot read, read raw or cancel another tenant's message", async () => {
    const mine = await server.submit('alpha', msg('alpha private'));
    assert.equal(mine.status, 202);
    const id = mine.json.id;
    const nothing = {
      get: await server.getMessage('beta', NONEXISTENT),
      raw: await server.getRaw('beta', NONEXISTENT),
      del: await server.request('DELETE', `/v1/messages/${NONEXISTENT}`, { key: server.key('beta') }),
    };
    const theirs = {
      get: await server.getMessage('beta', id),
      raw: await server.getRaw('beta', id),
      del: await server.request('DELETE', `/v1/messages/${id}`, { key: server.key('beta') }),
    };
    for (const k of Object.keys(nothing)) {
      assertProblem(theirs[k], 404, 'not_found');
      assert.equal(theirs[k].text, nothing[k].text, `${k}: the answer tells the message exists`);
    }
    // Lower-case id of someone else's message: same answer.
    const lower = await server.getMessage('beta', id.toLowerCase());
    assert.equal(lower.text, nothing.get.text);
    // The message is untouched and the owner sees it.
    const still = await server.getMessage('alpha', id);
    assert.equal(still.status, 200);
    assert.equal(still.json.status, 'queued');
    assert.ok(!theirs.raw.text.includes('alpha private'));
  });

  test('the admin API needs the admin token', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong-token-wrong-token' },
      { authorization: `Bearer ${server.key('alpha')}` }, { authorization: server.adminToken }]) {
      const list = await server.request('GET', '/v1/admin/tenants', { headers });
      assertProblem(list, 401, 'unauthorized');
      const create = await server.request('POST', '/v1/admin/tenants', {
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'sneaky' }),
      });
      assertProblem(create, 401, 'unauthorized');
    }
    const list = await server.request('GET', '/v1/admin/tenants', { admin: true });
    assert.equal(list.status, 200);
    assert.deepEqual(list.json.tenants.map((t) => t.name).sort(), ['alpha', 'beta']);
  });
});

// Each admin change gets its own server, so that one failure cannot hide another.
function withServer(opts) {
  const ctx = {};
  before(async () => {
    ctx.server = await startServer(opts);
  });
  after(async () => {
    await ctx.server?.cleanup();
  });
  return ctx;
}

describe('admin API: create a tenant', () => {
  const ctx = withServer({ tenants: ['alpha'], adminToken: true });

  test('a tenant created over the admin API has a working key', async () => {
    const { server } = ctx;
    const res = await admin(server, 'POST', '/v1/admin/tenants', { name: 'newco' });
    assert.equal(res.status, 201, res.text);
    const t = res.json;
    assert.match(t.tenant_id, /^tn_[0-9a-z]{26}$/);
    assert.equal(t.name, 'newco');
    assert.equal(t.disabled, false);
    assert.match(t.api_key, /^mp_[0-9a-f]{64}$/);
    assert.equal(t.keys.length, 1);
    assert.equal(t.keys[0].key_id, t.key_id);
    assert.equal(t.keys[0].expires_at, null);
    assert.ok(!JSON.stringify(t.keys).includes(t.api_key.slice(3)), 'key material listed');

    const sent = await server.request('POST', '/v1/messages', { key: t.api_key, json: msg('from newco') });
    assert.equal(sent.status, 202, sent.text);
    const read = await server.request('GET', `/v1/messages/${sent.json.id}`, { key: t.api_key });
    assert.equal(read.status, 200);
    assertProblem(await server.getMessage('alpha', sent.json.id), 404, 'not_found');

    const one = await server.request('GET', `/v1/admin/tenants/${t.tenant_id}`, { admin: true });
    assert.equal(one.status, 200);
    assert.equal(one.json.name, 'newco');
    assert.equal(one.json.api_key, undefined, 'the key is shown again');
    const listed = await server.request('GET', '/v1/admin/tenants', { admin: true });
    assert.ok(listed.json.tenants.some((x) => x.tenant_id === t.tenant_id));
    assert.ok(!listed.text.includes(t.api_key));

    // The tenant is stored: it is there after a restart.
    await server.restart();
    const again = await server.request('GET', '/v1/admin/tenants', { admin: true });
    assert.ok(again.json.tenants.some((x) => x.tenant_id === t.tenant_id), 'newco is gone after a restart');
    assert.equal((await server.request('POST', '/v1/messages', { key: t.api_key, json: msg('x') })).status, 202);
  });

  test('invalid tenant creations are refused', async () => {
    const { server } = ctx;
    if (!server.running) await server.start();
    assertProblem(await admin(server, 'POST', '/v1/admin/tenants', { name: 'alpha' }), 409, 'conflict', 'name');
    assertProblem(await admin(server, 'POST', '/v1/admin/tenants', { name: 'bad name!' }), 422, 'invalid_value', 'name');
    assertProblem(await admin(server, 'POST', '/v1/admin/tenants', {}), 422, 'missing_field', 'name');
    assertProblem(await admin(server, 'POST', '/v1/admin/tenants', { name: 'x', plan: 'gold' }), 422, 'unknown_field', 'plan');
    assertProblem(await admin(server, 'GET', '/v1/admin/tenants/tn_nope'), 404, 'not_found');
  });
});

describe('admin API: rotate-key', () => {
  const ctx = withServer({ tenants: ['rotor'], adminToken: true });

  test('rotate-key with grace_seconds keeps the old key valid, grace_seconds 0 revokes it at once', async () => {
    const { server } = ctx;
    const id = server.tenantId('rotor');
    const k1 = server.key('rotor');
    const works = async (key) =>
      (await server.request('POST', '/v1/messages', { key, json: msg('rotation') })).status;

    const r1 = await admin(server, 'POST', `/v1/admin/tenants/${id}/rotate-key`, { grace_seconds: 3600 });
    assert.equal(r1.status, 200, r1.text);
    const k2 = r1.json.api_key;
    assert.match(k2, /^mp_[0-9a-f]{64}$/);
    assert.notEqual(k2, k1);
    assert.equal(r1.json.keys.length, 2);
    const old = r1.json.keys.find((k) => k.key_id !== r1.json.key_id);
    const expires = Date.parse(old.expires_at);
    assert.ok(Math.abs(expires - (Date.now() + 3600 * 1000)) < 60000, `old key expires at ${old.expires_at}`);
    assert.equal(await works(k1), 202, 'old key stopped working during its grace period');
    assert.equal(await works(k2), 202);

    const r2 = await admin(server, 'POST', `/v1/admin/tenants/${id}/rotate-key`, { grace_seconds: 0 });
    assert.equal(r2.status, 200, r2.text);
    const k3 = r2.json.api_key;
    assert.equal(r2.json.keys.length, 1);
    assert.equal(await works(k1), 401);
    assert.equal(await works(k2), 401);
    assert.equal(await works(k3), 202);

    // A short grace period runs out.
    const r3 = await admin(server, 'POST', `/v1/admin/tenants/${id}/rotate-key`, { grace_seconds: 1 });
    const k4 = r3.json.api_key;
    assert.equal(await works(k3), 202);
    await sleep(1300);
    assert.equal(await works(k3), 401, 'the old key outlived its grace period');
    assert.equal(await works(k4), 202);

    // No body means grace 0.
    const r4 = await admin(server, 'POST', `/v1/admin/tenants/${id}/rotate-key`);
    assert.equal(r4.status, 200, r4.text);
    assert.equal(await works(k4), 401);
    assert.equal(await works(r4.json.api_key), 202);
  });

  test('rotate-key refuses bad grace periods and unknown tenants', async () => {
    const { server } = ctx;
    if (!server.running) await server.start();
    const id = server.tenantId('rotor');
    for (const bad of [-1, 2592001, 1.5, '10']) {
      assertProblem(await admin(server, 'POST', `/v1/admin/tenants/${id}/rotate-key`, { grace_seconds: bad }),
        422, 'invalid_value', 'grace_seconds');
    }
    assertProblem(await admin(server, 'POST', '/v1/admin/tenants/tn_missing/rotate-key', {}), 404, 'not_found');
  });
});

describe('admin API: disable and enable', () => {
  const ctx = withServer({ tenants: ['alpha', 'beta'], adminToken: true });

  test('disable makes the key get 401, enable restores it', async () => {
    const { server } = ctx;
    const key = server.key('beta');
    const sent = await server.submit('beta', msg('before disable'));
    assert.equal(sent.status, 202);
    const unauthorized = (await server.request('GET', `/v1/messages/${NONEXISTENT}`, { key: 'mp_nope' })).text;

    const dis = await admin(server, 'POST', `/v1/admin/tenants/${server.tenantId('beta')}/disable`);
    assert.equal(dis.status, 200, dis.text);
    assert.equal(dis.json.disabled, true);
    for (const res of [await server.submit('beta', msg('while disabled')),
      await server.getMessage('beta', sent.json.id), await server.getRaw('beta', sent.json.id)]) {
      assertProblem(res, 401, 'unauthorized');
      assert.equal(res.text, unauthorized, 'a disabled tenant is told apart from a bad key');
    }
    const read = await server.request('GET', `/v1/admin/tenants/${server.tenantId('beta')}`, { admin: true });
    assert.equal(read.json.disabled, true);
    assert.equal((await server.submit('alpha', msg('others unaffected'))).status, 202);

    const en = await admin(server, 'POST', `/v1/admin/tenants/${server.tenantId('beta')}/enable`);
    assert.equal(en.status, 200, en.text);
    assert.equal(en.json.disabled, false);
    const back = await server.getMessage('beta', sent.json.id, { key });
    assert.equal(back.status, 200);
    assert.equal((await server.submit('beta', msg('after enable'))).status, 202);
    await assertAlive(server, 'disable and enable');
  });
});

describe('tenant CLI on a stopped server', () => {
  let server;
  before(async () => {
    server = await startServer({ tenants: ['one', 'two'] });
  });
  after(async () => {
    await server?.cleanup();
  });

  test('list, rotate-key, disable and enable change what the server accepts', async () => {
    const dd = ['--data-dir', server.dataDir];
    const k1 = server.key('one');
    const oneId = server.tenantId('one');
    const twoId = server.tenantId('two');
    const sent = await server.submit('one', msg('kept across restarts'));
    assert.equal(sent.status, 202);
    const id = sent.json.id;

    // The admin API is off without admin.token.
    assertProblem(await server.request('GET', '/v1/admin/tenants', { admin: 'anything-at-all-1234' }), 404, 'not_found');

    // While the server runs, the CLI refuses the data directory instead of corrupting it.
    const busy = runCli(['tenant', 'list', ...dd]);
    assert.equal(busy.code, 1, busy.stdout);
    assert.match(busy.stderr, /in use by a running server/);

    const stopped = await server.stop();
    assert.equal(stopped.code, 0);

    const list = runCli(['tenant', 'list', ...dd]);
    assert.equal(list.code, 0, list.stderr);
    const tenants = JSON.parse(list.stdout).tenants;
    assert.deepEqual(tenants.map((t) => [t.name, t.tenant_id, t.disabled, t.keys]).sort(),
      [['one', oneId, false, 1], ['two', twoId, false, 1]]);

    const rot = runCli(['tenant', 'rotate-key', oneId, ...dd]);
    assert.equal(rot.code, 0, rot.stderr);
    const k2 = JSON.parse(rot.stdout).api_key;
    assert.match(k2, /^mp_[0-9a-f]{64}$/);
    const rotGrace = runCli(['tenant', 'rotate-key', oneId, '--grace-seconds', '3600', ...dd]);
    assert.equal(rotGrace.code, 0, rotGrace.stderr);
    const k3 = JSON.parse(rotGrace.stdout).api_key;
    assert.equal(JSON.parse(rotGrace.stdout).grace_seconds, 3600);

    const dis = runCli(['tenant', 'disable', twoId, ...dd]);
    assert.equal(dis.code, 0, dis.stderr);
    assert.equal(JSON.parse(dis.stdout).disabled, true);
    const bad = runCli(['tenant', 'disable', 'tn_nonexistent', ...dd]);
    assert.notEqual(bad.code, 0);

    const list2 = JSON.parse(runCli(['tenant', 'list', ...dd]).stdout).tenants;
    assert.equal(list2.find((t) => t.name === 'one').keys, 2);
    assert.equal(list2.find((t) => t.name === 'two').disabled, true);

    await server.start();
    const read = (key) => server.request('GET', `/v1/messages/${id}`, { key });
    assertProblem(await read(k1), 401, 'unauthorized');
    assert.equal((await read(k2)).status, 200, 'key kept by --grace-seconds was revoked');
    assert.equal((await read(k3)).status, 200);
    assert.equal((await read(k3)).json.subject, 'kept across restarts');
    assertProblem(await server.submit('two', msg('disabled')), 401, 'unauthorized');

    assert.equal((await server.stop()).code, 0);
    const en = runCli(['tenant', 'enable', twoId, ...dd]);
    assert.equal(en.code, 0, en.stderr);
    assert.equal(JSON.parse(en.stdout).disabled, false);
    await server.start();
    assert.equal((await server.submit('two', msg('enabled again'))).status, 202);
  });
});
