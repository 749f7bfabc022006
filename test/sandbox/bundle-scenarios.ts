import { expect } from 'chai';

// The bundle API scenarios run against the sandbox (test/sandbox/bundles.test.ts)
// and a real Patchwork 3.1.3 (test/real/bundles-api.test.ts). Every
// expected status and error body below was first seen on the real 3.1.3
// (and follows patchwork/api/bundle.py); the sandbox must give the same.

export type BundleWho = 'maint' | 'plain' | 'none';

export interface BundleWorld {
  /** One request to /api/VERSION/PATH as `who`; the body parsed when JSON. */
  api(method: string, path: string, who: BundleWho, body?: unknown, version?: string): Promise<{ status: number; body: unknown; allow: string | null; location: string | null }>;
  /** Three patch ids of project A and one of project B. */
  a: number[];
  b: number;
  linkA: string;
  linkB: string;
}

interface ApiBundle { id: number; name: string; public: boolean; owner: { username: string }; project: { link_name: string }; patches: { id: number; msgid: string }[]; mbox: string; web_url: string }

const LIST_ALLOW = 'GET, POST, HEAD, OPTIONS';
const DETAIL_ALLOW = 'GET, PUT, PATCH, DELETE, HEAD, OPTIONS';

/** Every scenario in order; each call's answer is checked before the next. */
export async function bundleScenarios(w: BundleWorld): Promise<void> {
  const { a, b } = w;
  const call = async (method: string, path: string, who: BundleWho, body: unknown, status: number, expected?: unknown, version = '1.3') => {
    const r = await w.api(method, path, who, body, version);
    expect(r.status, `${method} ${path} as ${who}: ${JSON.stringify(r.body)}`).to.equal(status);
    if (expected !== undefined) expect(r.body, `${method} ${path} as ${who}`).to.deep.equal(expected);
    return r;
  };

  // Create: owner is the token's user, private unless asked, 201 with Location.
  const made = await call('POST', 'bundles/', 'maint', { name: 'todo list', patches: [a[1], a[0]] }, 201);
  const mine = made.body as ApiBundle;
  expect(made.location).to.match(new RegExp(`/api/1\\.3/bundles/${mine.id}/$`));
  expect(made.allow).to.equal(LIST_ALLOW);
  expect(mine.owner.username).to.equal('maint');
  expect(mine.public).to.equal(false);
  expect(mine.project.link_name).to.equal(w.linkA);
  expect(mine.patches.map((p) => p.id)).to.deep.equal([a[0], a[1]]);
  expect(Object.keys(mine)).to.deep.equal(['id', 'url', 'web_url', 'project', 'name', 'owner', 'patches', 'public', 'mbox']);
  expect(Object.keys(mine.patches[0]!)).to.deep.equal(['id', 'url', 'web_url', 'msgid', 'list_archive_url', 'date', 'name', 'mbox']);
  expect(mine.web_url).to.match(/\/bundle\/maint\/todo%20list\/$/);
  expect(mine.mbox).to.match(/\/bundle\/maint\/todo%20list\/mbox\/$/);
  const pub = (await call('POST', 'bundles/', 'plain', { name: 'pub', public: true, patches: [a[2]] }, 201)).body as ApiBundle;
  const priv = (await call('POST', 'bundles/', 'plain', { name: 'priv', patches: [a[2]] }, 201)).body as ApiBundle;

  // Refusals, with DRF's error bodies.
  await call('POST', 'bundles/', 'maint', { name: 'empty', patches: [] }, 400, { patches: ['Bundles cannot be empty'] });
  await call('POST', 'bundles/', 'maint', { name: 'nop' }, 400, { patches: ['This field is required.'] });
  await call('POST', 'bundles/', 'maint', { patches: [a[0]] }, 400, { name: ['This field is required.'] });
  await call('POST', 'bundles/', 'maint', { name: 'two', patches: [a[0], b] }, 400, { patches: ['Bundle patches must belong to the same project'] });
  await call('POST', 'bundles/', 'maint', { name: 'x'.repeat(51), patches: [a[0]] }, 400, { name: ['Ensure this field has no more than 50 characters.'] });
  await call('POST', 'bundles/', 'maint', { name: 'bad', patches: [999999] }, 400, { patches: ['Invalid pk "999999" - object does not exist.'] });
  await call('POST', 'bundles/', 'maint', { name: 'bad', patches: ['abc'] }, 400, { patches: ['Incorrect type. Expected pk value, received str.'] });
  await call('POST', 'bundles/', 'none', { name: 'anon', patches: [a[0]] }, 403, { detail: 'Authentication credentials were not provided.' });
  await call('POST', 'bundles/', 'maint', { name: 'old', patches: [a[0]] }, 405, { detail: 'Method "POST" not allowed.' }, '1.1');
  // A second bundle of the same name is the database's unique constraint: a 500 page, not JSON.
  const dup = await w.api('POST', 'bundles/', 'maint', { name: 'todo list', patches: [a[0]] });
  expect(dup.status).to.equal(500);

  // Listing: public ones and your own; owner by username or id, project by link_name.
  const names = async (path: string, who: BundleWho) => ((await call('GET', path, who, undefined, 200)).body as ApiBundle[]).map((x) => x.name);
  expect(await names(`bundles/?project=${w.linkA}`, 'maint')).to.deep.equal(['todo list', 'pub']);
  expect(await names(`bundles/?project=${w.linkA}`, 'plain')).to.deep.equal(['pub', 'priv']);
  expect(await names(`bundles/?project=${w.linkA}`, 'none')).to.deep.equal(['pub']);
  expect(await names(`bundles/?project=${w.linkA}&owner=maint`, 'maint')).to.deep.equal(['todo list']);
  expect(await names(`bundles/?project=${w.linkA}&owner=plain`, 'maint')).to.deep.equal(['pub']);
  expect(await names('bundles/?owner=nobody-at-all', 'maint')).to.deep.equal([]);

  // Somebody else's: private is 404 (its existence does not leak), public is 403 for writes.
  await call('GET', `bundles/${priv.id}/`, 'maint', undefined, 404, { detail: 'Not found.' });
  await call('PATCH', `bundles/${priv.id}/`, 'maint', { patches: [a[0]] }, 404, { detail: 'Not found.' });
  const denied = await call('PATCH', `bundles/${pub.id}/`, 'maint', { patches: [a[0]] }, 403, { detail: 'You do not have permission to perform this action.' });
  expect(denied.allow).to.equal(DETAIL_ALLOW);
  await call('DELETE', `bundles/${pub.id}/`, 'maint', undefined, 403, { detail: 'You do not have permission to perform this action.' });
  await call('PATCH', `bundles/${pub.id}/`, 'none', { patches: [a[0]] }, 403, { detail: 'Authentication credentials were not provided.' });

  // Updates replace the whole list; empty is refused; PUT needs the name; API 1.1 may not write.
  const replaced = (await call('PATCH', `bundles/${mine.id}/`, 'maint', { patches: [a[2], a[0]] }, 200)).body as ApiBundle;
  expect(replaced.patches.map((p) => p.id)).to.deep.equal([a[0], a[2]]);
  await call('PATCH', `bundles/${mine.id}/`, 'maint', { patches: [] }, 400, { patches: ['Bundles cannot be empty'] });
  await call('PUT', `bundles/${mine.id}/`, 'maint', { patches: [a[1]] }, 400, { name: ['This field is required.'] });
  const put = (await call('PUT', `bundles/${mine.id}/`, 'maint', { name: 'todo list', patches: [a[1]] }, 200)).body as ApiBundle;
  expect(put.patches.map((p) => p.id)).to.deep.equal([a[1]]);
  await call('PATCH', `bundles/${mine.id}/`, 'maint', { patches: [a[0]] }, 405, { detail: 'Method "PATCH" not allowed.' }, '1.1');
  // Patches of another project move the bundle there: the project is the first patch's.
  const moved = (await call('PATCH', `bundles/${mine.id}/`, 'maint', { patches: [b] }, 200)).body as ApiBundle;
  expect(moved.project.link_name).to.equal(w.linkB);

  // Hostile names are kept as given, percent-encoded in URLs.
  const hostile = (await call('POST', 'bundles/', 'maint', { name: 'a "q" 50% ünï', patches: [a[0]] }, 201)).body as ApiBundle;
  expect(hostile.name).to.equal('a "q" 50% ünï');
  expect(hostile.web_url).to.match(/\/bundle\/maint\/a%20%22q%22%2050%25%20%C3%BCn%C3%AF\/$/);

  // Delete: owner only, 204, then gone.
  await call('DELETE', `bundles/${mine.id}/`, 'maint', undefined, 405, { detail: 'Method "DELETE" not allowed.' }, '1.1');
  const gone = await call('DELETE', `bundles/${mine.id}/`, 'maint', undefined, 204);
  expect(gone.body).to.equal(undefined);
  await call('GET', `bundles/${mine.id}/`, 'maint', undefined, 404, { detail: 'Not found.' });
  for (const id of [hostile.id]) await call('DELETE', `bundles/${id}/`, 'maint', undefined, 204);
  for (const id of [pub.id, priv.id]) await call('DELETE', `bundles/${id}/`, 'plain', undefined, 204);
}
