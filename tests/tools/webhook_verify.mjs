#!/usr/bin/env node
// Verifies one Standard Webhooks signature with the specification's own npm package
// (`standardwebhooks`), an implementation independent of mailplane's signer
// (src/events/webhook_sign.h). The package also checks webhook-timestamp against this machine's
// clock (5 minutes either way), as a real receiver does.
//
// Usage: node webhook_verify.mjs SECRET ID TIMESTAMP SIGNATURE BODYFILE
//   SECRET is "whsec_<base64>" or the bare base64; SIGNATURE the webhook-signature header value
//   (one or more space-separated "v1,<base64>"); BODYFILE holds the request body.
// Prints "pass" and exits 0 when the signature verifies, prints "fail <reason>" and exits 1 when
// it does not, exits 2 on bad usage.
import { readFile } from 'node:fs/promises';
import standardwebhooks from 'standardwebhooks';

const { Webhook } = standardwebhooks;
const argv = process.argv.slice(2);
if (argv.length !== 5) {
  console.error('usage: webhook_verify.mjs SECRET ID TIMESTAMP SIGNATURE BODYFILE');
  process.exit(2);
}
const [secret, id, timestamp, signature, bodyFile] = argv;
const body = await readFile(bodyFile);
try {
  new Webhook(secret).verify(body, {
    'webhook-id': id,
    'webhook-timestamp': timestamp,
    'webhook-signature': signature,
  });
  console.log('pass');
  process.exit(0);
} catch (err) {
  console.log(`fail ${String(err.message).replace(/\n/g, ' ')}`);
  process.exit(1);
}
