import type { BundleTags, InstanceConfig } from '../config.js';
import { errorMessage, isTransient, PwnmError } from '../errors.js';
import { notmuchMessageId } from '../mail/message-id.js';
import { type TagChange } from '../notmuch/encoding.js';
import type { Revision } from '../notmuch/notmuch.js';
import { createBundle, getBundle, listBundles, setBundlePatches, type PwBundle } from '../patchwork/bundles.js';
import type { PatchworkClient } from '../patchwork/client.js';
import { isRefusal, readOnlyReason } from '../reasons.js';
import type { Session } from '../session.js';
import { bundleMark, bundleRows, dropBundleRow, putBundleRow, setBundleMark, setBundlePending, type BundleRow } from '../store/bundles.js';
import { tagWord } from '../tags.js';
import type { MessageEvent, ProjectSummary, SyncOptions } from './types.js';

// Bundles as tags, both ways, once per instance after its projects synced:
// one listing of the user's bundles (bundles have no events), one dump of
// the bundle tags, then per bundle the planner's rule on sets of messages:
// what changed on Patchwork since the last sync (stored `remote`) is
// retagged, what changed in notmuch (stored `tagged`) is written, all of
// one bundle's changes as one PATCH of the whole list, read just before.
// A tag that names no bundle creates one (private). Another user's bundle
// is never written, a bundle is never emptied (Patchwork refuses that):
// both are reported, and an unpushed change stays a difference from the
// stored sets, so it is tried again by every sync until it goes through.

type Msgids = Set<string>;

const minus = (a: Iterable<string>, b: { has(x: string): boolean }): string[] => [...a].filter((x) => !b.has(x));

/** One instance's bundle step. */
class BundleRun {
  readonly changes = new Map<string, { add: Set<string>; remove: Set<string> }>();
  readonly rows: BundleRow[] = [];
  readonly dropped: number[] = [];
  /** Per project, tag -> messages carrying it (from the dump). */
  readonly byTag = new Map<string, Map<string, Msgids>>();
  /** Per project, the messages that carry the family tag / any of its bundle tags once changed. */
  readonly family = new Map<string, { has: Msgids; want: Msgids }>();
  /** The dump: every message carrying a bundle-family tag, with all its tags. */
  local = new Map<string, string[]>();
  /** Something waits or was refused: the next sync must look again. */
  unsettled = false;
  /** Local changes that wait (kept as pending items of kind `bundle`). */
  readonly waiting: { project: string; msgid: string; label: string; reason: string }[] = [];
  /** Your username: from the config, else learnt from your private bundles (see knownMe). */
  me: string | undefined;

  constructor(
    readonly session: Session,
    readonly inst: InstanceConfig,
    readonly mode: Exclude<BundleTags, 'off'>,
    readonly client: PatchworkClient,
    readonly summaries: Map<string, ProjectSummary>,
    readonly options: SyncOptions,
  ) { this.me = inst.me ?? learntMe(session, inst.name); }

  get dryRun(): boolean { return Boolean(this.options.dryRun); }
  get canWrite(): boolean { return this.client.canWrite; }

  summary(project: string): ProjectSummary { return this.summaries.get(project)!; }

  tagged(project: string, tag: string): Msgids { return this.byTag.get(project)?.get(tag) ?? new Set(); }

  /** The message is in notmuch (it carries the tag, or its state was tagged). */
  exists(project: string, msgid: string, carrying: Msgids): boolean {
    return carrying.has(msgid) || (this.session.store.patch(this.inst.name, project, msgid)?.baseline ?? null) !== null;
  }

  patchId(project: string, msgid: string): number | undefined {
    return this.session.store.patch(this.inst.name, project, msgid)?.patch_id;
  }

  change(msgid: string, add: string[], remove: string[]): void {
    let c = this.changes.get(msgid);
    if (!c) this.changes.set(msgid, (c = { add: new Set(), remove: new Set() }));
    for (const t of add) { c.add.add(t); c.remove.delete(t); }
    for (const t of remove) { c.remove.add(t); c.add.delete(t); }
  }

  report(project: string, kind: 'queued' | 'refused' | 'conflict', msgids: Iterable<string>, label: string, reason: string): void {
    const s = this.summary(project);
    const list = kind === 'queued' ? s.queued : kind === 'refused' ? s.refused : s.conflicts;
    for (const msgid of msgids) {
      list.push({ msgid, local: label, reason });
      if (kind === 'queued') this.waiting.push({ project, msgid, label, reason });
      this.options.onMessage?.({ msgid, project, kind, reason } satisfies MessageEvent);
    }
    if (kind !== 'conflict') this.unsettled = true;
  }
}

