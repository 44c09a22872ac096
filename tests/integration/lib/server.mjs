// Shared helpers for the mailplane integration tests.
//
// Each test file starts the servers it needs with startServer() (a fresh temp directory, a free
// port on 127.0.0.1 chosen by the server itself, tenants created with the CLI before start) and
// stops them in an after() hook, so they are stopped even when a test fails. A process 'exit'
// handler SIGKILLs anything still running as a last resort.
//
// The binary is $MAILPLANE_BIN, or build/release/mailplane relative to the repository root.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import assert from 'node:assert/strict';

export const REPO_ROOT = decodeURIComponent(new URL('../../../', import.meta.url).pathname).replace(/\/$/, '');
const envBin = process.env.MAILPLANE_BIN;
export const BIN = envBin
  ? envBin.startsWith('/') ? envBin : `${process.cwd()}/${envBin}`
  : `${REPO_ROOT}/build/release/mailplane`;

export const ADMIN_TOKEN = 'it-admin-token-0123456789abcdef';
export const ULID_RE = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;

// Every child we started, so that nothing outlives the test process.
const live = new Set();
process.on('exit', () => {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});

export function makeTempDir(prefix = 'mailplane-it-') {
  return fs.mkdtempSync(`${os.tmpdir()}/${prefix}`);
}

export function removeDir(dir) {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
}

