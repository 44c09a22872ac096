// Egress: sources, pools and routing rules end to end. One `mailplane sink` plays five MX hosts
// (127.0.0.31-35, one port) and counts what arrives per client address; the sources bind
// 127.0.0.21 (a1), 127.0.0.22 (a2) and 127.0.0.23 (b1), so the sink's by_peer table says which
// source, and so which pool, carried each message. dnsmasq gives each test domain its own MX host,
// so each test has its own destination site; tests/peers/smtp_peer.py on 127.0.0.36 records the
// EHLO name of each connection. Checked: the weighted split over 10,000 messages; pool, source and
// site in every attempt; a rule added and removed through the admin API while the server runs
// (history, resolve; bad input changes nothing); a tenant's own rules first; automatic failover
// (quarantine, probes, release); pins; every pool of a rule quarantined (451 4.4.5, never a
// bounce); shaping (an operator rule's rate; slowing down on 421 4.7.28, also with a 1 s
// recovery step); a backlog waiting at a site whose pool is quarantined goes to the other pool.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { assertProblem, makeTempDir, removeDir, sleep, startServer, waitFor } from './lib/server.mjs';
import { freePort, openControl, startMultiSink, startDns, startSmtpPeer } from './lib/peers.mjs';

const A1 = '127.0.0.21';
const A2 = '127.0.0.22';
const B1 = '127.0.0.23';
const MX = {
  split: '127.0.0.31', // weighted split, attempt fields
  live: '127.0.0.32', // rules changed through the API
  fo: '127.0.0.33', // failover and pins
  allq: '127.0.0.34', // every pool quarantined
  shape: '127.0.0.35', // shaping
};
const EHLO_MX = '127.0.0.36'; // smtp_peer.py: records each connection's address and EHLO name

const COOLDOWN_S = 3;
const MIN_SAMPLES = 10;

const ZERO = { connections: 0, messages: 0, rcpts: 0, refused: 0 };
// Counter changes of one address between two stats lines (table: by_peer or by_local).
function delta(s0, s1, table, ip) {
  const b = s0[table][ip] ?? ZERO;
  const a = s1[table][ip] ?? ZERO;
  return Object.fromEntries(Object.keys(ZERO).map((k) => [k, a[k] - b[k]]));
}

const isFinal = (m) => ['delivered', 'bounced', 'partially_delivered'].includes(m.status);

