// A load generator for the crash and shutdown tests: fires many POST /v1/messages at once over a
// pool of keep-alive connections and records what happened to each request.
import http from 'node:http';

// opts: {port, key, count, connections, makeMessage(i) -> object, onAnswer(result, stats)}
// Returns {results, stats, done (a promise resolved when every request has ended one way or
// another), agent}. Each result: {i, message, written (the whole request went out), answered,
// status, complete (the whole response arrived), json, text, error}.
export function fireSubmissions({ port, key, count, connections, makeMessage, onAnswer = () => {} }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const stats = { fired: 0, written: 0, answered: 0, accepted: 0, failed: 0, truncated: 0 };
  const results = [];
  const ends = [];
  for (let i = 0; i < count; i++) {
    const message = makeMessage(i);
    const payload = Buffer.from(JSON.stringify(message));
    const result = { i, message, written: false, answered: false, complete: false, status: 0 };
    results.push(result);
    stats.fired++;
    ends.push(
      new Promise((resolve) => {
        let settled = false;
        const settle = () => {
          if (!settled) {
            settled = true;
            resolve();
          }
        };
        const req = http.request(
          {
            host: '127.0.0.1',
            port,
            method: 'POST',
            path: '/v1/messages',
            agent,
            headers: {
              authorization: `Bearer ${key}`,
              'content-type': 'application/json',
              'content-length': payload.length,
            },
          },
          (res) => {
            result.answered = true;
            result.status = res.statusCode;
            result.headers = res.headers;
            stats.answered++;
            const chunks = [];
            res.on('data', (c) => chunks.push(c));
            const finish = () => {
              if (result.done) return;
              result.done = true;
              const buf = Buffer.concat(chunks);
              result.text = buf.toString('utf8');
              const declared = Number(res.headers['content-length']);
              result.complete = res.complete && (Number.isNaN(declared) || declared === buf.length);
              if (!result.complete) stats.truncated++;
              try {
                result.json = JSON.parse(result.text);
              } catch {
                result.json = undefined;
                result.complete = false;
              }
              if (result.status === 202 && result.complete) stats.accepted++;
              onAnswer(result, stats);
              settle();
            };
            res.on('end', finish);
            res.on('close', finish);
            res.on('error', (e) => {
              result.error = e;
              finish();
            });
          },
        );
        req.on('finish', () => {
          result.written = true;
          stats.written++;
        });
        req.on('error', (e) => {
          if (!result.answered) {
            result.error = e;
            stats.failed++;
            settle();
          }
        });
        req.end(payload);
      }),
    );
  }
  return { results, stats, agent, done: Promise.all(ends).finally(() => agent.destroy()) };
}

// Runs fn over items with at most `limit` at a time.
export async function mapLimit(items, limit, fn) {
  const out = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const k = next++;
      out[k] = await fn(items[k], k);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