/** The bundle step of a sync, for every instance whose projects synced; failures are reported on its first project. */
export async function syncBundles(session: Session, options: SyncOptions, summaries: readonly ProjectSummary[], revision: Revision): Promise<void> {
  if (options.localOnly || options.messageIds) return;
  for (const inst of session.config.instances) {
    const mode = inst.tagBundles ?? session.config.tags.bundles;
    const mine = summaries.filter((s) => s.instance === inst.name && s.errors.length === 0);
    if (mode === 'off' || mine.length === 0) continue;
    const client = await session.client(inst);
    const before = client.requests;
    const nmBefore = session.notmuch.calls;
    const run = new BundleRun(session, inst, mode, client, new Map(mine.map((s) => [s.project, s])), options);
    try {
      await syncInstance(run, revision);
    } catch (err) {
      if (!(err instanceof PwnmError) || err.code === 'CANCELLED') throw err;
      mine[0]!.errors.push(`bundles: ${err.message}`);
    } finally {
      mine[0]!.httpRequests += client.requests - before;
      mine[0]!.notmuchCalls += session.notmuch.calls - nmBefore;
    }
  }
}

async function syncInstance(run: BundleRun, revision: Revision): Promise<void> {
  const { session, inst } = run;
  const mark = `${revision.uuid}:${revision.lastmod}`;
  // Without a token the listing cannot teach who you are.
  if (run.mode === 'mine' && !run.me && !run.canWrite) return meUnknown(run, mark);
  const all = await listBundles(run.client, run.mode === 'mine' && run.me ? { owner: run.me } : {});
  if (!run.me) learnMe(run, all);
  if (run.mode === 'mine' && !run.me) return meUnknown(run, mark);
  const listed = all.filter((b) => run.summaries.has(b.project.link_name) && (run.mode === 'all' || b.owner.username === run.me));
  const rows = bundleRows(session.store, inst.name).filter((r) => run.summaries.has(r.project));
  if (bundleMark(session.store, inst.name) === mark && unchanged(listed, rows)) return;
  await readLocal(run);
  const owned = (b: PwBundle): boolean => b.owner.username === run.me;
  // Your own first, so that when two names give one tag, yours has it.
  const ordered = [...listed].sort((a, b) => Number(owned(b)) - Number(owned(a)) || a.id - b.id);
  const claimed = new Map<string, PwBundle>();
  for (const b of ordered) {
    const tag = session.scheme.bundle(b.project.link_name, b.name);
    const first = claimed.get(tag);
    if (first) {
      run.summary(b.project.link_name).notes.push(`bundles "${first.name}" and "${b.name}" both give the tag ${tag}; only bundle ${first.id} is tagged`);
      continue;
    }
    claimed.set(tag, b);
    const row = rows.find((r) => r.bundle_id === b.id);
    if (row) claimed.set(row.tag, b);
    await reconcile(run, b, row, owned(b));
  }
  const unlisted = rows.filter((row) => !listed.some((b) => b.id === row.bundle_id));
  // Without a token Patchwork lists public bundles only: an unlisted one may
  // be private and hidden, not gone. Its tags and stored sets stay as they
  // are, and the next sync (with a token, perhaps) looks again.
  if (run.canWrite) unlisted.forEach((row) => deleted(run, row));
  else if (unlisted.length) run.unsettled = true;
  // A gone or hidden bundle's tag is no new bundle to create.
  await createFromTags(run, new Set([...claimed.keys(), ...unlisted.map((r) => r.tag)]));
  finishFamily(run);
  await commit(run, mark);
}

// `me` when the config does not say it: Patchwork lists to a token its
// user's private bundles besides the public ones, so the owner of a private
// bundle in the listing is the token's user (3.1.3 has no "who am I"
// endpoint). Remembered in the state database; the config's `me` wins.

const meKey = (instance: string): string => `me:${instance}`;

/** The username learnt by an earlier sync, if any. */
export function learntMe(session: Session, instance: string): string | undefined {
  return session.store.meta(meKey(instance)) || undefined;
}

/** Why bundle tags wait for `me`: said once per instance in the summary, by doctor, and on each waiting tag. */
export function meReason(instance: string): string {
  return `bundle tags off for ${instance}: set me = USERNAME in [instance ${instance}] (or [Defaults]), or make one private bundle on Patchwork`;
}

