#!/usr/bin/env node
// Verifies every DKIM signature of messages with mailauth's dkimVerify (npm), an implementation
// independent of mailplane's signer (src/mime/dkim.h) and of dkimpy (dkim_verify.py).
//
// Usage: node dkim_verify.mjs --record NAME TXT [--record NAME TXT ...] MESSAGE...
//   NAME is where the key is published (selector._domainkey.domain), TXT the record's text
//   ("v=DKIM1; k=ed25519; p=..."). No real DNS is queried: a custom resolver answers from --record.
// Prints one line per message, "<path> pass" when it has at least one signature and all verify,
// "<path> fail <reason>" otherwise. Exits 0 when every message passed, 1 otherwise, 2 on bad usage.
import { readFile } from 'node:fs/promises';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';

const records = new Map();
const messages = [];
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--record') {
    if (i + 2 >= argv.length) {
      console.error('--record needs NAME and TXT');
      process.exit(2);
    }
    records.set(argv[i + 1].toLowerCase().replace(/\.$/, ''), argv[i + 2]);
    i += 2;
  } else {
    messages.push(argv[i]);
  }
}
if (messages.length === 0) {
  console.error('usage: dkim_verify.mjs --record NAME TXT ... MESSAGE...');
  process.exit(2);
}

// Answers like dns.promises.resolve(name, 'TXT'): a list of records, each a list of strings of at
// most 255 octets, as a real TXT record of a long RSA key arrives.
async function resolver(name, type) {
  const txt = type === 'TXT' ? records.get(name.toLowerCase().replace(/\.$/, '')) : undefined;
  if (txt === undefined) {
    const err = new Error(`no ${type} record for ${name}`);
    err.code = 'ENOTFOUND';
    throw err;
  }
  const strings = [];
  for (let at = 0; at < txt.length; at += 255) strings.push(txt.slice(at, at + 255));
  return [strings];
}

let allPassed = true;
for (const path of messages) {
  let verdict;
  try {
    const message = await readFile(path);
    const { results } = await dkimVerify(message, { resolver, curTime: new Date() });
    const signed = results.filter((r) => r.signature);
    const failed = signed.find((r) => r.status.result !== 'pass');
    if (signed.length === 0) verdict = 'fail no signature';
    else if (failed) verdict = `fail ${failed.status.result} ${failed.status.comment || ''}`.trim();
    else verdict = 'pass';
  } catch (err) {
    verdict = `fail ${err.message}`;
  }
  if (verdict !== 'pass') allPassed = false;
  console.log(`${path} ${verdict.replace(/\n/g, ' ')}`);
}
process.exit(allPassed ? 0 : 1);
