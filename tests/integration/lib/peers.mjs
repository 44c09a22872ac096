// Real mail and DNS peers on loopback for the delivery-engine tests.
//
//   startDns({records})        dnsmasq in the foreground on 127.0.0.1:<free port>
//   startPostfix({ip, ...})    a private Postfix instance as a receiving MX (virtual mailboxes,
//                              STARTTLS with a self-signed certificate), never the system one
//   startSmtpPeer({mode, ...}) tests/peers/smtp_peer.py: an SMTP server with injected faults
//
// Everything listens on 127.0.0.0/8 only (Linux routes all of it to lo: 127.0.0.3 can be bound
// without setup). Each peer lives in its own temp directory, removed by stop(). Call stop() in an
// after() hook; a process 'exit' handler (and SIGINT/SIGTERM/SIGHUP) SIGKILLs whatever is still
// running as a last resort, Postfix's whole process group included.
//
// Needs: dnsmasq (dnsmasq-base), python3 >= 3.11 (standard library only), postfix binaries, openssl,
// root for Postfix. Set MAILPLANE_KEEP_PEERS=1 to keep the temp directories for inspection.

import { spawn, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import { BIN, REPO_ROOT, makeTempDir, removeDir, sleep } from './server.mjs';

export const SMTP_PEER_SCRIPT = `${REPO_ROOT}/tests/peers/smtp_peer.py`;
const DNSMASQ = process.env.MAILPLANE_DNSMASQ ?? '/usr/sbin/dnsmasq';
const POSTFIX = '/usr/sbin/postfix';
const POSTCONF = '/usr/sbin/postconf';
const OPENSSL = 'openssl';
// The Debian interpreter first: $PATH may lead to a pyenv shim.
const PYTHON =
  process.env.MAILPLANE_PYTHON ?? (fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
const KEEP = process.env.MAILPLANE_KEEP_PEERS === '1';

// ---- Last-resort cleanup ----------------------------------------------------------------------

// Every running peer, as {killSync()}.
const live = new Set();

function killAllSync() {
  for (const p of live) {
    try {
      p.killSync();
    } catch {
      // best effort
    }
  }
  live.clear();
}

process.on('exit', killAllSync);
for (const [sig, num] of [
  ['SIGINT', 2],
  ['SIGTERM', 15],
  ['SIGHUP', 1],
]) {
  process.on(sig, () => {
    killAllSync();
    // Keep the default behaviour (die) unless someone else handles the signal; exiting this way
    // also runs the other 'exit' handlers (server.mjs SIGKILLs mailplane there).
    if (process.listenerCount(sig) === 1) process.exit(128 + num);
  });
}

// ---- Small helpers ----------------------------------------------------------------------------

function assertLoopback(ip) {
  if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(ip)) throw new Error(`peers listen on 127.0.0.0/8 only, not ${ip}`);
}

function rmDir(dir) {
  if (!KEEP) removeDir(dir);
}

// Polls fn() (sync or async) until it returns a truthy value; throws after timeoutMs.
export async function waitUntil(fn, { timeoutMs = 5000, intervalMs = 25, what = 'condition', details } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) {
      const extra = details ? `\n${details()}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${extra}`);
    }
    await sleep(intervalMs);
  }
}

function canBind(ip, port, udp) {
  return new Promise((resolve) => {
    if (udp) {
      const s = dgram.createSocket('udp4');
      s.once('error', () => {
        s.close();
        resolve(false);
      });
      s.bind({ address: ip, port, exclusive: true }, () => s.close(() => resolve(true)));
    } else {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen({ host: ip, port, exclusive: true }, () => s.close(() => resolve(true)));
    }
  });
}

// A free TCP (and UDP, with {udp: true}) port on ip, below the ephemeral range so that no
// outgoing connection can be holding it, like bench/postfix.sh does.
export async function freePort(ip = '127.0.0.1', { udp = false } = {}) {
  let lo = 32768;
  try {
    lo = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  } catch {
    // keep the default
  }
  const top = Math.max(lo, 20100);
  for (let i = 0; i < 200; i++) {
    const port = 20000 + Math.floor(Math.random() * (top - 20000));
    if ((await canBind(ip, port, false)) && (!udp || (await canBind(ip, port, true)))) return port;
  }
  throw new Error(`no free port on ${ip}`);
}

// Inodes of the sockets listening on TCP ip:port (IPv4, from /proc/net/tcp: no connection is
// made).
function tcpListeners(ip, port) {
  const hex =
    ip
      .split('.')
      .reverse()
      .map((o) => Number(o).toString(16).padStart(2, '0'))
      .join('')
      .toUpperCase() +
    ':' +
    port.toString(16).padStart(4, '0').toUpperCase();
  const out = new Set();
  for (const l of fs.readFileSync('/proc/net/tcp', 'utf8').split('\n')) {
    const f = l.trim().split(/\s+/);
    if (f[1] === hex && f[3] === '0A') out.add(f[9]);
  }
  return out;
}

// Does process pid hold one of these socket inodes?
function holdsSocket(pid, inodes) {
  if (!inodes.size) return false;
  try {
    for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m && inodes.has(m[1])) return true;
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    // gone
  }
  return false;
}

// A self-signed certificate (ECDSA P-256) for `cn`, with DNS and IP subject alternative names.
// Returns {certFile, keyFile}.
export function makeCert(dir, { cn = 'localhost', names = [], ips = [] } = {}) {
  const certFile = `${dir}/cert.pem`;
  const keyFile = `${dir}/key.pem`;
  const san = [...new Set([cn, ...names])].map((n) => `DNS:${n}`).concat(ips.map((i) => `IP:${i}`));
  const r = spawnSync(
    OPENSSL,
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
      '-keyout', keyFile, '-out', certFile, '-subj', `/CN=${cn}`, '-addext', `subjectAltName=${san.join(',')}`],
    { encoding: 'utf8', timeout: 10000 },
  );
  if (r.status !== 0) throw new Error(`openssl req failed: ${r.error ?? r.stderr}`);
  fs.chmodSync(keyFile, 0o644);
  fs.chmodSync(certFile, 0o644);
  return { certFile, keyFile };
}

