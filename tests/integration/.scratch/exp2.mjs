import { startServer } from '/work/main/tests/integration/lib/server.mjs';
import mailparser from 'mailparser';
const s = await startServer({ tenants: ['a'] });
try {
  const html = '<p>' + 'wörd '.repeat(400) + '</p>';
  const r = await s.submit('a', {from:'a@example.com', to:'b@example.com', html});
  const raw = await s.getRaw('a', r.json.id);
  const p = await mailparser.simpleParser(raw.bytes);
  const a = p.html;
  let i=0; while (i<a.length && a[i]===html[i]) i++;
  console.log(i, JSON.stringify(a.slice(i-20,i+40)), JSON.stringify(html.slice(i-20,i+40)));
  const t = raw.text; const k = t.indexOf('quoted-printable'); console.log(t.slice(k, k+400));
} finally { await s.cleanup(); }
