// node scripts/record-patchwork.mjs --pw VERSION: record a real Patchwork's
// answers into test/fixtures/patchwork-VERSION, for the contract test.
// Needs `npm run build:test` first; starts the test/real harness's
// gunicorn (so the same sources and settings), imports the generator's
// mail (one patch whose message-id holds a slash, and a series that says
// `Depends-on:` another), then records anonymous GETs and a bundle story:
// bundle-NN-* files, one owner's bundle created (POST), changed (PATCH)
// and deleted (DELETE), with the refusals on the way, as the token's
// users maint and plain. The tokens are written as <MAINT_TOKEN> and
// <USER_TOKEN>: no token reaches the files. NAME.req is the request,
// NAME.http the raw answer (status line, headers, CRLF, body), NAME.json
// the body.
// 3.1.3's other recordings were made by hand against a larger data set
// (see its NOTES.md): for 3.1.3 only the bundle-* files are made again.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const at = process.argv.indexOf('--pw');
const version = at > 0 ? process.argv[at + 1] : undefined;
if (!['3.1.3', '3.2.1', 'main'].includes(version)) {
  console.error('usage: node scripts/record-patchwork.mjs --pw 3.1.3|3.2.1|main (3.1.3: the bundle recordings only)');
  process.exit(2);
}
const bundlesOnly = version === '3.1.3';
process.env.PATCHWORK_VERSION = version;
const { realPatchwork, stopRealPatchwork } = await import(join(ROOT, 'build/test/real/harness.js'));
const { makeRealEnv } = await import(join(ROOT, 'build/test/real/env.js'));

const SLASH = 'slash/one@host.example.org';
const out = join(ROOT, 'test', 'fixtures', `patchwork-${version}`);
const pw = await realPatchwork();
if (!pw) process.exit(1);

/** Send one request as `who` (maint, plain or nobody) and write its three files. */
async function record(name, method, path, who, body) {
  const token = who === 'maint' ? pw.maint.token : who === 'plain' ? pw.plain.token : undefined;
  const headers = { accept: 'application/json' };
  const shown = ['Accept: application/json'];
  if (token) {
    headers.authorization = `Token ${token}`;
    shown.push(`Authorization: Token ${who === 'maint' ? '<MAINT_TOKEN>' : '<USER_TOKEN>'}`);
  }
  const text = body === undefined ? undefined : JSON.stringify(body);
  if (text !== undefined) {
    headers['content-type'] = 'application/json';
    shown.push('Content-Type: application/json');
  }
  const r = await fetch(`${pw.url}${path}`, { method, headers, redirect: 'manual', ...(text !== undefined ? { body: text } : {}) });
  const answer = Buffer.from(await r.arrayBuffer());
  const head = [`HTTP/1.1 ${r.status} ${r.statusText}`, ...[...r.headers].map(([k, v]) => `${k}: ${v}`)].join('\r\n');
  writeFileSync(join(out, `${name}.req`), `${method} ${path}\n${shown.join('\n')}\n${text !== undefined ? `\n${text}\n` : ''}`);
  writeFileSync(join(out, `${name}.http`), Buffer.concat([Buffer.from(`${head}\r\n\r\n`), answer]));
  if ((r.headers.get('content-type') ?? '').includes('json') && answer.length) writeFileSync(join(out, `${name}.json`), answer);
  console.log(`${r.status} ${name} ${method} ${path}`);
  return answer.length && (r.headers.get('content-type') ?? '').includes('json') ? JSON.parse(answer.toString()) : undefined;
}

let t;
try {
  t = await makeRealEnv(pw, { patches: 3, msgids: [SLASH] });
  const api = `/api/${pw.api}`;
  if (bundlesOnly) {
    mkdirSync(out, { recursive: true });
    for (const f of readdirSync(out)) if (f.startsWith('bundle-')) rmSync(join(out, f));
  } else {
    mkdirSync(out, { recursive: true });
    for (const f of readdirSync(out)) if (f !== 'NOTES.md') rmSync(join(out, f));
    const mails = await t.addMail({ patches: 0, git: { repo: join(t.dir, 'repo'), dependent: true } }, 'git');
    const byPrefix = (prefix) => t.patch(mails.find((m) => m.msgid.startsWith(prefix)).msgid);
    const [base, dependent, slash] = await Promise.all([byPrefix('util-checks-1-'), byPrefix('util/more-1-'), t.patch(SLASH)]);
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
    for (const [name, path] of Object.entries(requests)) await record(name, 'GET', path, 'nobody');
  }
  // The bundle story. Its first two recordings hold the world the contract test seeds from.
  const ids = (await t.patches()).map((p) => p.id).sort((x, y) => x - y).slice(0, 3);
  const name = `review ${t.link}`;
  let n = 0;
  const step = (what, method, path, who, body) => record(`bundle-${String(n++).padStart(2, '0')}-${what}`, method, path, who, body);
  await step('project', 'GET', `${api}/projects/${t.projectId}/`, 'nobody');
  await step('patches', 'GET', `${api}/patches/?project=${t.projectId}&order=id`, 'nobody');
  const made = await step('create-201', 'POST', `${api}/bundles/`, 'maint', { name, patches: [ids[0], ids[1]] });
  const theirs = await step('create-public-plain-201', 'POST', `${api}/bundles/`, 'plain', { name: `shared ${t.link}`, public: true, patches: [ids[2]] });
  await step('create-same-name-500', 'POST', `${api}/bundles/`, 'maint', { name, patches: [ids[0]] });
  await step('create-name-51-400', 'POST', `${api}/bundles/`, 'maint', { name: 'n'.repeat(51), patches: [ids[0]] });
  await step('create-empty-400', 'POST', `${api}/bundles/`, 'maint', { name: `empty ${t.link}`, patches: [] });
  await step('create-unknown-patch-400', 'POST', `${api}/bundles/`, 'maint', { name: `unknown ${t.link}`, patches: [999999] });
  await step('create-anonymous-403', 'POST', `${api}/bundles/`, 'nobody', { name: `anon ${t.link}`, patches: [ids[0]] });
  await step('create-api-1.1-405', 'POST', '/api/1.1/bundles/', 'maint', { name: `old ${t.link}`, patches: [ids[0]] });
  await step('list-owner', 'GET', `${api}/bundles/?owner=maint&per_page=250`, 'maint');
  await step('list-anonymous', 'GET', `${api}/bundles/`, 'nobody');
  await step('detail', 'GET', `${api}/bundles/${made.id}/`, 'maint');
  await step('detail-private-other-404', 'GET', `${api}/bundles/${made.id}/`, 'plain');
  await step('patch-200', 'PATCH', `${api}/bundles/${made.id}/`, 'maint', { patches: [ids[1], ids[2]] });
  await step('patch-empty-400', 'PATCH', `${api}/bundles/${made.id}/`, 'maint', { patches: [] });
  await step('patch-private-other-404', 'PATCH', `${api}/bundles/${made.id}/`, 'plain', { patches: [ids[0]] });
  await step('patch-public-other-403', 'PATCH', `${api}/bundles/${theirs.id}/`, 'maint', { patches: [ids[0]] });
  await step('delete-public-other-403', 'DELETE', `${api}/bundles/${theirs.id}/`, 'maint');
  await step('delete-204', 'DELETE', `${api}/bundles/${made.id}/`, 'maint');
  await step('detail-deleted-404', 'GET', `${api}/bundles/${made.id}/`, 'maint');
  await step('delete-public-plain-204', 'DELETE', `${api}/bundles/${theirs.id}/`, 'plain');
} finally {
  await t?.cleanup();
  await stopRealPatchwork(false);
}