// Spawns a tracked child. onLine(stream, line) gets stdout/stderr lines. Returns
// {proc, exited (Promise of {code, signal}), exit, lines (last stderr+stdout lines), kill(timeoutMs)}.
function spawnTracked(cmd, args, { onLine, detached = false } = {}) {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached });
  const h = { proc, exit: null, lines: [] };
  const entry = {
    killSync() {
      if (h.exit) return;
      try {
        if (detached) process.kill(-proc.pid, 'SIGKILL');
        else proc.kill('SIGKILL');
      } catch {
        // gone
      }
    },
  };
  live.add(entry);
  h.killSync = entry.killSync;
  h.exited = new Promise((resolve) => {
    proc.on('error', (err) => {
      h.lines.push(`spawn ${cmd}: ${err.message}`);
      h.exit = { code: null, signal: null, error: err };
      live.delete(entry);
      resolve(h.exit);
    });
    proc.on('exit', (code, signal) => {
      h.exit = { code, signal };
      live.delete(entry);
      resolve(h.exit);
    });
  });
  for (const name of ['stdout', 'stderr']) {
    let pending = '';
    proc[name].setEncoding('utf8');
    proc[name].on('data', (chunk) => {
      pending += chunk;
      let nl;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (onLine) onLine(name, line);
        else {
          h.lines.push(line);
          if (h.lines.length > 10000) h.lines.splice(0, 5000);
        }
      }
    });
  }
  // SIGTERM, then SIGKILL after timeoutMs. Resolves to the exit.
  h.kill = async (timeoutMs = 3000) => {
    if (h.exit) return h.exit;
    try {
      if (detached) process.kill(-proc.pid, 'SIGTERM');
      else proc.kill('SIGTERM');
    } catch {
      // gone
    }
    let timer;
    const timedOut = await Promise.race([
      h.exited.then(() => false),
      new Promise((r) => {
        timer = setTimeout(() => r(true), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      entry.killSync();
      await h.exited;
    }
    return h.exit;
  };
  return h;
}

// ---- DNS wire format --------------------------------------------------------------------------

export const DNS_TYPES = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33 };
const TYPE_NAMES = Object.fromEntries(Object.entries(DNS_TYPES).map(([k, v]) => [v, k]));
const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];

function encodeName(name) {
  const parts = name.split('.').filter(Boolean);
  return Buffer.concat([
    ...parts.map((l) => {
      const b = Buffer.from(l, 'ascii');
      if (b.length > 63) throw new Error(`DNS label too long: ${l}`);
      return Buffer.concat([Buffer.from([b.length]), b]);
    }),
    Buffer.from([0]),
  ]);
}

function buildQuery(id, name, type) {
  const hdr = Buffer.alloc(12);
  hdr.writeUInt16BE(id, 0);
  hdr.writeUInt16BE(0x0100, 2); // RD
  hdr.writeUInt16BE(1, 4); // QDCOUNT
  const q = Buffer.alloc(4);
  q.writeUInt16BE(type, 0);
  q.writeUInt16BE(1, 2); // IN
  return Buffer.concat([hdr, encodeName(name), q]);
}

// Reads a (possibly compressed) name at off. Returns [name, offset after it].
function readName(buf, off) {
  const labels = [];
  let end = -1;
  for (let hops = 0; hops < 64; hops++) {
    const len = buf[off];
    if (len === undefined) throw new Error('truncated DNS name');
    if ((len & 0xc0) === 0xc0) {
      if (end < 0) end = off + 2;
      off = ((len & 0x3f) << 8) | buf[off + 1];
      continue;
    }
    if (len === 0) {
      if (end < 0) end = off + 1;
      return [labels.join('.'), end];
    }
    labels.push(buf.toString('ascii', off + 1, off + 1 + len));
    off += 1 + len;
  }
  throw new Error('DNS name compression loop');
}

function skipQuestion(buf, off) {
  const [, after] = readName(buf, off);
  return after + 4;
}

// Decodes a DNS response: {id, rcode, rcodeName, aa, tc, answers: [{name, type, typeName, ttl,
// data (Buffer), and per type: address | preference+exchange ('' = the root, i.e. null MX) |
// strings+text | target}]}.
export function parseDnsResponse(buf) {
  const id = buf.readUInt16BE(0);
  const flags = buf.readUInt16BE(2);
  const qd = buf.readUInt16BE(4);
  const an = buf.readUInt16BE(6);
  let off = 12;
  for (let i = 0; i < qd; i++) off = skipQuestion(buf, off);
  const answers = [];
  for (let i = 0; i < an; i++) {
    const [name, o] = readName(buf, off);
    const type = buf.readUInt16BE(o);
    const ttl = buf.readUInt32BE(o + 4);
    const rdlen = buf.readUInt16BE(o + 8);
    const rdOff = o + 10;
    const data = buf.subarray(rdOff, rdOff + rdlen);
    const rr = { name, type, typeName: TYPE_NAMES[type] ?? String(type), ttl, data };
    if (type === 1) rr.address = [...data].join('.');
    else if (type === 28) rr.address = ipv6ToString(data);
    else if (type === 15) {
      rr.preference = buf.readUInt16BE(rdOff);
      rr.exchange = readName(buf, rdOff + 2)[0];
    } else if (type === 16) {
      rr.strings = [];
      for (let p = 0; p < data.length; ) {
        rr.strings.push(data.toString('utf8', p + 1, p + 1 + data[p]));
        p += 1 + data[p];
      }
      rr.text = rr.strings.join('');
    } else if (type === 5 || type === 12 || type === 2) rr.target = readName(buf, rdOff)[0];
    answers.push(rr);
    off = rdOff + rdlen;
  }
  const rcode = flags & 0xf;
  return { id, rcode, rcodeName: RCODES[rcode] ?? String(rcode), aa: !!(flags & 0x400), tc: !!(flags & 0x200), answers };
}

// RFC 5952 text form: the longest run of two or more zero groups becomes '::'.
function ipv6ToString(b) {
  const g = [];
  for (let i = 0; i < 16; i += 2) g.push(b.readUInt16BE(i));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

// One UDP DNS query, built and decoded here (for what Node's resolver hides, e.g. a null MX or the
// exact RCODE). Resolves to parseDnsResponse()'s result, or rejects on timeout.
export function dnsQuery(name, type = 'A', { port, address = '127.0.0.1', timeoutMs = 2000 } = {}) {
  const t = typeof type === 'number' ? type : DNS_TYPES[type.toUpperCase()];
  if (!t) throw new Error(`unknown DNS type ${type}`);
  const id = Math.floor(Math.random() * 0x10000);
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket(address.includes(':') ? 'udp6' : 'udp4');
    const timer = setTimeout(() => {
      s.close();
      reject(new Error(`DNS query ${name}/${type} to ${address}#${port}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    s.on('error', (err) => {
      clearTimeout(timer);
      s.close();
      reject(err);
    });
    s.on('message', (msg) => {
      if (msg.length < 12 || msg.readUInt16BE(0) !== id) return;
      clearTimeout(timer);
      s.close();
      try {
        resolve(parseDnsResponse(msg));
      } catch (err) {
        reject(err);
      }
    });
    s.send(buildQuery(id, name, t), port, address);
  });
}

// A UDP "upstream" for dnsmasq: answers every query with `rcode` (2 = SERVFAIL), or never
// answers (rcode null).
function startFakeUpstream(rcode) {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.on('error', reject);
    s.on('message', (msg, rinfo) => {
      if (rcode === null || msg.length < 12) return;
      try {
        const qd = msg.readUInt16BE(4);
        let end = 12;
        for (let i = 0; i < qd; i++) end = skipQuestion(msg, end);
        const out = Buffer.from(msg.subarray(0, end)); // header + question, no EDNS OPT record
        out[2] = 0x80 | (msg[2] & 0x79); // QR, keep opcode and RD
        out[3] = 0x80 | rcode; // RA
        out.writeUInt16BE(0, 6);
        out.writeUInt16BE(0, 8);
        out.writeUInt16BE(0, 10);
        s.send(out, rinfo.port, rinfo.address);
      } catch {
        // ignore malformed
      }
    });
    s.bind(0, '127.0.0.1', () => resolve(s));
  });
}

// ---- DNS: dnsmasq -----------------------------------------------------------------------------

function txtHex(text) {
  const strings = Array.isArray(text) ? text : [text];
  const parts = [];
  for (const s of strings) {
    const b = Buffer.from(s, 'utf8');
    // Character strings are at most 255 bytes: split long ones (as DKIM keys are).
    for (let i = 0; i < b.length || i === 0; i += 255) {
      const c = b.subarray(i, i + 255);
      parts.push(Buffer.from([c.length]), c);
      if (b.length === 0) break;
    }
  }
  return Buffer.concat(parts).toString('hex');
}

function checkName(n) {
  if (typeof n !== 'string' || !n || /[,/#\s]/.test(n)) throw new Error(`bad DNS name for dnsmasq: ${JSON.stringify(n)}`);
  return n.replace(/\.$/, '');
}

// startDns({records, zones, ttl}) starts dnsmasq on 127.0.0.1:<free port> and resolves once it
// answers. records:
//   mx:       [{domain, host, preference = 10}]
//   nullMx:   [domain]                 RFC 7505 "MX 0 ." (--mx-host=domain,.,0)
//   a:        [{name, ip}]             IPv4 or IPv6 (AAAA) (--host-record; several per name ok)
//   txt:      [{name, text}]           text: string or array of strings (split at 255 bytes)
//   cname:    [{name, target}]         target must be a name given here too
//   raw:      [{name, type, hex}]      any record: type number and RDATA in hex (--dns-rr)
//   servfail: [domain]                 the domain and everything under it: SERVFAIL (forwarded to a
//                                      fake upstream in this process that answers SERVFAIL)
//   timeout:  [domain]                 no answer at all (forwarded to an upstream that never
//                                      answers; dnsmasq stays silent, the client times out)
// dnsmasq is authoritative-only (--local) for .test, for every zone in `zones` and for every name
// used in records: other names there are NXDOMAIN (or NOERROR with no answers when the name has
// records of another type). Names outside all of those get REFUSED. Records have TTL `ttl` (0).
// Returns {address, port, server ('127.0.0.1:PORT', for Resolver.setServers), pid, dir, args,
// logs() (dnsmasq's query log), queries() ([{type, name}] asked so far), stop()}.
// port: listen on this port (to restart a DNS server with new records where a server expects it).
export async function startDns({ records = {}, zones = [], ttl = 0, timeoutMs = 5000, port: fixedPort } = {}) {
  const dir = makeTempDir('mailplane-dns-');
  const upstreams = [];
  const zoneNames = ['test', ...zones.map(checkName)];
  const localNames = new Set(zoneNames);
  const recordArgs = [];
  const local = (n) => {
    const name = checkName(n);
    if (!zoneNames.some((z) => name === z || name.endsWith(`.${z}`))) localNames.add(name);
    return name;
  };
  for (const r of records.mx ?? []) recordArgs.push(`--mx-host=${local(r.domain)},${checkName(r.host)},${r.preference ?? 10}`);
  for (const d of records.nullMx ?? []) recordArgs.push(`--mx-host=${local(d)},.,0`);
  for (const r of records.a ?? []) {
    if (!net.isIP(r.ip)) throw new Error(`bad IP ${r.ip}`);
    recordArgs.push(`--host-record=${local(r.name)},${r.ip}`);
  }
  for (const r of records.txt ?? []) recordArgs.push(`--dns-rr=${local(r.name)},16,${txtHex(r.text)}`);
  for (const r of records.cname ?? []) recordArgs.push(`--cname=${local(r.name)},${checkName(r.target)}`);
  for (const r of records.raw ?? []) recordArgs.push(`--dns-rr=${local(r.name)},${r.type},${r.hex.replace(/\s+/g, '')}`);
  const forwardArgs = [];
  try {
    for (const [list, rcode] of [
      [records.servfail ?? [], 2],
      [records.timeout ?? [], null],
    ]) {
      if (!list.length) continue;
      const up = await startFakeUpstream(rcode);
      upstreams.push(up);
      for (const d of list) forwardArgs.push(`--server=/${checkName(d)}/127.0.0.1#${up.address().port}`);
    }
  } catch (err) {
    for (const u of upstreams) u.close();
    rmDir(dir);
    throw err;
  }
  const closeUpstreams = () => {
    for (const u of upstreams) {
      try {
        u.close();
      } catch {
        // closed
      }
    }
  };

  let lastError = null;
  for (let attempt = 0; attempt < 4; attempt++) {
    const port = fixedPort ?? await freePort('127.0.0.1', { udp: true });
    const args = [
      '--keep-in-foreground',
      '--conf-file=/dev/null',
      '--no-resolv',
      '--no-hosts',
      '--no-poll',
      '--bind-interfaces',
      '--listen-address=127.0.0.1',
      `--port=${port}`,
      `--pid-file=${dir}/dnsmasq.pid`,
      '--cache-size=0',
      `--local-ttl=${ttl}`,
      '--log-facility=-',
      '--log-queries',
      ...[...localNames].map((n) => `--local=/${n}/`),
      ...forwardArgs,
      ...recordArgs,
    ];
    // Its own process group: dnsmasq forks a child per TCP query, stop() ends them too.
    const h = spawnTracked(DNSMASQ, args, { detached: true });
    const probeName = `probe-${process.pid}-${attempt}.test`;
    try {
      await waitUntil(
        async () => {
          if (h.exit) throw new Error(`dnsmasq exited (code ${h.exit.code}): ${h.lines.join('\n')}`);
          try {
            await dnsQuery(probeName, 'A', { port, timeoutMs: 50 });
            return true;
          } catch {
            return false;
          }
        },
        { timeoutMs, what: 'dnsmasq to answer', details: () => h.lines.slice(-20).join('\n') },
      );
    } catch (err) {
      await h.kill();
      lastError = err;
      if (/in use/i.test(h.lines.join('\n'))) continue;
      break;
    }
    const dns = {
      address: '127.0.0.1',
      port,
      server: `127.0.0.1:${port}`,
      args,
      dir,
      pid: h.proc.pid,
      logs: () => h.lines.slice(),
      // The names dnsmasq was asked for, in order (without the startup probe): [{type, name}].
      queries: () =>
        h.lines
          .map((l) => /query\[(\w+)\] (\S+) from/.exec(l))
          .filter((m) => m && m[2] !== probeName)
          .map((m) => ({ type: m[1], name: m[2] })),
      async stop() {
        live.delete(entry);
        await h.kill();
        closeUpstreams();
        rmDir(dir);
      },
    };
    const entry = {
      killSync() {
        h.killSync();
        closeUpstreams();
        rmDir(dir);
      },
    };
    live.add(entry);
    return dns;
  }
  closeUpstreams();
  rmDir(dir);
  throw lastError;
}

// ---- Postfix ----------------------------------------------------------------------------------

function run(cmd, args, { timeoutMs = 10000 } = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', error: r.error };
}

// Postfix prints its errors only to a terminal (or syslog): run cmd under script(1) to see them.
function postfixDiagnostics(args) {
  const cmd = [POSTFIX, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  const r = run('script', ['-qec', cmd, '/dev/null']);
  return (r.stdout + r.stderr).trim();
}

function passwdEntry(user) {
  const r = run('getent', ['passwd', user]);
  const f = r.stdout.trim().split(':');
  if (r.code !== 0 || f.length < 4) throw new Error(`user ${user} is missing (is postfix installed?)`);
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

// Process ids whose process group is pgid, zombies excluded.
function processGroupMembers(pgid) {
  const out = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (f[0] !== 'Z' && Number(f[2]) === pgid) out.push(Number(d));
    } catch {
      // gone
    }
  }
  return out;
}

// Processes of a Postfix instance: their environment has MAIL_CONFIG=<confDir>. Zombies excluded.
export function postfixProcesses(confDir) {
  const out = [];
  const needle = `MAIL_CONFIG=${confDir}\0`;
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (fs.readFileSync(`/proc/${d}/environ`, 'latin1').includes(needle)) {
        const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
        if (stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z') out.push(Number(d));
      }
    } catch {
      // gone, or a kernel thread
    }
  }
  return out;
}

function killPids(pids) {
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

// startPostfix({ip, port, users, domains, tls, hostname, main}) runs a private Postfix instance as
// a receiving MX on ip:port (port: a free one by default; 25 is fine on a 127.x address of its
// own). It accepts mail for every user@domain (a user containing '@' is taken as a whole
// address) into Maildirs under <dir>/mail, answers 550 5.1.1 to other recipients in its domains
// and 554 5.7.1 (relay access denied) to other domains, never delivers anywhere else
// (default_transport = error), offers STARTTLS with a self-signed certificate when tls (and adds
// the TLS details to the Received header), and logs to <dir>/maillog. `main` adds or overrides
// main.cf parameters. Needs root.
// Returns {ip, port, hostname, addresses, dir, confDir, mailDir, certFile, keyFile, messages(),
// waitForMessages(n, timeoutMs), log(), waitForLog(re, timeoutMs), processes(), stop()}.
export async function startPostfix({
  ip = '127.0.0.3',
  port,
  users = ['alice', 'bob'],
  domains = ['postfix.test'],
  tls = true,
  hostname,
  main = {},
  timeoutMs = 10000,
} = {}) {
  assertLoopback(ip);
  if (process.getuid() !== 0) throw new Error('startPostfix needs root');
  for (const b of [POSTFIX, POSTCONF]) if (!fs.existsSync(b)) throw new Error(`${b} is missing (apt-get install postfix)`);
  const pf = passwdEntry('postfix');
  const addresses = [];
  for (const u of users) {
    if (u.includes('@')) addresses.push(u.toLowerCase());
    else for (const d of domains) addresses.push(`${u}@${d}`.toLowerCase());
  }
  const allDomains = [...new Set([...domains, ...addresses.map((a) => a.split('@')[1])])];
  hostname ??= `mx.${allDomains[0] ?? 'postfix.test'}`;
  const explicitPort = port !== undefined && port !== 0;
  if (!explicitPort) port = await freePort(ip);
  else if (!(await canBind(ip, port, false))) throw new Error(`startPostfix: ${ip}:${port} is in use`);

  const dir = makeTempDir('mailplane-postfix-');
  fs.chmodSync(dir, 0o755); // the daemons run as 'postfix' and must traverse it
  const confDir = `${dir}/etc`;
  const mailDir = `${dir}/mail`;
  const maillog = `${dir}/maillog`;
  let h = null;
  const entry = {
    killSync() {
      if (h && !h.exit) {
        try {
          process.kill(-h.proc.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      killPids(postfixProcesses(confDir));
      rmDir(dir);
    },
  };
  live.add(entry);
  const fail = async (msg) => {
    if (h && !h.exit) await h.kill(2000);
    let logText = '';
    try {
      logText = fs.readFileSync(maillog, 'utf8').split('\n').slice(-20).join('\n');
    } catch {
      // none yet
    }
    entry.killSync();
    live.delete(entry);
    throw new Error(`${msg}\n${h ? h.lines.join('\n') : ''}\n${logText}`.trim());
  };

  fs.mkdirSync(confDir);
  fs.mkdirSync(`${dir}/queue`, { mode: 0o755 });
  fs.mkdirSync(mailDir, { mode: 0o755 });
  fs.chownSync(mailDir, pf.uid, pf.gid);
  const masterProto = ['/usr/share/postfix/master.cf.dist', '/etc/postfix/master.cf.proto'].find((f) => fs.existsSync(f));
  if (!masterProto) await fail('no master.cf template found');
  fs.copyFileSync(masterProto, `${confDir}/master.cf`);
  fs.writeFileSync(`${confDir}/main.cf`, '');
  fs.writeFileSync(`${confDir}/vmailbox`, addresses.map((a) => `${a} ${a}/\n`).join(''));
  let cert = {};
  if (tls) cert = makeCert(dir, { cn: hostname, ips: [ip] });

  const settings = {
    compatibility_level: '3.6',
    queue_directory: `${dir}/queue`,
    data_directory: `${dir}/data`,
    mail_owner: 'postfix',
    setgid_group: 'postdrop',
    myhostname: hostname,
    mydomain: allDomains[0] ?? 'postfix.test',
    myorigin: '$myhostname',
    mydestination: '',
    relay_domains: '',
    local_recipient_maps: '',
    alias_maps: '',
    alias_database: '',
    // Postfix refuses an inet_interfaces address that no interface carries (127.0.0.3 is routed
    // to lo but not configured on it); the smtpd service below binds ip:port explicitly.
    inet_interfaces: '127.0.0.1',
    inet_protocols: 'ipv4',
    mynetworks: '127.0.0.0/8',
    smtpd_relay_restrictions: 'reject_unauth_destination',
    smtpd_peername_lookup: 'no',
    smtpd_error_sleep_time: '0',
    smtpd_banner: '$myhostname ESMTP Postfix',
    in_flow_delay: '0',
    virtual_mailbox_domains: allDomains.join(' '),
    virtual_mailbox_maps: `texthash:${confDir}/vmailbox`,
    virtual_mailbox_base: mailDir,
    virtual_minimum_uid: '1',
    virtual_uid_maps: `static:${pf.uid}`,
    virtual_gid_maps: `static:${pf.gid}`,
    default_transport: 'error:outbound delivery disabled in tests',
    relay_transport: 'error:outbound delivery disabled in tests',
    local_transport: 'error:local delivery disabled in tests',
    smtp_dns_support_level: 'disabled',
    smtputf8_enable: 'yes',
    smtpd_tls_security_level: tls ? 'may' : 'none',
    ...(tls
      ? {
          smtpd_tls_cert_file: cert.certFile,
          smtpd_tls_key_file: cert.keyFile,
          smtpd_tls_loglevel: '1',
          smtpd_tls_received_header: 'yes',
        }
      : {}),
    maillog_file: maillog,
    maillog_file_prefixes: dir,
    biff: 'no',
    append_dot_mydomain: 'no',
    ...main,
  };
  const pc = (...args) => run(POSTCONF, ['-c', confDir, ...args]);
  let r = pc('-e', ...Object.entries(settings).map(([k, v]) => `${k} = ${v}`));
  if (r.code !== 0) await fail(`postconf -e failed: ${r.stderr}`);
  r = pc('-F', '*/*/chroot = n');
  if (r.code !== 0) await fail(`postconf -F failed: ${r.stderr}`);
  // Postfix waits (300 ms at a time) while a configuration file is less than a second old, for
  // fear of reading it half-written: backdate what we just wrote.
  const backdate = () => {
    const past = new Date(Date.now() - 10000);
    for (const f of ['main.cf', 'master.cf', 'vmailbox']) fs.utimesSync(`${confDir}/${f}`, past, past);
  };
  backdate();
  const daemonDir = pc('-h', 'daemon_directory').stdout.trim() || '/usr/lib/postfix/sbin';

  const started = Date.now();
  for (let attempt = 0; ; attempt++) {
    // Only our listener: no port 25 on all addresses.
    for (const line of pc('-M').stdout.split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f[1] === 'inet') pc('-X', '-M', `${f[0]}/inet`);
    }
    r = pc('-M', `${ip}:${port}/inet = ${ip}:${port} inet n - n - - smtpd`);
    if (r.code !== 0) await fail(`postconf -M failed: ${r.stderr}`);
    backdate();
    // `postfix check` creates the queue directories with the right owners (quickly, unlike the
    // full `postfix start`, which also runs the slow check-warn pass).
    r = run(POSTFIX, ['-c', confDir, 'check']);
    if (r.code !== 0) await fail(`postfix check failed:\n${postfixDiagnostics(['-c', confDir, 'check'])}`);
    // The master in the foreground, as our child: it becomes a session and process group leader,
    // and every Postfix process of this instance is in its process group.
    h = spawnTracked(`${daemonDir}/master`, ['-c', confDir, '-s']);
    try {
      await waitUntil(
        () => {
          if (h.exit) throw new Error(`postfix master exited (code ${h.exit.code}, signal ${h.exit.signal})`);
          // Ours, not someone else's socket on the same address.
          return holdsSocket(h.proc.pid, tcpListeners(ip, port));
        },
        { timeoutMs, intervalMs: 20, what: `postfix to listen on ${ip}:${port}` },
      );
      break;
    } catch (err) {
      let logText = '';
      try {
        logText = fs.readFileSync(maillog, 'utf8');
      } catch {
        // none
      }
      if (!explicitPort && attempt < 3 && (h.exit || /in use/i.test(logText))) {
        await h.kill(2000);
        killPids(postfixProcesses(confDir));
        port = await freePort(ip);
        continue;
      }
      await fail(h.exit ? `${err.message}; is ${ip}:${port} in use? (the master logs that to syslog only)` : err.message);
    }
  }
  const masterPid = h.proc.pid;
  const startMs = Date.now() - started;

  const readLog = () => {
    try {
      return fs.readFileSync(maillog, 'utf8');
    } catch {
      return '';
    }
  };
  const messages = () => {
    const out = [];
    for (const addr of addresses) {
      for (const sub of ['new', 'cur']) {
        const d = `${mailDir}/${addr}/${sub}`;
        let names = [];
        try {
          names = fs.readdirSync(d);
        } catch {
          continue;
        }
        for (const name of names) {
          const file = `${d}/${name}`;
          try {
            const st = fs.statSync(file);
            out.push({ recipient: addr, file, raw: fs.readFileSync(file, 'utf8'), mtimeMs: st.mtimeMs });
          } catch {
            // moved meanwhile
          }
        }
      }
    }
    return out.sort((a, b) => a.mtimeMs - b.mtimeMs || (a.file < b.file ? -1 : 1));
  };
  const logTail = () => readLog().split('\n').slice(-15).join('\n');

  return {
    ip,
    port,
    hostname,
    addresses,
    dir,
    confDir,
    mailDir,
    maillog,
    certFile: cert.certFile,
    keyFile: cert.keyFile,
    masterPid,
    startMs,
    // Delivered messages, oldest first: [{recipient, file, raw, mtimeMs}]. raw starts with the
    // Return-Path, Delivered-To and Received headers Postfix adds.
    messages,
    async waitForMessages(n, timeoutMs = 10000) {
      return waitUntil(
        () => {
          const m = messages();
          return m.length >= n ? m : null;
        },
        { timeoutMs, intervalMs: 50, what: `${n} message(s) delivered by postfix on ${ip}:${port}`, details: logTail },
      );
    },
    log: readLog,
    async waitForLog(re, timeoutMs = 10000) {
      return waitUntil(() => re.exec(readLog()), { timeoutMs, intervalMs: 50, what: `postfix log to match ${re}`, details: logTail });
    },
    processes: () => postfixProcesses(confDir),
    // `postfix stop`, then waits for the master and every process of the instance to exit
    // (SIGKILL after a few seconds), and removes the directory.
    async stop() {
      if (!live.has(entry)) return;
      if (!h.exit) {
        // `postfix stop` SIGTERMs the master, then polls for it to be gone once a second: it is
        // not waited for, the master's own exit is (and the script is ended once that happened).
        const stopper = spawnTracked(POSTFIX, ['-c', confDir, 'stop']);
        const stopFailed = stopper.exited.then((e) => {
          if (e.code !== 0 && !h.exit) {
            try {
              h.proc.kill('SIGTERM');
            } catch {
              // gone
            }
          }
        });
        let timer;
        const timedOut = await Promise.race([
          h.exited.then(() => false),
          new Promise((res) => {
            timer = setTimeout(() => res(true), 5000);
          }),
        ]);
        clearTimeout(timer);
        if (timedOut) {
          try {
            process.kill(-masterPid, 'SIGKILL');
          } catch {
            // gone
          }
          await h.exited;
        }
        if (!stopper.exit) await stopper.kill(1000);
        await stopFailed;
      }
      // The master SIGTERMs its children on its way out, but idle ones may take a second to
      // notice: give them a moment, then SIGKILL (nothing here is worth a graceful exit).
      const left = () => [...new Set([...processGroupMembers(masterPid), ...postfixProcesses(confDir)])];
      try {
        await waitUntil(() => left().length === 0, { timeoutMs: 300, intervalMs: 20 });
      } catch {
        killPids(left());
        await waitUntil(() => left().length === 0, { timeoutMs: 2000, intervalMs: 20 }).catch(() => {});
      }
      live.delete(entry);
      rmDir(dir);
    },
  };
}

// ---- SMTP peer with injected faults -----------------------------------------------------------

export const SMTP_PEER_MODES = [
  'accept',
  'no-pipelining',
  'disconnect-at-mail',
  'disconnect-at-data-cmd',
  'disconnect-at-data',
  'tempfail-rcpt',
  'reject-rcpt-550',
  'defer-then-accept',
  'greeting-421',
  'tempfail-data',
  'reject-data',
  'broken-starttls',
];

// startSmtpPeer({ip, port, mode, deferTimes, tls, ...}) runs tests/peers/smtp_peer.py on ip:port
// (port 0, the default: the kernel picks one). Modes:
//   accept                 accepts everything; EHLO offers PIPELINING, SIZE, 8BITMIME,
//                          ENHANCEDSTATUSCODES, SMTPUTF8 (and STARTTLS with tls)
//   no-pipelining          as accept, without PIPELINING; whether the client pipelined anyway is
//                          recorded (connections()[i].pipelined, received()[i].pipelined)
//   disconnect-at-mail     closes the connection on MAIL FROM, without a reply
//   disconnect-at-data-cmd closes the connection on the DATA command, without a reply
//   disconnect-at-data     answers DATA 354, reads the whole message up to the final dot, then
//                          closes without the final reply (the message is in transactions())
//   tempfail-rcpt          451 4.3.0 to every RCPT TO (DATA then gets 554 5.5.1)
//   reject-rcpt-550        550 5.1.1 to every RCPT TO
//   defer-then-accept      the first deferTimes (1) RCPT TOs of each recipient (counted across
//                          connections, case-insensitively) get 451 4.7.1, later ones 250
//   greeting-421           421 4.3.2 as the greeting, then closes
//   tempfail-data          451 4.3.0 after the message data
//   reject-data            554 5.7.1 after the message data
//   broken-starttls        offers STARTTLS, answers 220, then plain text: the handshake fails
// In every mode rejectRecipients get 550 5.1.1, tempfailRecipients 451 4.3.0, and with maxRcpts
// the RCPT after that many accepted ones gets 452 4.5.3. greetingDelayMs delays the greeting.
// Returns {ip, port, mode, hostname, pid, dir, certFile, keyFile, received(), transactions(),
// connections(), waitForMessages(n, ms), waitForTransactions(n, ms), waitForConnections(n, ms),
// waitFor(pred, ms, what), logs(), stop()}. Events reach Node asynchronously: wait with
// waitFor*() before looking at received()/connections() after the client got its reply.
export async function startSmtpPeer({
  ip = '127.0.0.4',
  port = 0,
  mode = 'accept',
  deferTimes = 1,
  tls = false,
  hostname = 'peer.test',
  rejectRecipients = [],
  tempfailRecipients = [],
  maxRcpts = 0,
  greetingDelayMs = 0,
  timeoutMs = 5000,
} = {}) {
  assertLoopback(ip);
  if (!SMTP_PEER_MODES.includes(mode)) throw new Error(`unknown smtp peer mode ${mode}`);
  const dir = makeTempDir('mailplane-smtp-peer-');
  const args = [SMTP_PEER_SCRIPT, '--ip', ip, '--port', String(port), '--mode', mode,
    '--defer-times', String(deferTimes), '--hostname', hostname, '--max-rcpts', String(maxRcpts),
    '--greeting-delay-ms', String(greetingDelayMs)];
  for (const a of rejectRecipients) args.push('--reject-rcpt', a);
  for (const a of tempfailRecipients) args.push('--tempfail-rcpt', a);
  let cert = {};
  if (tls) {
    try {
      cert = makeCert(dir, { cn: hostname, ips: [ip] });
    } catch (err) {
      rmDir(dir);
      throw err;
    }
    args.push('--tls-cert', cert.certFile, '--tls-key', cert.keyFile);
  }

  const conns = new Map();
  const txns = [];
  const stderr = [];
  let ready = null;
  const onEvent = (ev) => {
    const c = conns.get(ev.conn);
    switch (ev.event) {
      case 'ready':
        ready = ev;
        break;
      case 'connect':
        conns.set(ev.conn, {
          id: ev.conn, peer: { address: ev.peer[0], port: ev.peer[1] }, ehlo: null, heloVerb: null,
          ehloNames: [], tls: false, tlsVersion: null, tlsCipher: null, starttlsInjected: false, pipelined: false,
          pipelinedCommands: [], messages: 0, transactions: 0, closed: false, closedBy: null, quit: false,
        });
        break;
      case 'ehlo':
        c.ehlo = ev.name;
        c.heloVerb = ev.verb;
        c.ehloNames.push(ev.name);
        break;
      case 'starttls':
        Object.assign(c, { tls: true, tlsVersion: ev.version, tlsCipher: ev.cipher, starttlsInjected: ev.injected });
        break;
      case 'pipelined':
        c.pipelined = true;
        c.pipelinedCommands.push(ev.command);
        break;
      case 'txn': {
        const data = ev.data === null ? null : Buffer.from(ev.data, 'base64');
        txns.push({
          conn: ev.conn, index: ev.index, mailFrom: ev.mailFrom, mailParams: ev.mailParams,
          rcpts: ev.rcpts, rcptTo: ev.rcptTo, outcome: ev.outcome, reply: ev.reply, data,
          text: data === null ? null : data.toString('utf8'), tls: ev.tls, ehlo: ev.ehlo,
          pipelined: c ? c.pipelined : false,
        });
        c.transactions = ev.index;
        if (ev.outcome === 'accepted') c.messages += 1;
        break;
      }
      case 'close':
        Object.assign(c, { closed: true, closedBy: ev.by, quit: ev.quit });
        break;
      default:
        break;
    }
  };
  const h = spawnTracked(PYTHON, args, {
    detached: true,
    onLine(stream, line) {
      if (stream === 'stderr') {
        stderr.push(line);
        if (stderr.length > 2000) stderr.splice(0, 1000);
        return;
      }
      let ev;
      try {
        ev = JSON.parse(line);
      } catch {
        stderr.push(`stdout: ${line}`);
        return;
      }
      onEvent(ev);
    },
  });
  try {
    await waitUntil(
      () => {
        if (h.exit) throw new Error(`smtp_peer.py exited (code ${h.exit.code}):\n${stderr.join('\n')}`);
        return ready;
      },
      { timeoutMs, intervalMs: 10, what: 'smtp_peer.py to be ready', details: () => stderr.join('\n') },
    );
  } catch (err) {
    await h.kill();
    rmDir(dir);
    throw err;
  }
  const entry = {
    killSync() {
      h.killSync();
      rmDir(dir);
    },
  };
  live.add(entry);
  const received = () => txns.filter((t) => t.outcome === 'accepted');
  const waitFor = (pred, ms = 10000, what = 'smtp peer condition') =>
    waitUntil(pred, { timeoutMs: ms, what, details: () => `transactions: ${JSON.stringify(txns.map((t) => [t.conn, t.outcome, t.rcptTo]))}\n${stderr.join('\n')}` });
  return {
    ip,
    port: ready.port,
    mode,
    hostname,
    certFile: cert.certFile,
    keyFile: cert.keyFile,
    // Accepted messages, in order: [{conn, index (1-based, within the connection), mailFrom,
    // mailParams, rcpts: [{addr, params, reply}] (every RCPT, with the reply given), rcptTo
    // (accepted addresses), outcome: 'accepted', reply, data (Buffer, dot-unstuffed), text, tls,
    // ehlo, pipelined (the connection pipelined so far)}].
    received,
    // Every transaction (one per MAIL FROM), whatever its outcome: accepted | rejected-data |
    // tempfail-data | no-valid-rcpt | disconnected-at-mail | disconnected-at-data-cmd |
    // disconnected-at-data | rset | quit | client-closed | server-closed.
    transactions: () => txns.slice(),
    // [{id, peer: {address, port}, ehlo (the last EHLO/HELO name), heloVerb, ehloNames (all of
    //   them), tls, tlsVersion, tlsCipher, starttlsInjected (plain text followed STARTTLS and was
    //   discarded), pipelined, pipelinedCommands (commands whose reply the client did not wait
    //   for), messages (accepted), transactions, closed, closedBy ('client'|'server'), quit}]
    connections: () => [...conns.values()],
    waitFor,
    waitForMessages: (n, ms = 10000) => waitFor(() => (received().length >= n ? received() : null), ms, `${n} message(s)`),
    waitForTransactions: (n, ms = 10000) => waitFor(() => (txns.length >= n ? txns.slice() : null), ms, `${n} transaction(s)`),
    // Resolves once n connections have been closed.
    waitForConnections: (n, ms = 10000) =>
      waitFor(() => {
        const closed = [...conns.values()].filter((c) => c.closed);
        return closed.length >= n ? closed : null;
      }, ms, `${n} closed connection(s)`),
    logs: () => stderr.slice(),
    pid: h.proc.pid,
    dir,
    async stop() {
      live.delete(entry);
      await h.kill();
      rmDir(dir);
    },
  };
}

// `mailplane sink` on several addresses with a control port (--control): listen is a list of
// "ip:port" (port 0: each its own free port). Resolves, once every address listens (and, with
// waitStats, the first stats line is out), with {proc, ports: {ip: port}, listening: [events],
// controlPort, stats (the latest stdout stats line), stderr, exit, stop()}. The sink is killed if
// the test process exits first.
export async function startMultiSink(listen, { statsIntervalMs = 1000, waitStats = false, args = [] } = {}) {
  const argv = ['sink', '--control', '127.0.0.1:0', '--stats-interval-ms', String(statsIntervalMs), ...args];
  for (const l of listen) argv.push('--listen', l);
  const proc = spawn(BIN, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  const kill = () => proc.kill('SIGKILL');
  process.on('exit', kill);
  const sink = { proc, ports: {}, listening: [], controlPort: null, stats: null, stderr: '', exit: null };
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => {
    process.off('exit', kill);
    sink.exit = { code, signal };
    resolve(sink.exit);
  }));
  let pending = '';
  proc.stdout.setEncoding('utf8');
  proc.stdout.on('data', (chunk) => {
    pending += chunk;
    let nl;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      let ev;
      try { ev = JSON.parse(line); } catch { continue; }
      if (ev.event === 'sink.listening') { sink.listening.push(ev); sink.ports[ev.host] = ev.port; }
      if (ev.event === 'sink.control') sink.controlPort = ev.port;
      if (ev.event === 'sink.stats') sink.stats = ev;
    }
  });
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (c) => { sink.stderr += c; });
  await Promise.race([
    waitUntil(() => sink.controlPort && sink.listening.length === listen.length && (!waitStats || sink.stats),
      { timeoutMs: 10000, what: 'the sink to start' }),
    exited.then((e) => { throw new Error(`sink exited early (${e.code}): ${sink.stderr}`); }),
  ]);
  sink.stop = async () => {
    if (sink.exit) return sink.exit;
    proc.kill('SIGTERM');
    return exited;
  };
  return sink;
}

// A connection to a sink's control port: cmd(line) sends one line and resolves with the reply
// line; mode(args) sends "mode args" and throws unless the reply is "ok"; stats() parses the
// stats reply; close().
export async function openControl(port) {
  const sock = net.connect(port, '127.0.0.1');
  await new Promise((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
  sock.setEncoding('utf8');
  let buf = '';
  const waiting = [];
  sock.on('data', (d) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0 && waiting.length) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      waiting.shift()(line);
    }
  });
  return {
    sock,
    cmd(line) {
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no reply to control command ${line.slice(0, 60)}`)), 5000);
        waiting.push((reply) => { clearTimeout(t); resolve(reply); });
        sock.write(line + '\n');
      });
    },
    async mode(args) {
      const reply = await this.cmd(`mode ${args}`);
      if (reply !== 'ok') throw new Error(`mode ${args}: ${reply}`);
    },
    async stats() { return JSON.parse(await this.cmd('stats')); },
    close() { sock.destroy(); },
  };
}
