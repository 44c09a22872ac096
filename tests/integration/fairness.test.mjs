// Tenant isolation: tenant A's backlog (2,000 messages to a slow destination, a small active
// window) must not delay tenant B's fresh mail to the same destination. Without fairness B would
// wait behind A's whole backlog (about 2,000 x 100 ms / 2 connections = 100 s).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Server, startSink, waitFor } from './lib/server.mjs';

describe('fair scheduling across tenants', () => {
  let sink;
  let server;
  before(async () => {
    sink = await startSink({ args: ['--slow-ms', '100'] });
    server = await new Server({
      tenants: ['a', 'b'],
      config: `[delivery]
window = 50
max_connections_per_site = 2
idle_seconds = 2
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

  test("B's mail is delivered within seconds while A's backlog of 2,000 waits", async () => {
    for (let b = 0; b < 20; b++) {
      const messages = [];
      for (let i = 0; i < 100; i++) {
        messages.push({ from: 'bulk@a.example', to: `slow+${b * 100 + i}@dest.test`, subject: 'bulk', text: 'x' });
      }
      const r = await server.request('POST', '/v1/messages/batch', { key: server.key('a'), json: { messages } });
      assert.equal(r.status, 202);
      assert.equal(r.json.accepted, 100);
    }
    await waitFor(() => sink.stats.messages >= 10, { what: "A's delivery under way" });
    const t0 = Date.now();
    const ids = [];
    for (let i = 0; i < 5; i++) {
      const r = await server.submit('b', { from: 'app@b.example', to: `success+${i}@dest.test`, subject: 'fresh', text: 'x' });
      assert.equal(r.status, 202);
      ids.push(r.json.id);
    }
    for (const id of ids) {
      await waitFor(async () => (await server.getMessage('b', id)).json.status === 'delivered',
        { timeoutMs: 15000, intervalMs: 100, what: `B's ${id}` });
    }
    const took = Date.now() - t0;
    const aDelivered = sink.stats.messages;
    console.log(`# B's 5 messages delivered in ${took} ms; A had ${aDelivered} of 2000 delivered by then`);
    assert.ok(aDelivered < 1500, `A's backlog was nearly gone (${aDelivered}); the test proves nothing`);
    assert.ok(took < 10000, `B waited ${took} ms`);
  });
});
