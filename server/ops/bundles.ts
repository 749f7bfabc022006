import type { InstanceConfig } from '../config.js';
import { PwnmError } from '../errors.js';
import { idQuery, type TagChange } from '../notmuch/encoding.js';
import { createBundle, deleteBundle, getBundle, listBundles, setBundlePatches, type PwBundle } from '../patchwork/bundles.js';
import type { Session } from '../session.js';
import { bundleRows, dropBundleRow, putBundleRow } from '../store/bundles.js';
import type { PatchRow } from '../store/store.js';
import { findPatches } from './lookup.js';

// The user's bundles by name, for the command line and Emacs: list, add
// and remove patches at once (one write of the whole list, read just
// before), delete, and the mbox. The mails' tags and the stored sets
// follow, so that the next sync sees nothing to do.

export interface BundleInfo {
  instance: string; project: string; id: number; name: string; owner: string; public: boolean; mine: boolean;
  /** Patches in the bundle on Patchwork. */
  count: number;
  tag: string; mbox: string; web_url?: string;
}

export interface BundleChange {
  instance: string; project: string; name: string; id: number; created: boolean;
  /** Patches added or removed; the bundle's count after. */
  changed: number; patches: number; tag: string;
  /** The messages whose tags this changed. */
  messageIds: string[];
}

function needMe(inst: InstanceConfig): string {
  if (!inst.me) throw new PwnmError('CONFIG', `set me = YOUR-USERNAME in [instance ${inst.name}]: bundles belong to a user`);
  return inst.me;
}

const info = (session: Session, inst: InstanceConfig, b: PwBundle): BundleInfo => ({
  instance: inst.name, project: b.project.link_name, id: b.id, name: b.name, owner: b.owner.username, public: b.public,
  mine: b.owner.username === inst.me, count: b.patches.length, tag: session.scheme.bundle(b.project.link_name, b.name), mbox: b.mbox,
  ...(b.web_url ? { web_url: b.web_url } : {}),
});

/** The bundles the last sync tagged, from the state database (no request): for Emacs's hello section and completion. */
function storedBundles(session: Session, selected: ReturnType<Session['select']>, all: boolean): BundleInfo[] {
  return selected.flatMap((sel) => bundleRows(session.store, sel.instance.name)
    .filter((r) => r.project === sel.project && (all || r.owner === sel.instance.me))
    .map((r) => ({ instance: r.instance, project: r.project, id: r.bundle_id, name: r.name, owner: r.owner, public: false, mine: r.owner === sel.instance.me, count: r.remote.length, tag: r.tag, mbox: '' })));
}

/**
 * Your bundles (with `all`, every bundle you see) in the configured projects, or in `project`;
 * `cached`: as the last sync left them, without asking Patchwork (`public` and `mbox` unknown there).
 */
export async function listMyBundles(session: Session, options: { project?: string; all?: boolean; cached?: boolean } = {}): Promise<BundleInfo[]> {
  const out: BundleInfo[] = [];
  const selected = session.select(options.project ? [options.project] : undefined);
  if (options.cached) return storedBundles(session, selected, Boolean(options.all));
  for (const inst of new Set(selected.map((s) => s.instance))) {
    const projects = new Set(selected.filter((s) => s.instance === inst).map((s) => s.project));
    const filter = options.all ? {} : { owner: needMe(inst) };
    const client = await session.client(inst);
    for (const b of await listBundles(client, options.project ? { ...filter, project: options.project } : filter)) {
      if (projects.has(b.project.link_name)) out.push(info(session, inst, b));
    }
  }
  return out;
}

/** Your bundle called `name` (exactly), searched in the configured projects; several projects need `project`. */
async function findMine(session: Session, name: string, project?: string): Promise<BundleInfo | undefined> {
  const found = (await listMyBundles(session, project ? { project } : {})).filter((b) => b.name === name);
  if (found.length > 1) throw new PwnmError('USAGE', `you have a bundle ${name} in ${found.map((b) => b.project).join(' and ')}; say which with --project`);
  return found[0];
}