describe('egress: sources, pools, rules, failover and shaping', () => {
  let dir;
  let dns;
  let sink;
  let ctl;
  let ehloPeer;
  let server;
  let tenantId;
  let config; // the server's configuration, given egress.shaping.recover_seconds

  before(async () => {
    dir = makeTempDir('mailplane-egress-');
    const port = await freePort(MX.split);
    sink = await startMultiSink(Object.values(MX).map((ip) => `${ip}:${port}`));
    ctl = await openControl(sink.controlPort);
    ehloPeer = await startSmtpPeer({ ip: EHLO_MX, port });
    const mx = Object.entries(MX).map(([name, ip]) => ({ domain: `${name}.test`, host: `mx.${name}.test`, ip }));
    mx.push({ domain: 'ehlo.test', host: 'mx.ehlo.test', ip: EHLO_MX });
    mx.push({ domain: 'throttle.test', host: 'mx.throttle.test', ip: MX.shape });
    mx.push({ domain: 'fo2.test', host: 'mx.fo2.test', ip: MX.fo });
    dns = await startDns({
      ttl: 300,
      records: {
        mx: mx.map((m) => ({ domain: m.domain, host: m.host })),
        a: mx.map((m) => ({ name: m.host, ip: m.ip })),
      },
    });
    // The operator's shaping rules: b1 may send 10 messages a second to shape.test, and 40 to
    // throttle.test (where the sink will answer 421 4.7.28 to make it slow down).
    const rulesFile = `${dir}/shaping.toml`;
    fs.writeFileSync(rulesFile, `[[site]]
mx = "mx.shape.test"
source = "b1"
max_connections = 2
max_messages_per_second = 10

[[site]]
mx = "*.throttle.test"
source = "b1"
max_connections = 4
max_messages_per_second = 40
`);
    config = (recoverSeconds) => `[dns]
servers = ["${dns.server}"]
timeout_ms = 500
tries = 1
[delivery]
port = ${port}
helo_name = "mailplane.test"
tls = "disabled"
max_connections_per_site = 8
idle_seconds = 1
retry_first_seconds = 1
retry_multiplier = 2.0
retry_max_seconds = 2
retry_jitter = 0

[[egress.sources]]
name = "a1"
bind = "${A1}"
ehlo = "a1.test"
[[egress.sources]]
name = "a2"
bind = "${A2}"
ehlo = "a2.test"
[[egress.sources]]
name = "b1"
bind = "${B1}"
ehlo = "b1.test"

[[egress.pools]]
name = "pa"
sources = { a1 = 1, a2 = 1 }
[[egress.pools]]
name = "pb"
sources = { b1 = 1 }
[[egress.pools]]
name = "fa"
sources = { a1 = 1 }
[[egress.pools]]
name = "fb"
sources = { b1 = 1 }
[[egress.pools]]
name = "qa"
sources = { a1 = 1 }
[[egress.pools]]
name = "qb"
sources = { b1 = 1 }
[[egress.pools]]
name = "ps"
sources = { b1 = 1 }

[[egress.rules]]
id = "default"
tenant = "*"
destination = "*"
pools = { pa = 70, pb = 30 }
[[egress.rules]]
id = "fo"
destination = "fo.test"
pools = { fa = 70, fb = 30 }
[[egress.rules]]
id = "fo2"
destination = "fo2.test"
pools = { fa = 70, fb = 30 }
[[egress.rules]]
id = "allq"
destination = "allq.test"
pools = { qa = 1, qb = 1 }
[[egress.rules]]
id = "shape"
destination = "*.shape.test"
pools = { ps = 1 }
[[egress.rules]]
id = "throttle"
destination = "throttle.test"
pools = { ps = 1 }

[egress.failover]
enabled = true
window_seconds = 60
min_samples = ${MIN_SAMPLES}
threshold = 0.3
cooldown_seconds = ${COOLDOWN_S}
probes = 2

[egress.shaping]
rules_file = "${rulesFile}"
decrease = 0.5
min_rate = 2
recover_seconds = ${recoverSeconds}
`;
    server = await startServer({ tenants: ['t'], adminToken: true, config: config(2) });
    tenantId = server.tenantId('t');
  });

  after(async () => {
    ctl?.close();
    try {
      await server?.cleanup();
    } finally {
      const exit = await sink?.stop();
      await ehloPeer?.stop();
      await dns?.stop();
      removeDir(dir);
      assert.equal(exit?.code, 0, `sink exit: ${JSON.stringify(exit)} ${sink?.stderr}`);
    }
  });

  const admin = (method, p, opts = {}) => server.request(method, p, { admin: true, ...opts });

  // Submits n one-recipient messages to domain, 1000 a request; returns their ids.
  async function sendMany(domain, n, tag = 'm') {
    const ids = [];
    for (let start = 0; start < n; start += 1000) {
      const messages = [];
      for (let i = start; i < Math.min(n, start + 1000); i++) {
        messages.push({ from: 'app@example.com', to: `user+${tag}${i}@${domain}`, subject: `egress ${tag}`, text: 'x' });
      }
      const r = await server.request('POST', '/v1/messages/batch', { key: server.key('t'), json: { messages } });
      assert.equal(r.status, 202, r.text);
      assert.equal(r.json.accepted, messages.length, r.text);
      for (const res of r.json.results) ids.push(res.id);
    }
    return ids;
  }

  async function getMessage(id) {
    const r = await server.getMessage('t', id);
    assert.equal(r.status, 200, r.text);
    return r.json;
  }

  async function until(id, pred, what, timeoutMs = 20000) {
    return waitFor(async () => {
      const m = await getMessage(id);
      return pred(m) && m;
    }, { timeoutMs, intervalMs: 50, what: `${id}: ${what}` });
  }

  // Waits until the sink has accepted n more messages on local address ip than in s0; returns the
  // stats line then.
  function waitArrived(s0, ip, n, timeoutMs = 30000) {
    return waitFor(async () => {
      const s = await ctl.stats();
      return delta(s0, s, 'by_local', ip).messages >= n && s;
    }, { timeoutMs, intervalMs: 100, what: `${n} messages at ${ip}` });
  }

  async function health(site, pool) {
    const r = await admin('GET', '/v1/admin/egress/health');
    assert.equal(r.status, 200, r.text);
    return r.json.states.find((s) => s.site === site && s.pool === pool);
  }

  async function events(site, pool) {
    const r = await admin('GET', '/v1/admin/egress/events?limit=1000');
    assert.equal(r.status, 200, r.text);
    return r.json.events.filter((e) => e.site === site && e.pool === pool).reverse(); // oldest first
  }

  async function resolve(domain) {
    const r = await admin('GET', `/v1/admin/routes/resolve?tenant=${tenantId}&domain=${domain}`);
    assert.equal(r.status, 200, r.text);
    return r.json;
  }

  async function pin(pool, site, how) {
    const r = await admin('POST', '/v1/admin/egress/health/pin', { json: { pool, site, pin: how } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { pool, site, pin: how });
  }

  test('10,000 messages split 70/30 between two pools, and evenly between the sources of a pool', async () => {
    const n = 10000;
    const s0 = await ctl.stats();
    const t0 = Date.now();
    const ids = await sendMany('split.test', n, 's');
    const s1 = await waitArrived(s0, MX.split, n, 90000);
    const took = Date.now() - t0;
    const by = Object.fromEntries([A1, A2, B1].map((ip) => [ip, delta(s0, s1, 'by_peer', ip).messages]));
    console.log(`# ${n} messages in ${took} ms: a1 ${by[A1]}, a2 ${by[A2]}, b1 ${by[B1]}`);
    assert.equal(delta(s0, s1, 'by_local', MX.split).messages, n, 'each message arrives once');
    assert.equal(by[A1] + by[A2] + by[B1], n, 'every message came from a source address');
    const pa = by[A1] + by[A2];
    assert.ok(Math.abs(pa / n - 0.7) <= 0.02, `pool pa carried ${pa} of ${n}`);
    assert.ok(Math.abs(by[B1] / n - 0.3) <= 0.02, `pool pb carried ${by[B1]} of ${n}`);
    assert.ok(Math.abs(by[A1] / pa - 0.5) <= 0.02, `a1 carried ${by[A1]} of pa's ${pa}`);
    assert.ok(Math.abs(by[A2] / pa - 0.5) <= 0.02, `a2 carried ${by[A2]} of pa's ${pa}`);

    // Every attempt says which pool, source and site it went through (a sample).
    const seen = { pa: 0, pb: 0 };
    for (const id of ids.slice(0, 50)) {
      const m = await until(id, (j) => j.status === 'delivered', 'delivered');
      const [a] = m.recipients[0].attempts;
      assert.equal(m.recipients[0].attempts.length, 1);
      assert.equal(a.code, 250);
      assert.equal(a.mx, 'mx.split.test');
      assert.equal(a.ip, MX.split);
      assert.equal(a.site, 'mx:mx.split.test');
      assert.ok(['pa', 'pb'].includes(a.pool), JSON.stringify(a));
      assert.ok(a.pool === 'pa' ? ['a1', 'a2'].includes(a.source) : a.source === 'b1', JSON.stringify(a));
      seen[a.pool] += 1;
    }
    assert.ok(seen.pa > 0 && seen.pb > 0, JSON.stringify(seen));
  });

  test('each attempt records pool, source and site; a direct source connects from its address with its EHLO name', async () => {
    const ids = await sendMany('ehlo.test', 20, 'e');
    await ehloPeer.waitForMessages(20, 20000);
    const expected = { [A1]: ['a1.test', 'a1', 'pa'], [A2]: ['a2.test', 'a2', 'pa'], [B1]: ['b1.test', 'b1', 'pb'] };
    const conns = ehloPeer.connections();
    assert.ok(conns.length >= 3, `${conns.length} connections`);
    for (const c of conns) {
      assert.ok(expected[c.peer.address], `a connection from ${c.peer.address}`);
      assert.equal(c.ehlo, expected[c.peer.address][0], `EHLO from ${c.peer.address}`);
    }
    // Every source was used, and the attempts name the source the peer saw.
    assert.deepEqual(new Set(conns.map((c) => c.peer.address)), new Set([A1, A2, B1]));
    const bySource = {};
    for (const id of ids) {
      const m = await until(id, (j) => j.status === 'delivered', 'delivered');
      const a = m.recipients[0].attempts.at(-1);
      assert.equal(a.site, 'mx:mx.ehlo.test');
      assert.equal(a.mx, 'mx.ehlo.test');
      assert.equal(a.ip, EHLO_MX);
      const [, source, pool] = Object.values(expected).find(([, s]) => s === a.source) ?? [];
      assert.equal(a.source, source, JSON.stringify(a));
      assert.equal(a.pool, pool, JSON.stringify(a));
      bySource[a.source] = (bySource[a.source] ?? 0) + 1;
    }
    // 20 messages: 14 through pa (7 + 7), 6 through pb.
    assert.deepEqual(bySource, { a1: 7, a2: 7, b1: 6 });
    const received = {};
    for (const t of ehloPeer.received()) {
      const c = conns.find((x) => x.id === t.conn);
      received[c.peer.address] = (received[c.peer.address] ?? 0) + 1;
    }
    assert.deepEqual(received, { [A1]: 7, [A2]: 7, [B1]: 6 });
  });

  test('a rule added, used and removed through the admin API while the server runs', async () => {
    const v0 = (await admin('GET', '/v1/admin/routes')).json.version;
    const before = await resolve('live.test');
    assert.equal(before.rule.id, 'default');
    assert.equal(before.why, 'every tenant, default');
    assert.deepEqual(before.mx, ['mx.live.test']);
    assert.equal(before.site, 'mx:mx.live.test');
    assert.deepEqual(before.pools.map((p) => [p.pool, p.weight, p.effective_share]), [['pa', 70, 0.7], ['pb', 30, 0.3]]);

    // Everything for live.test through pool pb.
    const body = { tenant: '*', destination: 'live.test', pools: { pb: 1 } };
    let r = await admin('PUT', '/v1/admin/routes/live-pb', { json: body, headers: { 'x-mailplane-actor': 'ops@example.com' } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { version: v0 + 1, kind: 'rule', name: 'live-pb', deleted: false });
    r = await admin('GET', '/v1/admin/routes/live-pb');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { id: 'live-pb', ...body, origin: 'api', version: v0 + 1 });
    const during = await resolve('live.test');
    assert.equal(during.version, v0 + 1);
    assert.equal(during.rule.id, 'live-pb');
    assert.equal(during.why, 'every tenant, exact domain live.test');
    assert.deepEqual(during.pools.map((p) => [p.pool, p.weight, p.state, p.eligible, p.effective_share]),
      [['pb', 1, 'healthy', true, 1]]);
    assert.equal(during.all_quarantined, false);

    let s0 = await ctl.stats();
    const ids = await sendMany('live.test', 200, 'l');
    let s1 = await waitArrived(s0, MX.live, 200);
    assert.equal(delta(s0, s1, 'by_peer', B1).messages, 200, 'all 200 from b1 (127.0.0.23)');
    assert.equal(delta(s0, s1, 'by_peer', A1).connections + delta(s0, s1, 'by_peer', A2).connections, 0,
      'pool pa did not even connect');
    const m = await until(ids[0], (j) => j.status === 'delivered', 'delivered');
    assert.equal(m.recipients[0].attempts[0].pool, 'pb');
    assert.equal(m.recipients[0].attempts[0].source, 'b1');

    // The history names the change, who made it, and the rule before and after.
    r = await admin('GET', '/v1/admin/routes/history?limit=1');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.changes.length, 1);
    const put = r.json.changes[0];
    assert.equal(put.version, v0 + 1);
    assert.equal(put.actor, 'ops@example.com');
    assert.equal(put.op, 'put');
    assert.equal(put.kind, 'rule');
    assert.equal(put.name, 'live-pb');
    assert.equal(put.before, null);
    assert.deepEqual(put.after, { id: 'live-pb', ...body, origin: 'api' });
    assert.ok(Math.abs(Date.parse(put.at) - Date.now()) < 60000, put.at);

    // Removed again: the default rule applies at once.
    r = await admin('DELETE', '/v1/admin/routes/live-pb', { headers: { 'x-mailplane-actor': 'ops2@example.com' } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { version: v0 + 2, kind: 'rule', name: 'live-pb', deleted: true });
    assertProblem(await admin('GET', '/v1/admin/routes/live-pb'), 404, 'not_found');
    r = await admin('GET', '/v1/admin/routes/history?limit=10');
    const [del, put2] = r.json.changes;
    assert.deepEqual([del.version, del.actor, del.op, del.name, del.after], [v0 + 2, 'ops2@example.com', 'delete', 'live-pb', null]);
    assert.deepEqual(del.before, { id: 'live-pb', ...body, origin: 'api' });
    assert.deepEqual(put2, put);
    r = await admin('GET', `/v1/admin/routes/history?limit=1&before=${v0 + 2}`);
    assert.deepEqual(r.json.changes, [put]);
    const afterDelete = await resolve('live.test');
    assert.equal(afterDelete.version, v0 + 2);
    assert.equal(afterDelete.rule.id, 'default');

    s0 = await ctl.stats();
    await sendMany('live.test', 100, 'l2');
    s1 = await waitArrived(s0, MX.live, 100);
    const pa = delta(s0, s1, 'by_peer', A1).messages + delta(s0, s1, 'by_peer', A2).messages;
    assert.ok(Math.abs(pa - 70) <= 2, `pool pa carried ${pa} of 100 after the rule was removed`);
    assert.equal(delta(s0, s1, 'by_peer', B1).messages, 100 - pa);
  });

  test('bad changes are refused with a problem naming the reason, and change nothing', async () => {
    const table = async () => {
      const r = await admin('GET', '/v1/admin/egress');
      assert.equal(r.status, 200, r.text);
      return r.json;
    };
    const t0 = await table();
    const top = async () => (await admin('GET', '/v1/admin/routes/history?limit=1')).json.changes[0]?.version ?? 0;
    const h0 = await top();
    const cases = [
      ['PUT', '/v1/admin/routes/x', { destination: 'x.test', pools: { nope: 1 } }, 422, 'invalid_value', 'pools', /pool nope/],
      ['PUT', '/v1/admin/routes/x', { destination: 'x.test', pools: { pb: 1 }, weight: 3 }, 422, 'unknown_field', 'weight', /weight/],
      ['PUT', '/v1/admin/routes/x', { destination: 'Not a domain!', pools: { pb: 1 } }, 422, 'invalid_value', 'destination', /destination/],
      ['PUT', '/v1/admin/routes/x', { destination: 'x.test', pools: { pb: -1 } }, 422, 'invalid_value', 'pools', /weights/],
      ['PUT', '/v1/admin/routes/x', { destination: 'x.test', pools: { pb: 0 } }, 422, 'invalid_value', 'pools', /positive weight/],
      ['PUT', '/v1/admin/routes/x', { destination: 'x.test' }, 422, 'invalid_value', 'pools', /pools/],
      ['PUT', '/v1/admin/routes/x', { id: 'y', destination: 'x.test', pools: { pb: 1 } }, 422, 'invalid_value', 'id', /match the path/],
      // Another rule already covers (every tenant, fo.test).
      ['PUT', '/v1/admin/routes/x', { destination: 'fo.test', pools: { pb: 1 } }, 409, 'conflict', 'destination', /fo\.test/],
      // Items of the configuration file are read-only here.
      ['PUT', '/v1/admin/routes/default', { destination: '*', pools: { pb: 1 } }, 409, 'conflict', undefined, /configuration file/],
      ['DELETE', '/v1/admin/routes/default', undefined, 409, 'conflict', undefined, /configuration file/],
      ['PUT', '/v1/admin/egress/pools/pa', { sources: { b1: 1 } }, 409, 'conflict', undefined, /configuration file/],
      ['DELETE', '/v1/admin/egress/sources/a1', undefined, 409, 'conflict', undefined, /configuration file/],
      ['PUT', '/v1/admin/egress/pools/px', { sources: { zz: 1 } }, 422, 'invalid_value', 'sources', /source zz/],
      ['PUT', '/v1/admin/egress/sources/sx', { bind: 'not-an-ip' }, 422, 'invalid_value', 'bind', /bind/],
      ['PUT', '/v1/admin/egress/sources/sx', { kind: 'relay' }, 422, 'missing_field', 'relay', /relay/],
      ['PUT', '/v1/admin/egress/sources/sx', { relay: '127.0.0.1:25', bind: '127.0.0.1' }, 422, 'invalid_value', 'relay', /relay/],
      ['DELETE', '/v1/admin/routes/nosuch', undefined, 404, 'not_found', undefined, /no such rule/],
    ];
    for (const [method, path, body, status, code, field, detail] of cases) {
      const r = await admin(method, path, body === undefined ? {} : { json: body });
      assertProblem(r, status, code, field);
      assert.match(r.json.detail, detail, `${method} ${path} ${JSON.stringify(body)}: ${r.text}`);
    }
    const raw = await admin('PUT', '/v1/admin/routes/x', { body: '{"pools":', headers: { 'content-type': 'application/json' } });
    assertProblem(raw, 400, 'invalid_json');
    assert.deepEqual(await table(), t0, 'the table is unchanged');
    assert.equal(await top(), h0, 'no history record');

    // A pool still named by a rule cannot be removed (the change would leave the rule dangling).
    let r = await admin('PUT', '/v1/admin/egress/pools/pz', { json: { sources: { b1: 1 } } });
    assert.equal(r.status, 200, r.text);
    r = await admin('PUT', '/v1/admin/routes/z', { json: { destination: 'z.test', pools: { pz: 1 } } });
    assert.equal(r.status, 200, r.text);
    const v = r.json.version;
    r = await admin('DELETE', '/v1/admin/egress/pools/pz');
    assertProblem(r, 422, 'invalid_value', 'pools');
    assert.match(r.json.detail, /rule z names pool pz/);
    assert.equal((await table()).version, v);
    assert.equal((await admin('DELETE', '/v1/admin/routes/z')).status, 200);
    assert.equal((await admin('DELETE', '/v1/admin/egress/pools/pz')).status, 200);
    assert.equal((await table()).version, v + 2);
    // Without the admin token, nothing.
    assertProblem(await server.request('GET', '/v1/admin/routes'), 401, 'unauthorized');
    assertProblem(await server.request('PUT', '/v1/admin/routes/x', { key: server.key('t'), json: { pools: { pb: 1 } } }), 401, 'unauthorized');
  });

  test('failover: a blocked pool is quarantined for the site, the other takes the mail, probes release it', async () => {
    const site = 'mx:mx.fo.test';
    await ctl.mode(`block peer ${A1} local ${MX.fo}`);
    // One message at a time until the pool is quarantined: exactly min_samples bounce.
    let bounced = 0;
    let delivered = 0;
    for (let i = 0; i < 40 && (await health(site, 'fa'))?.state !== 'quarantined'; i++) {
      const [id] = await sendMany('fo.test', 1, `q${i}-`);
      const m = await until(id, isFinal, 'final');
      const a = m.recipients[0].attempts[0];
      if (m.status === 'bounced') {
        bounced += 1;
        assert.deepEqual([a.pool, a.source, a.code, a.enhanced_code], ['fa', 'a1', 550, '5.7.1'], JSON.stringify(a));
        assert.match(a.text, /blocked/);
      } else {
        delivered += 1;
        assert.deepEqual([m.status, a.pool, a.source], ['delivered', 'fb', 'b1'], JSON.stringify(m));
      }
    }
    const h = await health(site, 'fa');
    assert.equal(h?.state, 'quarantined', JSON.stringify(h));
    assert.equal(bounced, MIN_SAMPLES, `${bounced} bounced, ${delivered} delivered before the quarantine`);
    assert.ok(Math.abs(delivered - Math.round((bounced * 30) / 70)) <= 1, `${delivered} delivered through fb`);
    assert.deepEqual([h.outcomes, h.bad], [MIN_SAMPLES, MIN_SAMPLES]);
    const quarantineEnd = Date.parse(h.quarantined_until);
    assert.ok(quarantineEnd > Date.now() && quarantineEnd <= Date.now() + COOLDOWN_S * 1000, h.quarantined_until);
    const [q] = await events(site, 'fa');
    assert.deepEqual([q.from, q.to], ['healthy', 'quarantined']);
    assert.match(q.reason, /^10 of 10 outcomes bad, last: Service unavailable, client host \[127\.0\.0\.21\] blocked/);
    const res = await resolve('fo.test');
    assert.equal(res.rule.id, 'fo');
    assert.deepEqual(res.pools.map((p) => [p.pool, p.state, p.eligible, p.effective_share]),
      [['fa', 'quarantined', false, 0], ['fb', 'healthy', true, 1]]);
    assert.equal(res.all_quarantined, false);
    assert.equal((await health(site, 'fb')).state, 'healthy');
    // Other sites are not affected: a1 still takes its share of other mail.
    assert.equal((await resolve('split.test')).pools[0].eligible, true);

    // Mail sent meanwhile goes through fb only (the block is still on: none bounces).
    let s0 = await ctl.stats();
    const ids = await sendMany('fo.test', 30, 'after');
    let s1 = await waitArrived(s0, MX.fo, 30);
    assert.equal(delta(s0, s1, 'by_peer', B1).messages, 30);
    for (const id of ids) {
      const m = await getMessage(id);
      const a = m.recipients[0].attempts[0];
      assert.equal(m.status, 'delivered', JSON.stringify(m));
      assert.ok(Date.parse(a.at) < quarantineEnd, `sent during the quarantine: ${a.at} vs ${h.quarantined_until}`);
      assert.equal(a.pool, 'fb');
    }
    assert.deepEqual(delta(s0, s1, 'by_peer', A1), ZERO, 'a1 did not connect to the quarantined site');

    // The block is lifted; after the cool-down, probes go through fa and release it.
    await ctl.mode(`normal peer ${A1} local ${MX.fo}`);
    const trickle = [];
    await waitFor(async () => {
      trickle.push(...(await sendMany('fo.test', 1, `p${trickle.length}-`)));
      return (await health(site, 'fa')).state === 'healthy';
    }, { timeoutMs: (COOLDOWN_S + 15) * 1000, intervalMs: 100, what: 'fa to be released' });
    for (const id of trickle) {
      const m = await until(id, isFinal, 'final');
      assert.equal(m.status, 'delivered', JSON.stringify(m));
    }
    const evs = (await events(site, 'fa')).map((e) => [e.from, e.to, e.reason]);
    assert.deepEqual(evs.slice(0, 3), [
      ['healthy', 'quarantined', q.reason],
      ['quarantined', 'probing', 'cool-down over: probing'],
      ['probing', 'healthy', '2 probes succeeded'],
    ]);
    // The same transitions are events in the operator's stream, durable like every event.
    const logged = (await admin('GET', '/v1/admin/events')).json.events
      .filter((e) => e.pool === 'fa' && e.site === site).map((e) => e.type);
    assert.deepEqual(logged.slice(-2), ['pool_quarantined', 'pool_released']);

    // Back to the 70/30 split.
    s0 = await ctl.stats();
    await sendMany('fo.test', 100, 'back');
    s1 = await waitArrived(s0, MX.fo, 100);
    const viaA1 = delta(s0, s1, 'by_peer', A1).messages;
    assert.ok(viaA1 >= 66 && viaA1 <= 74, `fa carried ${viaA1} of 100 once released`);
  });

  test('failover: mail already queued for a pool when it is quarantined goes through the other pool', {
  }, async () => {
    // 200 messages at once: 140 are queued for fa before any reply. Once fa is quarantined (after
    // 10 bounces), only the transactions already under way (at most 8 connections) may still
    // hit the block; the rest should go through fb.
    await ctl.mode(`block peer ${A1} local ${MX.fo}`);
    try {
      const ids = await sendMany('fo2.test', 200, 'backlog');
      let bounced = 0;
      for (const id of ids) {
        if ((await until(id, isFinal, 'final')).status === 'bounced') bounced += 1;
      }
      assert.equal((await health('mx:mx.fo2.test', 'fa'))?.state, 'quarantined');
      assert.ok(bounced <= MIN_SAMPLES + 8, `${bounced} of 200 bounced on the block`);
    } finally {
      await ctl.mode(`normal peer ${A1} local ${MX.fo}`);
    }
  });

  test("a tenant's own rule comes before the rules for every tenant", async () => {
    let r = await admin('PUT', '/v1/admin/routes/t-own', { json: { tenant: tenantId, destination: '*', pools: { pb: 1 } } });
    assert.equal(r.status, 200, r.text);
    try {
      for (const domain of ['live.test', 'fo.test']) {
        const res = await resolve(domain);
        assert.equal(res.rule.id, 't-own', domain);
        assert.equal(res.why, `tenant ${tenantId}, default`);
      }
      // Other tenants keep the rules for every tenant.
      r = await admin('GET', '/v1/admin/routes/resolve?tenant=someone-else&domain=fo.test');
      assert.equal(r.json.rule.id, 'fo');
      assert.equal(r.json.why, 'every tenant, exact domain fo.test');
      const s0 = await ctl.stats();
      await sendMany('live.test', 20, 'own');
      const s1 = await waitArrived(s0, MX.live, 20);
      assert.equal(delta(s0, s1, 'by_peer', B1).messages, 20);
    } finally {
      assert.equal((await admin('DELETE', '/v1/admin/routes/t-own')).status, 200);
    }
    assert.equal((await resolve('fo.test')).rule.id, 'fo');
  });

  test('pins: a pool pinned out takes no mail, for one site or for every site', async () => {
    const site = 'mx:mx.live.test';
    const split = async (n, tag) => {
      const s0 = await ctl.stats();
      const ids = await sendMany('live.test', n, tag);
      for (const id of ids) await until(id, isFinal, 'final');
      const s1 = await ctl.stats();
      const by = (ip) => delta(s0, s1, 'by_peer', ip).messages;
      return { pa: by(A1) + by(A2), pb: by(B1) };
    };
    await pin('pb', site, 'out');
    let r = await resolve('live.test');
    assert.deepEqual(r.pools.map((p) => [p.pool, p.pin, p.eligible, p.effective_share]),
      [['pa', 'auto', true, 1], ['pb', 'out', false, 0]]);
    assert.deepEqual(await split(20, 'pin1'), { pa: 20, pb: 0 });

    await pin('pb', site, 'auto');
    await pin('pa', '*', 'out'); // every site
    r = await admin('GET', '/v1/admin/egress/health');
    assert.deepEqual(r.json.pins, [{ site: '*', pool: 'pa', pin: 'out' }]);
    assert.equal((await resolve('split.test')).pools[0].pin, 'out');
    assert.deepEqual(await split(20, 'pin2'), { pa: 0, pb: 20 });
    await pin('pa', '*', 'auto');
    r = await admin('GET', '/v1/admin/egress/health');
    assert.deepEqual(r.json.pins, []);
    const both = await split(20, 'pin3');
    assert.ok(Math.abs(both.pa - 14) <= 2 && both.pa + both.pb === 20, JSON.stringify(both));
    const evs = (await admin('GET', '/v1/admin/egress/events?limit=4')).json.events.map((e) => [e.site, e.pool, e.to, e.reason]);
    assert.deepEqual(evs, [
      ['*', 'pa', 'pinned_auto', 'operator'],
      ['*', 'pa', 'pinned_out', 'operator'],
      [site, 'pb', 'pinned_auto', 'operator'],
      [site, 'pb', 'pinned_out', 'operator'],
    ]);

    for (const [body, code, field] of [
      [{ pool: 'nope', site, pin: 'out' }, 'invalid_value', 'pool'],
      [{ pool: 'pa', site, pin: 'sideways' }, 'invalid_value', 'pin'],
      [{ pool: 'pa', site: 'live.test', pin: 'out' }, 'invalid_value', 'site'],
      [{ pool: 'pa', site, pin: 'out', until: 5 }, 'unknown_field', 'until'],
    ]) {
      assertProblem(await admin('POST', '/v1/admin/egress/health/pin', { json: body }), 422, code, field);
    }
    assert.deepEqual((await admin('GET', '/v1/admin/egress/health')).json.pins, []);
  });

  test('every pool of a rule quarantined: mail is deferred with 451 4.4.5, never bounced', async () => {
    const site = 'mx:mx.allq.test';
    // 450 4.2.1 (throttling, temporary) from the MX to everyone: both pools go bad.
    await ctl.mode(`busy local ${MX.allq}`);
    const ids = await sendMany('allq.test', 2 * MIN_SAMPLES + 4, 'aq');
    await waitFor(async () => (await health(site, 'qa'))?.state === 'quarantined' &&
      (await health(site, 'qb'))?.state === 'quarantined', { timeoutMs: 20000, what: 'both pools quarantined' });
    const res = await resolve('allq.test');
    assert.equal(res.all_quarantined, true, JSON.stringify(res));
    assert.deepEqual(res.pools.map((p) => [p.pool, p.eligible, p.effective_share]), [['qa', false, 0], ['qb', false, 0]]);

    const late = await sendMany('allq.test', 3, 'late');
    for (const id of late) {
      const m = await until(id, (j) => j.recipients[0].attempts.some((a) => a.enhanced_code === '4.4.5'), '451 4.4.5');
      const a = m.recipients[0].attempts.find((x) => x.enhanced_code === '4.4.5');
      assert.equal(a.code, 451);
      assert.match(a.text, /every pool of egress rule allq is quarantined or pinned out for mx:mx\.allq\.test/);
      assert.equal(a.pool, null);
      assert.equal(m.status, 'deferred');
      assert.ok(m.recipients[0].next_attempt_at);
    }
    for (const id of [...ids, ...late]) {
      const m = await getMessage(id);
      assert.notEqual(m.status, 'bounced', JSON.stringify(m));
      for (const a of m.recipients[0].attempts) assert.ok(a.code === 450 || a.code === 451, JSON.stringify(a));
    }

    // Pinned in, a quarantined pool takes mail again: the next retries go through it (slowly:
    // the 450 4.2.1 replies also slowed a1 down for this site).
    await pin('qa', site, 'in');
    const pinnedAt = Date.now();
    const pinned = await resolve('allq.test');
    assert.equal(pinned.all_quarantined, false);
    assert.deepEqual(pinned.pools.map((p) => [p.pool, p.pin, p.eligible]), [['qa', 'in', true], ['qb', 'auto', false]]);
    const attempt = await waitFor(async () => {
      for (const id of [...late, ...ids]) {
        const m = await getMessage(id);
        const a = m.recipients[0].attempts.find((x) => Date.parse(x.at) >= pinnedAt && x.pool === 'qa');
        if (a) return a;
      }
      return null;
    }, { timeoutMs: 20000, intervalMs: 100, what: 'an attempt through qa once pinned in' });
    assert.deepEqual([attempt.code, attempt.enhanced_code, attempt.source], [450, '4.2.1', 'a1']);
    await pin('qa', site, 'auto');
    await ctl.mode(`normal local ${MX.allq}`);
  });

  test('shaping: an operator rule limits messages a second to a site', async () => {
    // mx.shape.test, source b1: 10 a second (the first 10 at once), at most 2 connections.
    const s0 = await ctl.stats();
    const t0 = Date.now();
    const ids = await sendMany('shape.test', 40, 'r');
    await waitArrived(s0, MX.shape, 40);
    const took = Date.now() - t0;
    console.log(`# 40 messages at 10 a second: ${took} ms`);
    assert.ok(took >= 2500, `40 messages in ${took} ms`);
    assert.ok(took < 10000, `40 messages in ${took} ms`);
    const m = await until(ids[39], (j) => j.status === 'delivered', 'delivered');
    assert.deepEqual([m.recipients[0].attempts[0].pool, m.recipients[0].attempts[0].source], ['ps', 'b1']);
  });

  // The sink answers 421 4.7.28 to b1 for mail to throttle.test (ceiling 40 a second, 4
  // connections); after the first burst, connections are counted over 3 s. Returns {ids, count}.
  async function throttled(srv, domain, n) {
    await ctl.mode(`throttle peer ${B1} local ${MX.shape}`);
    const s0 = await ctl.stats();
    const messages = [];
    for (let i = 0; i < n; i++) messages.push({ from: 'app@example.com', to: `user+${i}@${domain}`, subject: 'throttled', text: 'x' });
    const r = await srv.request('POST', '/v1/messages/batch', { key: srv.key('t'), json: { messages } });
    assert.equal(r.status, 202, r.text);
    await waitFor(async () => delta(s0, await ctl.stats(), 'by_local', MX.shape).refused > 0, { what: 'the first 421' });
    // A rate needs a stretch of time: the first bursts (40 tokens at the configured rate, then
    // half as many, ...) pass, then the connections of the next 3 s are counted.
    await sleep(2500);
    const s1 = await ctl.stats();
    await sleep(3000);
    const s2 = await ctl.stats();
    const d = delta(s1, s2, 'by_local', MX.shape);
    console.log(`# ${domain}: ${d.connections} connections in 3 s of 421 4.7.28 (${delta(s0, s2, 'by_local', MX.shape).connections} in all)`);
    assert.equal(d.messages, 0);
    return { ids: r.json.results.map((x) => x.id), count: d.connections };
  }

  test('shaping: 421 4.7.28 slows the source down; mail is deferred, then delivered', async () => {
    const site = 'mx:mx.throttle.test';
    await pin('ps', site, 'in'); // shaping alone, no failover in the way
    // Without slowing down, 40 messages retried every 1 to 2 s make at least 60 connections in 3 s
    // (each 421 closes one). Halving the rate once a second on throttling replies, from 40 a
    // second, brings it near the floor (egress.shaping.min_rate, 2) in a few seconds: about 10.
    const { ids, count } = await throttled(server, 'throttle.test', 40);
    assert.ok(count >= 2, `${count} connections: still trying`);
    assert.ok(count <= 25, `${count} connections in 3 s`);

    let attempted = 0;
    for (const id of ids) {
      const m = await getMessage(id);
      assert.notEqual(m.status, 'bounced', JSON.stringify(m));
      for (const a of m.recipients[0].attempts) {
        attempted += 1;
        assert.deepEqual([a.code, a.enhanced_code, a.pool, a.source, a.site], [421, '4.7.28', 'ps', 'b1', site], JSON.stringify(a));
        assert.match(a.text, /unusual rate/);
      }
      if (m.recipients[0].attempts.length) {
        assert.equal(m.status, 'deferred');
        assert.ok(m.recipients[0].next_attempt_at);
      }
    }
    assert.ok(attempted >= 40, `${attempted} attempts`);

    await ctl.mode(`normal peer ${B1} local ${MX.shape}`);
    const t0 = Date.now();
    for (const id of ids) await until(id, (j) => j.status === 'delivered', 'delivered', 30000);
    console.log(`# 40 throttled messages delivered ${Date.now() - t0} ms after the 421s stopped`);
    for (const id of ids) {
      const codes = (await getMessage(id)).recipients[0].attempts.map((a) => a.code);
      assert.equal(codes.at(-1), 250);
      assert.ok(codes.length >= 2 && codes.slice(0, -1).every((c) => c === 421), JSON.stringify(codes));
    }
    await pin('ps', site, 'auto');
  });

  test('shaping: with recover_seconds = 1 the source slows down just the same', {
  }, async () => {
    const other = await startServer({ tenants: ['t'], adminToken: true, config: config(1) });
    try {
      await other.request('POST', '/v1/admin/egress/health/pin', { admin: true, json: { pool: 'ps', site: '*', pin: 'in' } });
      const { count } = await throttled(other, 'throttle.test', 40);
      assert.ok(count <= 25, `${count} connections in 3 s`);
    } finally {
      await ctl.mode(`normal peer ${B1} local ${MX.shape}`);
      await other.cleanup();
    }
  });
});
