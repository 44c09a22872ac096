// Sending domains and DKIM, end to end: mail from an unregistered or unverified domain is refused;
// a registered domain gets RSA and Ed25519 keys and the DNS records to publish; once a real DNS
// server (dnsmasq) serves them, the domain verifies, and mail submitted over HTTP and SMTP is
// signed with both keys, covering List-Unsubscribe (RFC 8058); the signatures verify with two
// independent verifiers (dkimpy and npm mailauth). Rotation: new keys are used only once their
// records are published.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Server, makeTempDir, removeDir, startSink, waitFor } from './lib/server.mjs';
import { freePort, startDns } from './lib/peers.mjs';

const TOOLS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../tools');
// Debian's python3-dkim is in the system interpreter's packages (a pyenv python3 may come first).
const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

function verifyBoth(file, records) {
  const args = [];
  for (const r of records) args.push('--record', r.name, r.value);
  const py = spawnSync(PYTHON, [`${TOOLS}/dkim_verify.py`, ...args, file], { encoding: 'utf8' });
  const js = spawnSync('node', [`${TOOLS}/dkim_verify.mjs`, ...args, file], { encoding: 'utf8' });
  return { py: py.stdout + py.stderr, pyOk: py.status === 0, js: js.stdout + js.stderr, jsOk: js.status === 0 };
}