function learnMe(run: BundleRun, listed: readonly PwBundle[]): void {
  if (!run.canWrite) return;
  const owner = listed.find((b) => !b.public)?.owner.username;
  if (!owner) return;
  run.me = owner;
  if (!run.dryRun) run.session.store.setMeta(meKey(run.inst.name), owner);
}

/** Without `me` no bundle is yours: say so once, and every local bundle tag waits (it stays, and shows in pending). */
async function meUnknown(run: BundleRun, mark: string): Promise<void> {
  const first = [...run.summaries.keys()][0]!;
  run.summary(first).notes.push(meReason(run.inst.name));
  // notmuch unchanged since the last look: the waiting tags are in pending already, no dump.
  const waitMark = `me?${mark}`;
  if (bundleMark(run.session.store, run.inst.name) === waitMark) return;
  await readLocal(run);
  for (const [project, byTag] of run.byTag) {
    for (const [tag, carrying] of byTag) run.report(project, 'queued', carrying, `+bundle ${run.session.scheme.bundleName(project, tag)!}`, meReason(run.inst.name));
  }
  await commit(run, '');
  if (!run.dryRun) setBundleMark(run.session.store, run.inst.name, waitMark);
}

/** Nothing to do: notmuch unchanged since an agreed step, and every bundle's list as stored. */
function unchanged(listed: readonly PwBundle[], rows: readonly BundleRow[]): boolean {
  if (listed.length !== rows.length) return false;
  return listed.every((b) => {
    const row = rows.find((r) => r.bundle_id === b.id);
    const remote = new Set(row?.remote);
    return row !== undefined && row.name === b.name && row.project === b.project.link_name && b.patches.length === remote.size && b.patches.every((p) => remote.has(notmuchMessageId(p.msgid)));
  });
}

/** One dump of every bundle tag of the instance's projects. */
async function readLocal(run: BundleRun): Promise<void> {
  const { scheme } = run.session;
  const projects = [...run.summaries.keys()];
  for (const p of projects) {
    run.byTag.set(p, new Map());
    run.family.set(p, { has: new Set(), want: new Set() });
  }
  // A regex term over tag names: tag words are plain, only . and + need escaping.
  const alternatives = projects.map((p) => scheme.bundleFamily(p).replace(/[.+]/g, '\\$&')).join('|');
  run.local = await run.session.notmuch.dump(`tag:"/^(${alternatives})(-|$)/"`);
  for (const [msgid, tags] of run.local) {
    for (const p of projects) {
      const byTag = run.byTag.get(p)!;
      for (const tag of tags) {
        if (tag === scheme.bundleFamily(p)) run.family.get(p)!.has.add(msgid);
        else if (scheme.bundleName(p, tag) !== undefined) {
          if (!byTag.has(tag)) byTag.set(tag, new Set());
          byTag.get(tag)!.add(msgid);
        }
      }
    }
  }
}

/** One bundle Patchwork lists: merge both sides' changes since the stored sets. */
async function reconcile(run: BundleRun, b: PwBundle, stored: BundleRow | undefined, owned: boolean): Promise<void> {
  const project = b.project.link_name;
  const row = stored && stored.project !== project ? moved(run, stored, project) : stored;
  const tag = run.session.scheme.bundle(project, b.name);
  const server = new Map(b.patches.map((p) => [notmuchMessageId(p.msgid), p.id]));
  const carrying = run.tagged(project, row?.tag ?? tag);
  // First sight: what both sides have is agreed; the rest is a change.
  const baseTagged = new Set(row ? row.tagged : [...carrying].filter((m) => server.has(m)));
  const baseRemote = new Set(row ? row.remote : server.keys());
  let adds = minus(carrying, baseTagged);
  let removes = minus(baseTagged, carrying);
  const label = (sign: string) => `${sign}bundle ${b.name}`;
  if ((run.options.prefer ?? run.session.config.prefer) === 'server') {
    const lost = (m: string, sign: string, why: string) => { run.report(project, 'conflict', [m], label(sign), why); return false; };
    adds = adds.filter((m) => baseRemote.has(m) && !server.has(m) ? lost(m, '+', 'removed from the bundle on Patchwork meanwhile; Patchwork wins') : true);
    removes = removes.filter((m) => !baseRemote.has(m) && server.has(m) ? lost(m, '-', 'added to the bundle on Patchwork meanwhile; Patchwork wins') : true);
  }
  if ((adds.length || removes.length) && !owned) {
    const why = `bundle ${b.name} belongs to ${b.owner.username}: only its owner may change it; the tag goes back`;
    run.report(project, 'refused', [...adds, ...removes], label(adds.length ? '+' : '-'), why);
    adds = [];
    removes = [];
  }
  const pending = { adds: new Set<string>(), removes: new Set<string>() };
  const final = adds.length || removes.length ? await write(run, b, server, adds, removes, pending) : server;
  const want = new Set([...minus(final.keys(), pending.removes), ...pending.adds]);
  retag(run, row?.tag ?? tag, tag, carrying, want);
  run.rows.push({
    instance: run.inst.name, bundle_id: b.id, project, name: b.name, owner: b.owner.username, tag,
    remote: [...final.keys()], tagged: [...final.keys()].filter((m) => run.exists(project, m, carrying)),
  });
}

