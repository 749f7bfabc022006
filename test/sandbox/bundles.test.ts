import { Sandbox } from '../../server/sandbox/server.js';
import { bundleScenarios, type BundleWho } from './bundle-scenarios.js';

// The sandbox's bundles API against what a real Patchwork 3.1.3 answers
// (the same scenarios run against the real one in test/real/bundles-api.test.ts).

describe('sandbox bundles API', () => {
  let sb: Sandbox;
  beforeEach(async () => {
    sb = new Sandbox();
    await sb.start();
  });
  afterEach(() => sb.stop());

  it('lists, creates, replaces and deletes bundles with the real API\'s permissions and error bodies', async () => {
    const d = sb.data;
    const maint = d.addUser({ username: 'maint', token: 'maint-token-0123456789' });
    d.addUser({ username: 'plain', token: 'plain-token-0123456789' });
    const pa = d.addProject({ link_name: 'alpha', list_email: 'alpha@example.org', maintainers: [maint.id] });
    const pb = d.addProject({ link_name: 'beta', list_email: 'beta@example.org', maintainers: [maint.id] });
    // A third project: a bundle that moves must land in B's, not merely leave A's.
    d.addProject({ link_name: 'gamma', list_email: 'gamma@example.org', maintainers: [maint.id] });
    const who = d.addPerson('Bob', 'bob@example.com');
    const a = [1, 2, 3].map((i) => d.addPatch({ project: pa.id, msgid: `<a${i}@x>`, name: `a${i}`, submitter: who.id }, true).id);
    const b = d.addPatch({ project: pb.id, msgid: '<b1@x>', name: 'b1', submitter: who.id }, true).id;
    const tokens: Record<BundleWho, string | undefined> = { maint: 'maint-token-0123456789', plain: 'plain-token-0123456789', none: undefined };
    await bundleScenarios({
      a, b, linkA: 'alpha', linkB: 'beta',
      async api(method, path, as, body, version = '1.3') {
        const headers: Record<string, string> = { accept: 'application/json' };
        if (tokens[as]) headers.authorization = `Token ${tokens[as]}`;
        if (body !== undefined) headers['content-type'] = 'application/json';
        const r = await fetch(`${sb.url}/api/${version}/${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
        const text = await r.text();
        return { status: r.status, body: (r.headers.get('content-type') ?? '').includes('json') && text ? JSON.parse(text) as unknown : undefined, allow: r.headers.get('allow'), location: r.headers.get('location') };
      },
    });
  });
});