describe('sending domains and DKIM', () => {
  let sink;
  let server;
  let dns;
  let dnsPort;
  let maildir;
  let domain;  // the registered domain's view
  before(async () => {
    maildir = makeTempDir('mailplane-dkim-md-');
    sink = await startSink({ args: ['--maildir', maildir] });
    dnsPort = await freePort('127.0.0.1', { udp: true });
    server = await new Server({
      tenants: ['t', 'other'],
      adminToken: true,
      config: `[domains]
require_verified = true
[dns]
servers = ["127.0.0.1:${dnsPort}"]
timeout_ms = 300
tries = 1
[delivery]
idle_seconds = 1
[[delivery.routes]]
domain = "*"
relay = "127.0.0.1:${sink.port}"
tls = "disabled"
[submission]
listen = "127.0.0.1:0"
auth_requires_tls = false
`,
    }).start();
  });
  after(async () => {
    await server?.cleanup();
    await sink?.stop();
    await dns?.stop();
    removeDir(maildir);
  });

  const dkimRecords = () => domain.dns_records.filter((r) => r.purpose.startsWith('DKIM'));
  async function serveRecords(records) {
    await dns?.stop();
    dns = await startDns({
      port: dnsPort,
      zones: ['shop.example'],
      records: { txt: records.map((r) => ({ name: r.name, text: r.value })) },
    });
  }
  const newest = () => {
    const dir = `${maildir}/new`;
    const files = fs.readdirSync(dir).map((f) => `${dir}/${f}`);
    files.sort((a, b) => fs.statSync(a).mtimeMs - fs.statSync(b).mtimeMs);
    return files.at(-1);
  };
  // The Maildir file of a delivered message: found by its id in the Message-ID (composed mail) or
  // by needle (raw mail keeps its own Message-ID).
  async function deliveredFile(tenant, id, needle = id.toLowerCase()) {
    await waitFor(async () => (await server.getMessage(tenant, id)).json.status === 'delivered',
      { timeoutMs: 15000, what: `${id} delivered` });
    let found = null;
    await waitFor(() => {
      for (const f of fs.readdirSync(`${maildir}/new`)) {
        const text = fs.readFileSync(`${maildir}/new/${f}`, 'utf8');
        if (text.includes(needle)) { found = `${maildir}/new/${f}`; return true; }
      }
      return false;
    }, { what: `${id} in the Maildir` });
    return found ?? newest();
  }

  test('mail from a domain that is not registered is refused with a clear error', async () => {
    const r = await server.submit('t', { from: 'news@shop.example', to: 'success@dest.test', subject: 's', text: 'x' });
    assert.equal(r.status, 422);
    assert.equal(r.json.code, 'domain_not_verified');
    assert.match(r.json.detail, /shop\.example is not a registered sending domain/);
  });

  test('registering a domain gives two DKIM keys and the records to publish', async () => {
    const bad = await server.request('POST', '/v1/domains', { key: server.key('t'), json: { domain: 'Not A Domain' } });
    assert.equal(bad.status, 422);
    const r = await server.request('POST', '/v1/domains', { key: server.key('t'), json: { domain: 'shop.example' } });
    assert.equal(r.status, 201, r.text);
    domain = r.json;
    assert.equal(domain.verified, false);
    assert.deepEqual(domain.keys.map((k) => k.algorithm).sort(), ['ed25519-sha256', 'rsa-sha256']);
    const dkim = dkimRecords();
    assert.equal(dkim.length, 2);
    assert.ok(dkim.some((x) => /^v=DKIM1; k=rsa; p=/.test(x.value)));
    assert.ok(dkim.some((x) => /^v=DKIM1; k=ed25519; p=/.test(x.value)));
    assert.ok(domain.dns_records.some((x) => x.name === 'shop.example' && x.value.startsWith('v=spf1')));
    assert.ok(domain.dns_records.some((x) => x.name === '_dmarc.shop.example' && x.value.startsWith('v=DMARC1')));
    assert.ok(domain.dns_records.some((x) => x.type === 'MX' && x.name === 'bounces.shop.example'));
    const again = await server.request('POST', '/v1/domains', { key: server.key('t'), json: { domain: 'shop.example' } });
    assert.equal(again.status, 409);
    // Another tenant neither sees it nor may send from it.
    const list = await server.request('GET', '/v1/domains', { key: server.key('other') });
    assert.deepEqual(list.json.domains, []);
    const o = await server.submit('other', { from: 'a@shop.example', to: 'success@dest.test', subject: 's', text: 'x' });
    assert.equal(o.status, 422);
    // Not verified yet: still refused, saying what to do.
    const s = await server.submit('t', { from: 'news@shop.example', to: 'success@dest.test', subject: 's', text: 'x' });
    assert.equal(s.status, 422);
    assert.match(s.json.detail, /not verified yet/);
  });

  test('verification fails without the records and succeeds once DNS serves them', async () => {
    await serveRecords([]);
    const no = await server.request('POST', '/v1/domains/shop.example/verify', { key: server.key('t') });
    assert.equal(no.status, 200, no.text);
    assert.equal(no.json.verified, false);
    assert.match(no.json.last_error, /no TXT record at mp.*\._domainkey\.shop\.example/);
    await serveRecords(domain.dns_records.filter((r) => r.type === 'TXT'));
    const yes = await server.request('POST', '/v1/domains/shop.example/verify', { key: server.key('t') });
    assert.equal(yes.json.verified, true, JSON.stringify(yes.json));
    assert.equal(yes.json.last_error, null);
    assert.ok(yes.json.keys.every((k) => k.published));
    domain = yes.json;
  });

  test('HTTP mail is signed with both keys, List-Unsubscribe covered; both verifiers pass', async () => {
    const r = await server.submit('t', {
      from: 'News <news@shop.example>',
      to: 'success+dkim@dest.test',
      subject: 'Sale — 50 % off',
      text: 'Hello,\n\nthe sale starts now.  \n\n\n',
      unsubscribe: { url: 'https://shop.example/u?m=1', mailto: 'unsubscribe@shop.example' },
    });
    assert.equal(r.status, 202, r.text);
    const file = await deliveredFile('t', r.json.id);
    const text = fs.readFileSync(file, 'utf8');
    const h = text.slice(0, text.indexOf('\r\n\r\n')).replace(/\r\n[ \t]+/g, ' ');
    assert.match(h, /List-Unsubscribe: <mailto:unsubscribe@shop\.example>, <https:\/\/shop\.example\/u\?m=1>/);
    assert.match(h, /List-Unsubscribe-Post: List-Unsubscribe=One-Click/);
    const sigs = text.match(/^DKIM-Signature:/gm) ?? [];
    assert.equal(sigs.length, 2);
    assert.match(h, /a=rsa-sha256/);
    assert.match(h, /a=ed25519-sha256/);
    assert.match(h, /h=[^;]*list-unsubscribe:\s*list-unsubscribe-post/i);
    const v = verifyBoth(file, dkimRecords());
    assert.ok(v.pyOk, v.py);
    assert.ok(v.jsOk, v.js);
    // Tampering breaks both.
    const bad = `${file}.tampered`;
    fs.writeFileSync(bad, text.replace('the sale starts now', 'the sale starts later'));
    const t = verifyBoth(bad, dkimRecords());
    assert.ok(!t.pyOk && !t.jsOk, `${t.py}\n${t.js}`);
    fs.unlinkSync(bad);
  });

  test('a subdomain is signed with the registered domain (relaxed alignment); SMTP mail too', async () => {
    const r = await server.submit('t', { from: 'a@mail.shop.example', to: 'success+sub@dest.test', subject: 'sub', text: 'x' });
    assert.equal(r.status, 202, r.text);
    const file = await deliveredFile('t', r.json.id);
    assert.match(fs.readFileSync(file, 'utf8'), /d=shop\.example/);
    const v1 = verifyBoth(file, dkimRecords());
    assert.ok(v1.pyOk, v1.py);
    assert.ok(v1.jsOk, v1.js);

    const swaks = spawnSync('swaks', ['--suppress-data', '--hide-informational', '--server', `127.0.0.1:${server.smtpPort}`,
      '--auth', 'PLAIN', '--auth-user', 'x', '--auth-password', server.key('t'),
      '--from', 'news@shop.example', '--to', 'success+smtp@dest.test',
      '--header', 'Subject: over smtp', '--header', 'From: news@shop.example'], { encoding: 'utf8', timeout: 30000 });
    assert.equal(swaks.status, 0, swaks.stdout + swaks.stderr);
    const id = (swaks.stdout + swaks.stderr).match(/queued as ([0-9A-Z]+)/)[1];
    const f2 = await deliveredFile('t', id, 'Delivered-To: success+smtp@dest.test');
    const v = verifyBoth(f2, dkimRecords());
    assert.ok(v.pyOk, v.py);
    assert.ok(v.jsOk, v.js);
    const refused = spawnSync('swaks', ['--suppress-data', '--hide-informational', '--server', `127.0.0.1:${server.smtpPort}`,
      '--auth', 'PLAIN', '--auth-user', 'x', '--auth-password', server.key('t'),
      '--from', 'news@elsewhere.example', '--to', 'success@dest.test'], { encoding: 'utf8', timeout: 30000 });
    assert.notEqual(refused.status, 0);
    assert.match(refused.stdout + refused.stderr, /550 5\.7\.1 the From domain elsewhere\.example/);
    // The From header decides, not the envelope sender: a verified MAIL FROM does not cover a
    // From header of a domain the tenant does not own.
    const spoof = spawnSync('swaks', ['--suppress-data', '--hide-informational', '--server', `127.0.0.1:${server.smtpPort}`,
      '--auth', 'PLAIN', '--auth-user', 'x', '--auth-password', server.key('t'),
      '--from', 'news@shop.example', '--header', 'From: CEO <ceo@bank.example>', '--to', 'success@dest.test'],
    { encoding: 'utf8', timeout: 30000 });
    assert.notEqual(spoof.status, 0);
    assert.match(spoof.stdout + spoof.stderr, /550 5\.7\.1 the From domain bank\.example/);
  });

  test('tenant default unsubscribe with {recipient}; bad targets refused', async () => {
    const id = server.tenantId('t');
    for (const body of [{ unsubscribe: { url: 'http://insecure.example/u' } }, { unsubscribe: { mailto: 'not an address' } }, { unsubscribe: {} }]) {
      const r = await server.request('POST', `/v1/admin/tenants/${id}/settings`, { admin: true, json: body });
      assert.equal(r.status, 422, JSON.stringify(body));
    }
    const set = await server.request('POST', `/v1/admin/tenants/${id}/settings`, {
      admin: true, json: { unsubscribe: { url: 'https://shop.example/u/{recipient}?m={message_id}' } },
    });
    assert.equal(set.status, 200, set.text);
    const r = await server.submit('t', { from: 'news@shop.example', to: 'success+x@dest.test', subject: 'd', text: 'x' });
    assert.equal(r.status, 202);
    const raw = fs.readFileSync(await deliveredFile('t', r.json.id), 'utf8');
    const text = raw.slice(0, raw.indexOf('\r\n\r\n')).replace(/\r\n[ \t]+/g, ' ');
    assert.match(text, new RegExp(`List-Unsubscribe: <https://shop\\.example/u/success%2Bx@dest\\.test\\?m=${r.json.id.toLowerCase()}>`));
    const two = await server.submit('t', { from: 'news@shop.example', to: ['a@dest.test', 'b@dest.test'], subject: 'd', text: 'x' });
    assert.equal(two.status, 422);
    assert.match(two.json.detail, /\{recipient\}/);
    await server.request('POST', `/v1/admin/tenants/${id}/settings`, { admin: true, json: { unsubscribe: null } });
  });

  test('rotation: new keys sign only after their records are published', async () => {
    const r = await server.request('POST', '/v1/domains/shop.example/rotate', { key: server.key('t') });
    assert.equal(r.status, 200);
    const pending = r.json.keys.filter((k) => k.state === 'pending');
    assert.equal(pending.length, 2);
    const oldSelectors = domain.keys.map((k) => k.selector);
    // Not published: mail goes on with the old keys.
    const m1 = await server.submit('t', { from: 'news@shop.example', to: 'success+r1@dest.test', subject: 'r1', text: 'x' });
    const t1 = fs.readFileSync(await deliveredFile('t', m1.json.id), 'utf8');
    for (const s of oldSelectors) assert.match(t1, new RegExp(`s=${s}`));
    // Publish old and new; verify switches to the new keys.
    const all = r.json.dns_records.filter((x) => x.type === 'TXT');
    await serveRecords([...domain.dns_records.filter((x) => x.type === 'TXT'), ...all]);
    const v = await server.request('POST', '/v1/domains/shop.example/verify', { key: server.key('t') });
    assert.equal(v.json.verified, true);
    const active = v.json.keys.filter((k) => k.state === 'active').map((k) => k.selector).sort();
    assert.deepEqual(active, pending.map((k) => k.selector).sort());
    assert.equal(v.json.keys.filter((k) => k.state === 'retired').length, 2);
    const m2 = await server.submit('t', { from: 'news@shop.example', to: 'success+r2@dest.test', subject: 'r2', text: 'x' });
    const f2 = await deliveredFile('t', m2.json.id);
    const t2 = fs.readFileSync(f2, 'utf8');
    for (const s of active) assert.match(t2, new RegExp(`s=${s}`));
    const newRecords = v.json.dns_records.filter((x) => x.purpose.startsWith('DKIM'));
    const v2 = verifyBoth(f2, newRecords);
    assert.ok(v2.pyOk, v2.py);
    assert.ok(v2.jsOk, v2.js);
  });
});