/**
 * A bundle Patchwork now lists under another project (a write with that
 * project's patches moves it): the old project's tag leaves every message,
 * and the bundle is new to its project, as on first sight.
 */
function moved(run: BundleRun, row: BundleRow, project: string): undefined {
  retag(run, row.tag, row.tag, run.tagged(row.project, row.tag), new Set());
  run.summary(row.project).notes.push(`bundle ${row.name} moved from ${row.project} to ${project} on Patchwork: its tags follow it`);
  return undefined;
}

/** Send one bundle's local changes as one write of the merged list; the server's list as it ends up. */
async function write(run: BundleRun, b: PwBundle, server: Map<string, number>, adds: string[], removes: string[], pending: { adds: Set<string>; removes: Set<string> }): Promise<Map<string, number>> {
  const project = b.project.link_name;
  const known = adds.filter((m) => run.patchId(project, m) !== undefined);
  if (known.length < adds.length) run.report(project, 'refused', minus(adds, new Set(known)), `+bundle ${b.name}`, `not a patch of ${project} that pwnm-sync knows; the tag goes back`);
  const wait = (reason: string): Map<string, number> => {
    run.report(project, 'queued', [...known, ...removes], `bundle ${b.name}`, reason);
    known.forEach((m) => pending.adds.add(m));
    removes.forEach((m) => pending.removes.add(m));
    return server;
  };
  if (known.length === 0 && removes.length === 0) return server;
  if (!run.canWrite) return wait(readOnlyReason(run.inst.name));
  if (run.dryRun) return wait('dry run: not written');
  // Read just before writing: a change made meanwhile on Patchwork is kept.
  const fresh = new Map((await getBundle(run.client, b.id)).patches.map((p) => [notmuchMessageId(p.msgid), p.id]));
  const merged = new Map(fresh);
  for (const m of known) merged.set(m, run.patchId(project, m)!);
  for (const m of removes) merged.delete(m);
  if (merged.size === 0) return wait(`bundle ${b.name} would be empty, and Patchwork keeps no empty bundle: tag another patch, or delete it with pwnm-sync bundle delete ${b.name}`);
  if (merged.size === fresh.size && [...merged.keys()].every((m) => fresh.has(m))) return fresh;
  try {
    const res = await setBundlePatches(run.client, b.id, [...merged.values()]);
    run.summary(project).pushed++;
    for (const m of [...known, ...removes]) run.options.onMessage?.({ msgid: m, project, kind: 'pushed', reason: `bundle ${b.name}` });
    return new Map(res.patches.map((p) => [notmuchMessageId(p.msgid), p.id]));
  } catch (err) {
    if (isTransient(err)) return wait(`${errorMessage(err)}; tried again next sync`);
    if (!isRefusal(err)) throw err;
    run.report(project, 'refused', [...known, ...removes], `bundle ${b.name}`, `${errorMessage(err)}; the tag goes back`);
    return fresh;
  }
}

/** Tag changes that make `want` the messages carrying `tag` (and drop `oldTag` after a rename). */
function retag(run: BundleRun, oldTag: string, tag: string, carrying: Msgids, want: Msgids): void {
  for (const m of want) if (!carrying.has(m) || oldTag !== tag) run.change(m, [tag], oldTag !== tag ? [oldTag] : []);
  for (const m of carrying) if (!want.has(m)) run.change(m, [], [oldTag]);
}

