// node scripts/record-patchwork.mjs --pw VERSION: record a real Patchwork's
// answers into test/fixtures/patchwork-VERSION, for the contract test.
// Needs `npm run build:test` first; starts the test/real harness's
// gunicorn (so the same sources and settings), imports the generator's
// mail (one patch whose message-id holds a slash, and a series that says
// `Depends-on:` another), then records anonymous GETs only: no token can
// reach the files. NAME.req is the request, NAME.http the raw answer
// (status line, headers, CRLF, body), NAME.json the body.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const at = process.argv.indexOf('--pw');
const version = at > 0 ? process.argv[at + 1] : undefined;
if (!version || version === '3.1.3') {
  console.error('usage: node scripts/record-patchwork.mjs --pw 3.2.1|main (3.1.3 was recorded by hand against a larger data set: see its NOTES.md)');
  process.exit(2);
}
process.env.PATCHWORK_VERSION = version;
const { realPatchwork, stopRealPatchwork } = await import(join(ROOT, 'build/test/real/harness.js'));
const { makeRealEnv } = await import(join(ROOT, 'build/test/real/env.js'));

const SLASH = 'slash/one@host.example.org';
const out = join(ROOT, 'test', 'fixtures', `patchwork-${version}`);
const pw = await realPatchwork();
if (!pw) process.exit(1);
let t;
try {
  t = await makeRealEnv(pw, { patches: 2, msgids: [SLASH] });
  const mails = await t.addMail({ patches: 0, git: { repo: join(t.dir, 'repo'), dependent: true } }, 'git');
  const byPrefix = (prefix) => t.patch(mails.find((m) => m.msgid.startsWith(prefix)).msgid);
  const [base, dependent, slash] = await Promise.all([byPrefix('util-checks-1-'), byPrefix('util/more-1-'), t.patch(SLASH)]);
  const api = `/api/${pw.api}`;
  const dependentSeries = await (await fetch(`${pw.url}${api}/series/${dependent.series[0].id}/`)).json();
  const requests = {
    'api-root': '/api/',
    'api-root-1.3': '/api/1.3/',
    'api-root-1.4': '/api/1.4/',
    'project-detail': `${api}/projects/${t.projectId}/`,
    'patches-list-first-page': `${api}/patches/?project=${t.projectId}&per_page=2`,
    'patches-by-msgid-slash': `${api}/patches/?project=${t.projectId}&msgid=${encodeURIComponent(SLASH)}`,
    'patch-detail-slash': `${api}/patches/${slash.id}/`,
    'series-detail-base': `${api}/series/${base.series[0].id}/`,
    'series-detail-dependent': `${api}/series/${dependent.series[0].id}/`,
    'cover-detail-dependent': `${api}/covers/${dependentSeries.cover_letter.id}/`,
    'events-project': `${api}/events/?project=${t.projectId}&per_page=5`,
  };
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  for (const [name, path] of Object.entries(requests)) {
    const r = await fetch(`${pw.url}${path}`, { headers: { accept: 'application/json' }, redirect: 'manual' });
    const body = Buffer.from(await r.arrayBuffer());
    const head = [`HTTP/1.1 ${r.status} ${r.statusText}`, ...[...r.headers].map(([k, v]) => `${k}: ${v}`)].join('\r\n');
    writeFileSync(join(out, `${name}.req`), `GET ${path}\nAccept: application/json\n`);
    writeFileSync(join(out, `${name}.http`), Buffer.concat([Buffer.from(`${head}\r\n\r\n`), body]));
    if ((r.headers.get('content-type') ?? '').includes('json')) writeFileSync(join(out, `${name}.json`), body);
    console.log(`${r.status} ${name} ${path}`);
  }
} finally {
  await t?.cleanup();
  await stopRealPatchwork(false);
}