// Runs the mailplane CLI synchronously. Returns {code, stdout, stderr}.
export function runCli(args, { timeoutMs = 30000 } = {}) {
  const r = spawnSync(BIN, args, { encoding: 'utf8', timeout: timeoutMs });
  if (r.error) throw r.error;
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

// `mailplane tenant create NAME --data-dir DIR` (server stopped) -> {tenant_id, name, api_key, key_id}.
export function createTenantCli(dataDir, name) {
  const r = runCli(['tenant', 'create', name, '--data-dir', dataDir]);
  assert.equal(r.code, 0, `tenant create ${name} failed: ${r.stderr}`);
  const out = JSON.parse(r.stdout);
  assert.equal(out.name, name);
  assert.match(out.api_key, /^mp_[0-9a-f]{64}$/);
  return out;
}

export class Server {
  // opts: {root?: existing temp dir, config?: TOML text, tenants?: [names], adminToken?: bool|string}
  constructor(opts = {}) {
    this.ownsRoot = !opts.root;
    this.root = opts.root ?? makeTempDir();
    this.dataDir = `${this.root}/data`;
    let config = opts.config ?? '';
    // Tests of the submission path run without delivery and without the SMTP submission listener
    // unless their configuration has those sections.
    if (!/^\[delivery\]/m.test(config) && !/^\[\[delivery\.routes\]\]/m.test(config)) {
      config = `[delivery]\nenabled = false\n` + config;
    }
    if (!/^\[submission\]/m.test(config)) config = `[submission]\nlisten = ""\n` + config;
    // Sending domains are not required unless a test says so (production refuses mail from
    // unverified domains by default).
    if (!/^\[domains\]/m.test(config)) config = `[domains]\nrequire_verified = false\n` + config;
    if (opts.adminToken) {
      const token = typeof opts.adminToken === 'string' ? opts.adminToken : ADMIN_TOKEN;
      this.adminToken = token;
      config = `[admin]\ntoken = "${token}"\n` + config;
    }
    this.configPath = null;
    if (config) {
      this.configPath = `${this.root}/mailplane.toml`;
      fs.writeFileSync(this.configPath, config);
    }
    this.tenants = {};
    for (const name of opts.tenants ?? []) this.tenants[name] = createTenantCli(this.dataDir, name);
    this.proc = null;
    this.port = null;
    this.logs = [];
    this.exit = null;
  }

  get baseUrl() {
    return `http://127.0.0.1:${this.port}`;
  }

  url(p) {
    return this.baseUrl + p;
  }

  key(tenant) {
    return this.tenants[tenant].api_key;
  }

  tenantId(tenant) {
    return this.tenants[tenant].tenant_id;
  }

  get running() {
    return this.proc !== null && this.exit === null;
  }

  // Starts `mailplane serve` and resolves once it logs http.listening.
  // env: extra environment variables for the server process (e.g. libfaketime's).
  async start({ timeoutMs = 15000, port = 0, env } = {}) {
    assert.ok(!this.running, 'server already running');
    const args = ['serve', '--data-dir', this.dataDir, '--http-listen', `127.0.0.1:${port}`];
    if (this.configPath) args.push('--config', this.configPath);
    const proc = spawn(BIN, args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      ...(env ? { env: { ...process.env, ...env } } : {}),
    });
    this.proc = proc;
    this.exit = null;
    this.stopRequested = false;
    this.port = null;
    live.add(proc);
    this.exited = new Promise((resolve) => {
      proc.on('exit', (code, signal) => {
        live.delete(proc);
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
    let pending = '';
    let onListening;
    const listening = new Promise((resolve) => {
      onListening = resolve;
    });
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (chunk) => {
      pending += chunk;
      let nl;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (this.logs.length < 5000) this.logs.push(line);
        let ev;
        try {
          ev = JSON.parse(line);
        } catch {
          continue;
        }
        if (ev.event === 'smtp.listening') this.smtpPort = ev.port;
        if (ev.event === 'http.listening') onListening(ev.port);
      }
    });
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error('timed out waiting for http.listening')), timeoutMs);
    });
    const early = this.exited.then((e) => {
      throw new Error(
        `mailplane serve exited before listening (code ${e.code}, signal ${e.signal}):\n` +
          this.logs.join('\n'),
      );
    });
    try {
      this.port = await Promise.race([listening, timeout, early]);
    } catch (err) {
      if (this.running) {
        proc.kill('SIGKILL');
        await this.exited;
      }
      throw err;
    } finally {
      clearTimeout(timer);
    }
    early.catch(() => {});
    assert.ok(Number.isInteger(this.port) && this.port > 0, `bad port ${this.port}`);
    return this;
  }

  // Sends a signal and waits for the process to exit; SIGKILLs it after timeoutMs.
  // Resolves to {code, signal, timedOut}.
  async stop({ signal = 'SIGTERM', timeoutMs = 20000 } = {}) {
    if (!this.proc) return null;
    if (this.exit) return { ...this.exit, timedOut: false };
    this.stopRequested = true;
    this.proc.kill(signal);
    let timer;
    const timedOut = await Promise.race([
      this.exited.then(() => false),
      new Promise((resolve) => {
        timer = setTimeout(() => resolve(true), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      this.proc.kill('SIGKILL');
      await this.exited;
    }
    return { ...this.exit, timedOut };
  }

  kill() {
    return this.stop({ signal: 'SIGKILL', timeoutMs: 10000 });
  }

  async restart(opts) {
    await this.stop();
    return this.start(opts);
  }

  // Stops the server (if running) and removes the temp directory we created.
  // A server that exits on its own, or does not exit 0 on SIGTERM (a crash, a sanitizer report,
  // a hang past the grace period), fails the test file here.
  async cleanup() {
    let result = null;
    let unexpected = false;
    try {
      if (this.running) {
        this.stopRequested = false;
        result = await this.stop();
      } else if (this.exit && !this.stopRequested) {
        result = this.exit;
        unexpected = true;
      }
    } finally {
      if (this.ownsRoot) removeDir(this.root);
    }
    if (result && (unexpected || result.code !== 0 || result.timedOut)) {
      throw new Error(
        `mailplane did not shut down cleanly (code ${result.code}, signal ${result.signal}, ` +
          `timed out ${!!result.timedOut}, ${unexpected ? 'exited on its own' : 'on SIGTERM'}); ` +
          `last log lines:\n${this.logs.slice(-20).join('\n')}`,
      );
    }
  }

  // One HTTP request with fetch. opts: {key, admin (true: the admin token, or a token string),
  // json (serialized, Content-Type application/json), body (string/Buffer), headers}.
  // Resolves to {status, headers, text, json (parsed when the type is JSON), bytes}.
  async request(method, p, opts = {}) {
    const headers = { ...(opts.headers ?? {}) };
    if (opts.key) headers.authorization = `Bearer ${opts.key}`;
    if (opts.admin) {
      headers.authorization = `Bearer ${opts.admin === true ? this.adminToken : opts.admin}`;
    }
    let body = opts.body;
    if (opts.json !== undefined) {
      body = JSON.stringify(opts.json);
      if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
        headers['content-type'] = 'application/json';
      }
    }
    let res;
    try {
      res = await fetch(this.url(p), { method, headers, body });
    } catch (err) {
      // Say so when the reason is that the server is gone.
      await sleep(100);
      if (this.exit) {
        throw new Error(
          `${method} ${p}: no answer, the server has exited (code ${this.exit.code}, signal ` +
            `${this.exit.signal}); last log lines:\n${this.logs.slice(-3).join('\n')}`,
          { cause: err },
        );
      }
      throw err;
    }
    const bytes = Buffer.from(await res.arrayBuffer());
    const text = bytes.toString('utf8');
    const ct = res.headers.get('content-type') ?? '';
    let json;
    if (/json/.test(ct)) {
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
    }
    return { status: res.status, headers: res.headers, text, json, bytes };
  }

  submit(tenant, message, opts = {}) {
    return this.request('POST', '/v1/messages', { ...opts, key: opts.key ?? this.key(tenant), json: message });
  }

  getMessage(tenant, id, opts = {}) {
    return this.request('GET', `/v1/messages/${id}`, { ...opts, key: opts.key ?? this.key(tenant) });
  }

  // Waits until no recipient of tenant's message id is queued, deferred or scheduled.
  waitFinal(tenant, id, { timeoutMs = 20000 } = {}) {
    return waitFor(async () => {
      const m = (await this.getMessage(tenant, id)).json;
      return m.recipients.every((r) => !['queued', 'deferred', 'scheduled'].includes(r.status));
    }, { timeoutMs, what: `message ${id} final` });
  }

  getRaw(tenant, id, opts = {}) {
    return this.request('GET', `/v1/messages/${id}/raw`, { ...opts, key: opts.key ?? this.key(tenant) });
  }

  // /metrics as a Map from 'name{labels}' (exactly as rendered) to a number.
  async metrics() {
    const r = await this.request('GET', '/metrics');
    assert.equal(r.status, 200);
    const out = new Map();
    for (const line of r.text.split('\n')) {
      if (!line || line.startsWith('#')) continue;
      const sp = line.lastIndexOf(' ');
      out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
    }
    return out;
  }

  // mailplane_messages_accepted_total for one tenant (0 when the series does not exist yet).
  async accepted(tenant) {
    const m = await this.metrics();
    return m.get(`mailplane_messages_accepted_total{tenant="${this.tenantId(tenant)}"}`) ?? 0;
  }

  // What the spool holds, as far as /metrics tells: accepted counters of every tenant and the
  // estimated number of envelopes.
  async spoolSnapshot() {
    const m = await this.metrics();
    let accepted = 0;
    for (const [k, v] of m) if (k.startsWith('mailplane_messages_accepted_total')) accepted += v;
    return { accepted, envelopes: m.get('mailplane_spool_messages') ?? 0 };
  }
}

export async function startServer(opts = {}) {
  const s = new Server(opts);
  try {
    await s.start();
  } catch (err) {
    await s.cleanup();
    throw err;
  }
  return s;
}

// Asserts an RFC 9457 problem response with the stable code (and field when given; field: null
// asserts that there is none).
export function assertProblem(res, status, code, field) {
  const ctx = `${res.status} ${res.text}`;
  assert.equal(res.status, status, `status: ${ctx}`);
  assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/, `content type: ${ctx}`);
  assert.ok(res.json, `problem body is not JSON: ${ctx}`);
  assert.equal(res.json.code, code, `code: ${ctx}`);
  assert.equal(res.json.status, status, `body status: ${ctx}`);
  assert.equal(typeof res.json.title, 'string');
  assert.equal(typeof res.json.detail, 'string');
  if (field === null) assert.equal(res.json.field, undefined, `field: ${ctx}`);
  else if (field !== undefined) assert.equal(res.json.field, field, `field: ${ctx}`);
}

// Sends bytes over a raw TCP connection and collects whatever comes back until the server closes
// the connection (or timeoutMs passes). opts: {chunks: [Buffer|string], end: half-close after
// writing, timeoutMs}. Resolves to {data: Buffer, closed: bool, error, ms}.
export function rawExchange(port, { chunks = [], end = false, timeoutMs = 5000 } = {}) {
  return new Promise((resolve) => {
    const started = Date.now();
    const sock = net.connect({ host: '127.0.0.1', port });
    const got = [];
    let error = null;
    let done = false;
    const finish = (closed) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ data: Buffer.concat(got), closed, error, ms: Date.now() - started });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    sock.on('connect', () => {
      for (const c of chunks) sock.write(c);
      if (end) sock.end();
    });
    sock.on('data', (d) => got.push(d));
    sock.on('error', (e) => {
      error = e;
      finish(true);
    });
    sock.on('end', () => finish(true));
    sock.on('close', () => finish(true));
  });
}