/** The patches of these messages (with `series`, their whole series), all of one project. */
async function patchesOf(session: Session, msgids: readonly string[], options: { project?: string; series?: boolean }): Promise<PatchRow[]> {
  if (msgids.length === 0) throw new PwnmError('USAGE', 'give at least one MESSAGE-ID');
  const rows: PatchRow[] = [];
  for (const m of msgids) {
    const found = await findPatches(session, m, options.project);
    if (found.length > 1) throw new PwnmError('USAGE', `${m} is a patch in ${found.map((r) => r.project).join(' and ')}; say which with --project`);
    const row = found[0]!;
    rows.push(...(options.series && row.series_id !== null ? session.store.seriesPatches(row.instance, row.project, row.series_id) : [row]));
  }
  const projects = new Set(rows.map((r) => `${r.instance}/${r.project}`));
  if (projects.size > 1) throw new PwnmError('USAGE', `a bundle holds one project's patches, and these are in ${[...projects].join(' and ')}`);
  return [...new Map(rows.map((r) => [r.msgid, r])).values()];
}

function writableClient(session: Session, inst: InstanceConfig) {
  if (!session.hasToken(inst)) throw new PwnmError('CONFIG', `read-only: no token for ${inst.name}; bundles cannot be changed without one`);
  return session.client(inst);
}

/** What a change of bundle `name` works on: the messages' patches, their project, a client that may write, your bundle if any. */
async function target(session: Session, name: string, msgids: readonly string[], options: { project?: string; series?: boolean }) {
  const rows = await patchesOf(session, msgids, options);
  const { instance, project } = rows[0]!;
  const inst = session.instance(instance);
  needMe(inst);
  const client = await writableClient(session, inst);
  return { rows, instance, project, inst, client, existing: await findMine(session, name, project) };
}

/** Add the messages' patches to your bundle `name`, creating it (private) when you have none of that name. */
export async function bundleAdd(session: Session, name: string, msgids: readonly string[], options: { project?: string; series?: boolean } = {}): Promise<BundleChange> {
  const { rows, instance, project, inst, client, existing } = await target(session, name, msgids, options);
  let result: PwBundle;
  let changed = rows.length;
  if (!existing) result = await createBundle(client, name, rows.map((r) => r.patch_id));
  else {
    const fresh = await getBundle(client, existing.id);
    const ids = new Set(fresh.patches.map((p) => p.id));
    const more = rows.filter((r) => !ids.has(r.patch_id));
    changed = more.length;
    result = more.length ? await setBundlePatches(client, fresh.id, [...ids, ...more.map((r) => r.patch_id)]) : fresh;
  }
  await follow(session, inst, result, rows.map((r) => r.msgid), [], !existing);
  return { instance, project, name, id: result.id, created: !existing, changed, patches: result.patches.length, tag: session.scheme.bundle(project, name), messageIds: rows.map((r) => r.msgid) };
}

/** Take the messages' patches out of your bundle `name`; emptying it is refused (Patchwork keeps no empty bundle). */
export async function bundleRemove(session: Session, name: string, msgids: readonly string[], options: { project?: string } = {}): Promise<BundleChange> {
  const { rows, instance, project, inst, client, existing } = await target(session, name, msgids, options);
  if (!existing) throw new PwnmError('NOT_FOUND', `you have no bundle ${name} in ${project}`);
  const fresh = await getBundle(client, existing.id);
  const out = new Set(rows.map((r) => r.patch_id));
  const keep = fresh.patches.filter((p) => !out.has(p.id)).map((p) => p.id);
  if (keep.length === 0) throw new PwnmError('USAGE', `bundle ${name} would be empty, and Patchwork keeps no empty bundle: delete it with pwnm-sync bundle delete ${name}`);
  const result = keep.length === fresh.patches.length ? fresh : await setBundlePatches(client, fresh.id, keep);
  await follow(session, inst, result, [], rows.map((r) => r.msgid));
  return { instance, project, name, id: result.id, created: false, changed: fresh.patches.length - keep.length, patches: keep.length, tag: session.scheme.bundle(project, name), messageIds: rows.map((r) => r.msgid) };
}