/** A bundle stored but no longer listed: deleted (or made private by its owner). Its tag goes. */
function deleted(run: BundleRun, row: BundleRow): void {
  const carrying = run.tagged(row.project, row.tag);
  retag(run, row.tag, row.tag, carrying, new Set());
  run.dropped.push(row.bundle_id);
  run.summary(row.project).notes.push(`bundle ${row.name} is gone from Patchwork: its tag ${row.tag} was removed from ${carrying.size} message${carrying.size === 1 ? '' : 's'}`);
}

/** Tags that name no listed bundle: each becomes a new private bundle of yours. */
async function createFromTags(run: BundleRun, claimed: Set<string>): Promise<void> {
  for (const [project, byTag] of run.byTag) {
    for (const [tag, carrying] of byTag) {
      if (claimed.has(tag)) continue;
      await createOne(run, project, tag, carrying);
    }
  }
}

async function createOne(run: BundleRun, project: string, tag: string, carrying: Msgids): Promise<void> {
  const name = run.session.scheme.bundleName(project, tag)!;
  const label = `+bundle ${name}`;
  if (tagWord(name) !== name) {
    run.report(project, 'refused', carrying, label, `${tag} names no bundle, and a new bundle's name in a tag may hold only letters, digits, . _ + -`);
    return;
  }
  const known = [...carrying].filter((m) => run.patchId(project, m) !== undefined);
  if (known.length < carrying.size) run.report(project, 'refused', minus(carrying, new Set(known)), label, `not a patch of ${project} that pwnm-sync knows`);
  if (known.length === 0) return;
  if (!run.me) return run.report(project, 'queued', known, label, meReason(run.inst.name));
  if (!run.canWrite) return run.report(project, 'queued', known, label, readOnlyReason(run.inst.name));
  if (run.dryRun) return run.report(project, 'queued', known, label, 'dry run: not created');
  try {
    const b = await createBundle(run.client, name, known.map((m) => run.patchId(project, m)!));
    run.summary(project).pushed++;
    for (const m of known) run.options.onMessage?.({ msgid: m, project, kind: 'pushed', reason: `new bundle ${name}` });
    // What we sent is agreed; a message we could not send loses the tag.
    await reconcile(run, b, { instance: run.inst.name, bundle_id: b.id, project, name, owner: b.owner.username, tag, remote: known, tagged: [...carrying] }, true);
  } catch (err) {
    if (isTransient(err)) return run.report(project, 'queued', known, label, `${errorMessage(err)}; tried again next sync`);
    if (!isRefusal(err)) throw err;
    // The client's message starts with the instance; say it once, with the project.
    const why = errorMessage(err).replace(`${run.inst.name}: `, '');
    run.report(project, 'refused', known, label, `${run.inst.name} refused to create bundle ${name} in ${project}: ${why}`);
  }
}

/** The family tag: on every message that ends up with one of the project's bundle tags, off the rest. */
function finishFamily(run: BundleRun): void {
  const { scheme } = run.session;
  const touched = new Set([...run.local.keys(), ...run.changes.keys()]);
  for (const [project, { has, want }] of run.family) {
    const family = scheme.bundleFamily(project);
    for (const m of touched) {
      const c = run.changes.get(m);
      const tags = [...(run.local.get(m) ?? []).filter((x) => !c?.remove.has(x)), ...(c?.add ?? [])];
      if (tags.some((x) => scheme.bundleName(project, x) !== undefined)) want.add(m);
    }
    for (const m of want) if (!has.has(m)) run.change(m, [family], []);
    for (const m of has) if (!want.has(m)) run.change(m, [], [family]);
  }
}

/** Tags first, then the stored sets: a crash between the two repeats an idempotent step. */
async function commit(run: BundleRun, mark: string): Promise<void> {
  if (run.dryRun) return;
  const changes: TagChange[] = [...run.changes].map(([msgid, c]) => ({ msgid, add: [...c.add], remove: [...c.remove] }));
  await run.session.notmuch.tag(changes);
  for (const m of run.changes.keys()) {
    const project = [...run.summaries.keys()].find((p) => run.family.get(p)!.want.has(m) || run.family.get(p)!.has.has(m));
    if (!project) continue;
    run.summary(project).retagged++;
    run.options.onMessage?.({ msgid: m, project, kind: 'retagged' });
  }
  const { store } = run.session;
  store.transaction(() => {
    for (const row of run.rows) putBundleRow(store, row);
    for (const id of run.dropped) dropBundleRow(store, run.inst.name, id);
    setBundleMark(store, run.inst.name, run.unsettled ? '' : mark);
    setBundlePending(store, run.inst.name, run.waiting);
  });
}