// Parses the first HTTP/1.1 response in buf: {status, headers (lower-case names), body}.
export function parseHttpResponse(buf) {
  const sep = buf.indexOf('\r\n\r\n');
  if (sep < 0) return null;
  const head = buf.subarray(0, sep).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(head[0]);
  if (!m) return null;
  const headers = {};
  for (const line of head.slice(1)) {
    const c = line.indexOf(':');
    headers[line.slice(0, c).trim().toLowerCase()] = line.slice(c + 1).trim();
  }
  let body = buf.subarray(sep + 4);
  if (headers['content-length'] !== undefined) {
    body = body.subarray(0, Number(headers['content-length']));
  }
  return { status: Number(m[1]), headers, body };
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// Polls fn() (sync or async) until it returns a truthy value; returns that value. Fails with the
// last value seen after timeoutMs.
export async function waitFor(fn, { timeoutMs = 15000, intervalMs = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(last)}`);
    }
    await sleep(intervalMs);
  }
}

// `mailplane sink` on 127.0.0.1 (a free port unless given). opts.args: extra flags.
// Returns {port, stats (the latest stats line), waitStats(pred), stop()}.
export async function startSink({ host = '127.0.0.1', port = 0, args = [] } = {}) {
  const proc = spawn(BIN, ['sink', '--listen', `${host}:${port}`, '--stats-interval-ms', '50', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(proc);
  const sink = { proc, host, port: null, stats: null, stderr: '' };
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => {
    live.delete(proc);
    sink.exit = { code, signal };
    resolve(sink.exit);
  }));
  let pending = '';
  let onReady;
  const ready = new Promise((resolve) => { onReady = resolve; });
  proc.stdout.setEncoding('utf8');
  proc.stdout.on('data', (chunk) => {
    pending += chunk;
    let nl;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      let ev;
      try { ev = JSON.parse(line); } catch { continue; }
      if (ev.event === 'sink.listening') { sink.port = ev.port; onReady(); }
      if (ev.event === 'sink.stats') sink.stats = ev;
    }
  });
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (c) => { sink.stderr += c; });
  await Promise.race([
    ready,
    exited.then((e) => { throw new Error(`sink exited early (${e.code}): ${sink.stderr}`); }),
    sleep(10000).then(() => { throw new Error('sink did not start'); }),
  ]);
  await waitFor(() => sink.stats, { what: 'the first sink stats line' });
  sink.waitStats = (pred, opts = {}) => waitFor(() => sink.stats && pred(sink.stats) && sink.stats,
    { what: 'sink stats', ...opts });
  sink.stop = async () => {
    if (sink.exit) return sink.exit;
    proc.kill('SIGTERM');
    return exited;
  };
  return sink;
}

// Configuration that delivers all mail to a sink over a relay route (no DNS needed).
export function sinkRouteConfig(sinkPort, { idleSeconds = 1 } = {}) {
  return `[delivery]
idle_seconds = ${idleSeconds}
[[delivery.routes]]
domain = "*"
relay = "127.0.0.1:${sinkPort}"
tls = "disabled"
`;
}

// A sink and a started server that delivers everything to it; extra is appended TOML.
export async function startServerWithSink({ tenants = ['t'], extra = '', sinkArgs = [], adminToken } = {}) {
  const sink = await startSink({ args: sinkArgs });
  const server = await new Server({ tenants, adminToken, config: sinkRouteConfig(sink.port) + extra }).start();
  return { sink, server };
}
