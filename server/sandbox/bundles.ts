import type { SandboxData, SbBundle } from './model.js';
import { VERSIONS } from './model.js';
import { HTML_500, HttpError, type ApiCall, type Reply } from './server.js';

// /api/VERSION/bundles/ as Patchwork 3.1.3's api/bundle.py answers it
// (checked against a real 3.1.3 by test/real/bundles-api.test.ts): a list
// of public bundles and your own, filters project/owner/public/q; writes
// from API 1.2 (405 below), owner only (another's public bundle is 403, a
// private one 404), `patches` the whole list, never empty, one project
// (taken from the first patch), names unique per owner (a duplicate is a
// 500: the database's constraint, not a validation error).

export const BUNDLE_LIST_ALLOW = 'GET, POST, HEAD, OPTIONS';
export const BUNDLE_DETAIL_ALLOW = 'GET, PUT, PATCH, DELETE, HEAD, OPTIONS';
const NAME_MAX = 50;

type Paginate = (items: SbBundle[], serialize: (b: SbBundle) => unknown) => Reply;

const fail = (status: number, allow: string, body: unknown): HttpError => new HttpError({ status, allow, body });

export function bundlesView(data: SandboxData, c: ApiCall, id: string | undefined, paginate: Paginate): Reply {
  const allow = id === undefined ? BUNDLE_LIST_ALLOW : BUNDLE_DETAIL_ALLOW;
  const write = !['GET', 'HEAD', 'OPTIONS'].includes(c.method);
  // BundlePermission.has_permission: before any lookup.
  if (write && VERSIONS.indexOf(c.version) < 2) throw fail(405, allow, { detail: `Method "${c.method}" not allowed.` });
  if (id === undefined) {
    if (c.method === 'POST') return create(data, c, allow);
    return { ...paginate(filterBundles(data, c), (b) => c.ser.bundle(b)), allow };
  }
  const bundle = data.bundles.find((b) => b.id === Number(id) && visible(b, c));
  if (!bundle) throw fail(404, allow, { detail: 'Not found.' });
  if (!write) return { status: 200, allow, body: c.ser.bundle(bundle) };
  if (!c.user) throw fail(403, allow, { detail: 'Authentication credentials were not provided.' });
  if (c.user.id !== bundle.owner) throw fail(403, allow, { detail: 'You do not have permission to perform this action.' });
  if (c.method === 'DELETE') {
    data.bundles.splice(data.bundles.indexOf(bundle), 1);
    return { status: 204, allow };
  }
  const fields = validate(data, c, allow, c.method === 'PATCH');
  if (fields.name !== undefined && data.bundles.some((b) => b !== bundle && b.owner === bundle.owner && b.name === fields.name)) throw new HttpError({ status: 500, html: HTML_500 });
  Object.assign(bundle, fields);
  return { status: 200, allow, body: c.ser.bundle(bundle) };
}

const visible = (b: SbBundle, c: ApiCall): boolean => b.public || b.owner === c.user?.id;

function filterBundles(data: SandboxData, c: ApiCall): SbBundle[] {
  let all = data.bundles.filter((b) => visible(b, c));
  const project = c.query.get('project');
  if (project !== null) {
    const p = [...data.projects.values()].find((x) => String(x.id) === project || x.link_name.toLowerCase() === project.toLowerCase());
    all = p ? all.filter((b) => b.project === p.id) : [];
  }
  const owner = c.query.get('owner');
  if (owner !== null) {
    const u = [...data.users.values()].find((x) => String(x.id) === owner || x.username.toLowerCase() === owner.toLowerCase());
    all = u ? all.filter((b) => b.owner === u.id) : [];
  }
  const pub = c.query.get('public')?.toLowerCase();
  if (pub === 'true' || pub === 'false') all = all.filter((b) => b.public === (pub === 'true'));
  const q = c.query.get('q');
  if (q) all = all.filter((b) => b.name.toLowerCase().includes(q.toLowerCase()));
  return all.sort((a, b) => a.id - b.id);
}

function create(data: SandboxData, c: ApiCall, allow: string): Reply {
  if (!c.user) throw fail(403, allow, { detail: 'Authentication credentials were not provided.' });
  const fields = validate(data, c, allow, false);
  if (data.bundles.some((b) => b.owner === c.user!.id && b.name === fields.name)) throw new HttpError({ status: 500, html: HTML_500 });
  const bundle = data.addBundle({ owner: c.user.id, name: fields.name!, public: fields.public ?? false, patches: fields.patches!, project: fields.project! });
  return { status: 201, allow, headers: { Location: `${c.base}/api/${c.version}/bundles/${bundle.id}/` }, body: c.ser.bundle(bundle) };
}

/** The serializer's validation; `partial` for PATCH. Without a JSON body DRF sees no fields. */
function validate(data: SandboxData, c: ApiCall, allow: string, partial: boolean): Partial<SbBundle> {
  let body: Record<string, unknown> = {};
  if (c.contentType.includes('application/json') && c.rawBody) {
    try { body = JSON.parse(c.rawBody) as Record<string, unknown>; } catch { throw fail(400, allow, { detail: 'JSON parse error - Expecting value: line 1 column 1 (char 0)' }); }
  }
  const errors: Record<string, string[]> = {};
  const out: Partial<SbBundle> = {};
  if (body.name === undefined || body.name === null || body.name === '') {
    if (!partial || body.name !== undefined) errors.name = [body.name === '' ? 'This field may not be blank.' : 'This field is required.'];
  } else if (typeof body.name !== 'string') errors.name = ['Not a valid string.'];
  else if (body.name.length > NAME_MAX) errors.name = [`Ensure this field has no more than ${NAME_MAX} characters.`];
  else out.name = body.name;
  if (body.patches === undefined) {
    if (!partial) errors.patches = ['This field is required.'];
  } else {
    const patches = patchesField(data, body.patches);
    if (typeof patches === 'string') errors.patches = [patches];
    else {
      out.patches = patches;
      out.project = data.patches.get(patches[0]!)!.project;
    }
  }
  if (typeof body.public === 'boolean') out.public = body.public;
  if (Object.keys(errors).length) throw fail(400, allow, errors);
  return out;
}

/** PrimaryKeyRelatedField(many=True), then validate_patches; a string is the error. */
function patchesField(data: SandboxData, value: unknown): number[] | string {
  if (!Array.isArray(value)) return `Expected a list of items but got type "${typeof value === 'string' ? 'str' : typeof value}".`;
  for (const v of value) {
    if (typeof v !== 'number') return `Incorrect type. Expected pk value, received ${typeof v === 'string' ? 'str' : typeof v}.`;
    if (!data.patches.has(v)) return `Invalid pk "${v}" - object does not exist.`;
  }
  const ids = value as number[];
  if (ids.length === 0) return 'Bundles cannot be empty';
  if (new Set(ids.map((id) => data.patches.get(id)!.project)).size > 1) return 'Bundle patches must belong to the same project';
  return [...new Set(ids)];
}