/** Delete your bundle `name` on Patchwork, and its tag from every message. */
export async function bundleDelete(session: Session, name: string, options: { project?: string } = {}): Promise<BundleChange> {
  const found = await findMine(session, name, options.project);
  if (!found) throw new PwnmError('NOT_FOUND', `you have no bundle ${name}${options.project ? ` in ${options.project}` : ''}`);
  const inst = session.instance(found.instance);
  await deleteBundle(await writableClient(session, inst), found.id);
  const carrying = await session.notmuch.dump(`tag:"${found.tag}"`);
  await retag(session, found.project, found.tag, [], [...carrying.keys()]);
  dropBundleRow(session.store, inst.name, found.id);
  return { instance: inst.name, project: found.project, name, id: found.id, created: false, changed: found.count, patches: 0, tag: found.tag, messageIds: [...carrying.keys()] };
}

/** The bundle called `name` that you see: yours first, else another's public one. */
export async function findVisibleBundle(session: Session, name: string, project?: string): Promise<BundleInfo> {
  const all = (await listMyBundles(session, { ...(project ? { project } : {}), all: true })).filter((b) => b.name === name);
  const found = all.find((b) => b.mine) ?? all[0];
  if (!found) throw new PwnmError('NOT_FOUND', `no bundle ${name} that you can see${project ? ` in ${project}` : ''}`);
  return found;
}

/** A bundle's mbox URL (yours first, else a public one of that name), and with `download` its text. */
export async function bundleMbox(session: Session, name: string, options: { project?: string; download?: boolean } = {}): Promise<{ url: string; mbox?: string }> {
  const found = await findVisibleBundle(session, name, options.project);
  if (!options.download) return { url: found.mbox };
  const client = await session.client(session.instance(found.instance));
  // A private bundle's mbox needs the owner's token (sent only to this instance).
  return { url: found.mbox, mbox: await client.download(found.mbox, { auth: true }) };
}

/** Tag the added messages, untag the removed ones, and record both in the stored sets. */
async function follow(session: Session, inst: InstanceConfig, b: PwBundle, added: string[], removed: string[], created = false): Promise<void> {
  const project = b.project.link_name;
  const tag = session.scheme.bundle(project, b.name);
  await retag(session, project, tag, added, removed);
  const local = added.filter((m) => (session.store.patch(inst.name, project, m)?.baseline ?? null) !== null);
  // A bundle we just made holds exactly what we sent: record it, so that it is known before the next sync.
  if (created) return putBundleRow(session.store, { instance: inst.name, bundle_id: b.id, project, name: b.name, owner: b.owner.username, tag, remote: added, tagged: local });
  // Only what we did is recorded: other changes on Patchwork stay changes for the next sync to retag.
  const row = bundleRows(session.store, inst.name).find((r) => r.bundle_id === b.id);
  if (!row) return;
  const drop = new Set(removed);
  putBundleRow(session.store, { ...row, name: b.name, tag, remote: [...row.remote.filter((m) => !drop.has(m)), ...added], tagged: [...row.tagged.filter((m) => !drop.has(m)), ...local] });
}

/** One `notmuch tag --batch`: the bundle tag on or off, and the family tag where the message's last bundle tag goes. */
async function retag(session: Session, project: string, tag: string, add: string[], remove: string[]): Promise<void> {
  const family = session.scheme.bundleFamily(project);
  const changes: TagChange[] = add.map((m) => ({ msgid: m, add: [tag, family], remove: [] }));
  if (remove.length) {
    const current = await session.notmuch.dump(remove.map(idQuery).join(' or '));
    for (const m of remove) {
      const others = (current.get(m) ?? []).filter((x) => x !== tag && session.scheme.bundleName(project, x) !== undefined);
      changes.push({ msgid: m, add: [], remove: others.length ? [tag] : [tag, family] });
    }
  }
  await session.notmuch.tag(changes);
}

