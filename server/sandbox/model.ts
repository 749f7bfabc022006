import { hashDiff } from '../patchwork/hash.js';

// The sandbox's data: a Patchwork instance in memory, shaped after the real
// 3.1.3 models, plus the serialisers that turn it into API JSON per version.

export interface SbUser { id: number; username: string; email: string; first_name: string; last_name: string; token?: string }
/** `user`: the account linked to this address (Person.user), as when a submitter registers. */
export interface SbPerson { id: number; name: string; email: string; user?: number }
export interface SbProject {
  id: number; name: string; link_name: string; list_id: string; list_email: string;
  maintainers: number[]; list_archive_url: string; list_archive_url_format: string; web_url: string;
  /** API 1.4: whether series show their `dependencies`/`dependents` (off by default, as on main). */
  show_dependencies?: boolean;
}
/** `dependencies`: the series this one says it depends on (Depends-on:), as main's parser links them. */
export interface SbSeries { id: number; project: number; name: string; version: number; date: string; total: number; submitter: number; cover: number | null; dependencies?: number[] }
export interface SbPatch {
  id: number; project: number; msgid: string; date: string; name: string; state: string; archived: boolean;
  hash: string | null; submitter: number; delegate: number | null; series: number | null; commit_ref: string | null;
  pull_url: string | null; check: string; diff: string | null; content: string; headers: Record<string, string>;
  /** Place in its series (Patch.number); ordered by id when absent. */
  number?: number;
}
/** A reply to a patch or cover letter; Patchwork appends its trailers to the mbox. */
export interface SbComment { id: number; patch: number | null; cover: number | null; msgid: string; date: string; submitter: number; content: string }
export interface SbCover { id: number; project: number; msgid: string; date: string; name: string; submitter: number; series: number | null; content: string; headers: Record<string, string> }
/** `patches` in the bundle's own order (BundlePatch.order); `project` is its first patch's unless given. */
export interface SbBundle { id: number; owner: number; name: string; public: boolean; patches: number[]; project?: number }
export interface SbCheck { id: number; patch: number; user: number; date: string; state: 'pending' | 'success' | 'warning' | 'fail'; target_url: string | null; context: string; description: string | null }
export interface SbEvent { id: number; category: string; project: number; date: string; actor: number | null; payload: Record<string, unknown> }

export type Version = '1.0' | '1.1' | '1.2' | '1.3' | '1.4';
export const VERSIONS: readonly Version[] = ['1.0', '1.1', '1.2', '1.3', '1.4'];
/** The real Patchwork releases the sandbox can act as (test/real runs each). */
export type Release = '3.1.3' | '3.2.1' | 'main';
/** The API versions each release serves: main adds 1.4. */
export const RELEASE_VERSIONS: Record<Release, readonly Version[]> = { '3.1.3': VERSIONS.slice(0, 4), '3.2.1': VERSIONS.slice(0, 4), main: VERSIONS };


/**
 * A message-id as Patchwork's URLs carry it (3.1.3, 3.2.1 and main alike):
 * encoded_msgid turns `/` into %2F, then Django's reverse() quotes the `%`.
 */
export const urlMsgid = (msgid: string): string => msgid.replace(/^<|>$/g, '').replace(/\//g, '%252F');

const at = (v: Version, min: Version): boolean => VERSIONS.indexOf(v) >= VERSIONS.indexOf(min);

export class Serializer {
  constructor(private readonly base: string, private readonly v: Version, private readonly db: SandboxData) {}

  private api(path: string): string {
    return `${this.base}/api/${this.v}/${path}`;
  }

  project(p: SbProject, detail = false): Record<string, unknown> {
    const o: Record<string, unknown> = {
      id: p.id, url: this.api(`projects/${p.id}/`), name: p.name, link_name: p.link_name, list_id: p.list_id,
      list_email: p.list_email, web_url: p.web_url, scm_url: '', webscm_url: '',
    };
    if (detail) o.maintainers = p.maintainers.map((id) => this.user(this.db.users.get(id)!));
    if (detail && at(this.v, '1.1')) o.subject_match = '';
    if (at(this.v, '1.2')) Object.assign(o, { list_archive_url: p.list_archive_url, list_archive_url_format: p.list_archive_url_format, commit_url_format: '' });
    if (at(this.v, '1.4')) o.show_dependencies = Boolean(p.show_dependencies);
    return o;
  }

  user(u: SbUser): Record<string, unknown> {
    return { id: u.id, url: this.api(`users/${u.id}/`), username: u.username, first_name: u.first_name, last_name: u.last_name, email: u.email };
  }

  person(p: SbPerson): Record<string, unknown> {
    return { id: p.id, url: this.api(`people/${p.id}/`), name: p.name, email: p.email };
  }

  private webPatch(p: SbPatch): string {
    const proj = this.db.projects.get(p.project)!;
    return `${this.base}/project/${proj.link_name}/patch/${urlMsgid(p.msgid)}/`;
  }

  private archiveUrl(p: SbPatch): string | null {
    const fmt = this.db.projects.get(p.project)!.list_archive_url_format;
    return fmt ? fmt.replace('{}', p.msgid.replace(/^<|>$/g, '')) : null;
  }

  seriesRef(s: SbSeries): Record<string, unknown> {
    const proj = this.db.projects.get(s.project)!;
    const o: Record<string, unknown> = { id: s.id, url: this.api(`series/${s.id}/`) };
    if (at(this.v, '1.1')) o.web_url = `${this.base}/project/${proj.link_name}/list/?series=${s.id}`;
    Object.assign(o, { date: s.date, name: s.name, version: s.version, mbox: `${this.base}/series/${s.id}/mbox/` });
    return o;
  }

  /** The patch as embedded in events. */
  patchRef(p: SbPatch): Record<string, unknown> {
    const o: Record<string, unknown> = { id: p.id, url: this.api(`patches/${p.id}/`) };
    if (at(this.v, '1.1')) o.web_url = this.webPatch(p);
    o.msgid = p.msgid;
    if (at(this.v, '1.2')) o.list_archive_url = this.archiveUrl(p);
    Object.assign(o, { date: p.date, name: p.name, mbox: `${this.webPatch(p)}mbox/` });
    return o;
  }

  /** `detail` adds headers, content and diff; an update's answer also drops `related`, as the real one does. */
  patch(p: SbPatch, detail: false | 'get' | 'update' = false): Record<string, unknown> {
    const o: Record<string, unknown> = { id: p.id, url: this.api(`patches/${p.id}/`) };
    if (at(this.v, '1.1')) o.web_url = this.webPatch(p);
    o.project = this.project(this.db.projects.get(p.project)!);
    o.msgid = p.msgid;
    if (at(this.v, '1.2')) o.list_archive_url = this.archiveUrl(p);
    Object.assign(o, {
      date: p.date, name: p.name, commit_ref: p.commit_ref, pull_url: p.pull_url, state: p.state, archived: p.archived,
      hash: p.hash, submitter: this.person(this.db.people.get(p.submitter)!),
      delegate: p.delegate === null ? null : this.user(this.db.users.get(p.delegate)!),
      mbox: `${this.webPatch(p)}mbox/`,
      series: p.series === null ? [] : [this.seriesRef(this.db.series.get(p.series)!)],
    });
    // Patchwork writes these two URLs without the version (NOTES.md).
    if (at(this.v, '1.1')) o.comments = `${this.base}/api/patches/${p.id}/comments/`;
    Object.assign(o, { check: p.check, checks: `${this.base}/api/patches/${p.id}/checks/`, tags: {} });
    if (at(this.v, '1.2') && detail !== 'update') o.related = [];
    if (detail) Object.assign(o, { headers: p.headers, content: p.content, diff: p.diff, prefixes: [] });
    return o;
  }

  /** A cover letter (api/cover.py): `series` a list, as for patches. */
  cover(c: SbCover): Record<string, unknown> {
    const proj = this.db.projects.get(c.project)!;
    const web = `${this.base}/project/${proj.link_name}/cover/${urlMsgid(c.msgid)}/`;
    const o: Record<string, unknown> = { id: c.id, url: this.api(`covers/${c.id}/`) };
    if (at(this.v, '1.1')) o.web_url = web;
    Object.assign(o, { project: this.project(proj), msgid: c.msgid });
    if (at(this.v, '1.2')) o.list_archive_url = null;
    Object.assign(o, { date: c.date, name: c.name, submitter: this.person(this.db.people.get(c.submitter)!) });
    if (at(this.v, '1.1')) o.mbox = `${web}mbox/`;
    o.series = c.series === null ? [] : [this.seriesRef(this.db.series.get(c.series)!)];
    if (at(this.v, '1.1')) o.comments = `${this.base}/api/covers/${c.id}/comments/`;
    return o;
  }

  /** A series (api/series.py): its patches in order and its cover letter. */
  seriesDetail(s: SbSeries): Record<string, unknown> {
    const proj = this.db.projects.get(s.project)!;
    const patches = this.db.seriesPatches(s.id);
    const cover = s.cover === null ? undefined : this.db.covers.get(s.cover);
    const o: Record<string, unknown> = { id: s.id, url: this.api(`series/${s.id}/`) };
    if (at(this.v, '1.1')) o.web_url = `${this.base}/project/${proj.link_name}/list/?series=${s.id}`;
    Object.assign(o, {
      project: this.project(proj), name: s.name, date: s.date, submitter: this.person(this.db.people.get(s.submitter)!),
      version: s.version, total: s.total, received_total: patches.length, received_all: patches.length >= s.total,
      mbox: `${this.base}/series/${s.id}/mbox/`,
      cover_letter: cover ? { id: cover.id, url: this.api(`covers/${cover.id}/`), ...(at(this.v, '1.1') ? { web_url: `${this.base}/project/${proj.link_name}/cover/${urlMsgid(cover.msgid)}/` } : {}), msgid: cover.msgid, date: cover.date, name: cover.name } : null,
      patches: patches.map((p) => this.patchRef(p)),
    });
    // API 1.4 (main): the series' links, both ways, as API URLs; only where the project shows them.
    if (at(this.v, '1.4') && proj.show_dependencies) {
      const url = (id: number): string => this.api(`series/${id}/`);
      o.dependencies = (s.dependencies ?? []).map(url);
      o.dependents = [...this.db.series.values()].filter((x) => x.dependencies?.includes(s.id)).map((x) => url(x.id));
    }
    return o;
  }

  /** A bundle (api/bundle.py): its patches embedded, ordered by id as the real list shows them. */
  bundle(b: SbBundle): Record<string, unknown> {
    const owner = this.db.users.get(b.owner)!;
    const web = `${this.base}/bundle/${iriToUri(owner.username)}/${iriToUri(b.name)}/`;
    const o: Record<string, unknown> = { id: b.id, url: this.api(`bundles/${b.id}/`) };
    if (at(this.v, '1.1')) o.web_url = web;
    const patches = [...b.patches].sort((x, y) => x - y).map((id) => this.patchRef(this.db.patches.get(id)!));
    Object.assign(o, { project: this.project(this.db.projects.get(b.project!)!), name: b.name, owner: this.user(owner), patches, public: b.public, mbox: `${web}mbox/` });
    return o;
  }

  check(c: SbCheck): Record<string, unknown> {
    return {
      id: c.id, url: this.api(`patches/${c.patch}/checks/${c.id}/`), user: this.user(this.db.users.get(c.user)!), date: c.date,
      state: c.state, target_url: c.target_url, context: c.context, description: c.description,
    };
  }

  event(e: SbEvent): Record<string, unknown> {
    const payload: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(e.payload)) {
      if (k === 'patch') payload.patch = this.patchRef(this.db.patches.get(v as number)!);
      else if (k === 'check' && typeof v === 'number') {
        const c = this.db.checks.find((x) => x.id === v)!;
        payload.check = { id: c.id, url: this.api(`patches/${c.patch}/checks/${c.id}/`), date: c.date, state: c.state, target_url: c.target_url, context: c.context };
      }
      else if ((k === 'previous_delegate' || k === 'current_delegate') && v !== null) payload[k] = this.user(this.db.users.get(v as number)!);
      else if (k === 'series' && typeof v === 'number') payload.series = this.seriesRef(this.db.series.get(v)!);
      else payload[k] = v;
    }
    return {
      id: e.id, category: e.category, project: this.project(this.db.projects.get(e.project)!), date: e.date,
      actor: e.actor === null ? null : this.user(this.db.users.get(e.actor)!), payload,
    };
  }
}

/** Django's iri_to_uri: what a URL path may hold stays, the rest is percent-encoded as UTF-8. */
export function iriToUri(text: string): string {
  return encodeURIComponent(text).replace(/%(21|2A|27|28|29|3B|3A|40|26|3D|2B|24|2C|2F|3F|23|5B|5D|7E)/g, (m) => decodeURIComponent(m));
}

/** A naive UTC date with microseconds, as Patchwork (USE_TZ off) writes check and event dates: no Z. */
function naiveMicros(d: Date): string {
  return `${d.toISOString().slice(0, 23)}000`;
}

/** Microsecond timestamps, strictly increasing, as Patchwork's event dates. */
function eventDate(last: string | undefined): string {
  let now = naiveMicros(new Date());
  if (last && now <= last) {
    const micros = Number(last.slice(20)) + 1;
    now = `${last.slice(0, 20)}${String(micros).padStart(6, '0')}`;
  }
  return now;
}

export class SandboxData {
  users = new Map<number, SbUser>();
  people = new Map<number, SbPerson>();
  projects = new Map<number, SbProject>();
  series = new Map<number, SbSeries>();
  patches = new Map<number, SbPatch>();
  /** Patch ids per project, ascending. */
  byProject = new Map<number, number[]>();
  events: SbEvent[] = [];
  checks: SbCheck[] = [];
  comments: SbComment[] = [];
  covers = new Map<number, SbCover>();
  bundles: SbBundle[] = [];
  private nextIds = { user: 1, person: 1, project: 1, series: 1, patch: 1, event: 1, check: 1, comment: 1, cover: 1, bundle: 1 };

  addUser(u: Omit<SbUser, 'id' | 'first_name' | 'last_name' | 'email'> & Partial<SbUser>): SbUser {
    const user: SbUser = { id: u.id ?? this.nextIds.user, first_name: '', last_name: '', email: `${u.username}@example.org`, ...u } as SbUser;
    this.nextIds.user = Math.max(this.nextIds.user, user.id + 1);
    this.users.set(user.id, user);
    return user;
  }

  addPerson(name: string, email: string, id?: number): SbPerson {
    for (const p of this.people.values()) if (p.email === email) return p;
    const person = { id: id ?? this.nextIds.person, name, email };
    this.nextIds.person = Math.max(this.nextIds.person, person.id + 1);
    this.people.set(person.id, person);
    return person;
  }

  addProject(p: Partial<SbProject> & { link_name: string; list_email: string }): SbProject {
    const project: SbProject = {
      id: this.nextIds.project, name: p.link_name, list_id: p.list_email.replace('@', '.'), maintainers: [],
      list_archive_url: '', list_archive_url_format: '', web_url: '', ...p,
    };
    this.nextIds.project = Math.max(this.nextIds.project, project.id + 1);
    this.projects.set(project.id, project);
    this.byProject.set(project.id, this.byProject.get(project.id) ?? []);
    return project;
  }

  addSeries(s: Omit<SbSeries, 'id'> & { id?: number }): SbSeries {
    const series = { ...s, id: s.id ?? this.nextIds.series };
    this.nextIds.series = Math.max(this.nextIds.series, series.id + 1);
    this.series.set(series.id, series);
    return series;
  }

  /** Add a patch as parsemail would: with a patch-created event unless `quiet`. */
  addPatch(p: Partial<SbPatch> & { project: number; msgid: string; name: string; submitter: number }, quiet = false): SbPatch {
    const patch: SbPatch = {
      id: this.nextIds.patch, date: new Date().toISOString().slice(0, 19), state: 'new', archived: false, hash: null,
      delegate: null, series: null, commit_ref: null, pull_url: null, check: 'pending', diff: null, content: '', headers: {}, ...p,
    };
    // As Patch.save() does: the hash of the stored diff, when none was given.
    if (patch.hash === null && patch.diff !== null) patch.hash = hashDiff(patch.diff);
    this.nextIds.patch = Math.max(this.nextIds.patch, patch.id + 1);
    this.patches.set(patch.id, patch);
    const ids = this.byProject.get(patch.project)!;
    if (ids.length === 0 || ids[ids.length - 1]! < patch.id) ids.push(patch.id);
    else { ids.push(patch.id); ids.sort((a, b) => a - b); }
    if (!quiet) this.importEvents(patch);
    return patch;
  }

  /**
   * The events a real mail import makes (patchwork/signals.py): series-created
   * before a series' first patch, patch-created, patch-completed once its
   * predecessors are in, series-completed with its last patch. A real import
   * of N patches makes about 2.5 N events in the same second.
   */
  private importEvents(patch: SbPatch): void {
    const series = patch.series === null ? undefined : this.series.get(patch.series);
    const received = series ? (this.byProject.get(patch.project) ?? []).filter((id) => this.patches.get(id)!.series === series.id).length : 0;
    // The parser saves a new series before its first patch.
    if (series && received === 1) this.addEvent('series-created', patch.project, null, { series: series.id });
    this.addEvent('patch-created', patch.project, null, { patch: patch.id });
    if (!series) return;
    this.addEvent('patch-completed', patch.project, null, { patch: patch.id, series: series.id });
    if (received === series.total) this.addEvent('series-completed', patch.project, null, { series: series.id });
  }

  addEvent(category: string, project: number, actor: number | null, payload: Record<string, unknown>, date?: string): SbEvent {
    const event = { id: this.nextIds.event, category, project, date: date ?? eventDate(this.events[this.events.length - 1]?.date), actor, payload };
    this.nextIds.event = Math.max(this.nextIds.event, event.id + 1);
    this.events.push(event);
    return event;
  }

  /** A state change as a maintainer makes it on the web: with its event. */
  setState(patchId: number, state: string, actor: number | null = null): void {
    const patch = this.patches.get(patchId)!;
    if (patch.state === state) return;
    const previous = patch.state;
    patch.state = state;
    this.addEvent('patch-state-changed', patch.project, actor, { patch: patch.id, previous_state: previous, current_state: state });
  }

  setDelegate(patchId: number, delegate: number | null, actor: number | null = null): void {
    const patch = this.patches.get(patchId)!;
    if (patch.delegate === delegate) return;
    const previous = patch.delegate;
    patch.delegate = delegate;
    this.addEvent('patch-delegated', patch.project, actor, { patch: patch.id, previous_delegate: previous, current_delegate: delegate });
  }

  /** A CI result as a bot posts it: with its event, and the patch's combined check updated. */
  addCheck(patchId: number, user: number, check: Pick<SbCheck, 'state' | 'context'> & Partial<Pick<SbCheck, 'target_url' | 'description'>>): SbCheck {
    const c: SbCheck = { id: this.nextIds.check++, patch: patchId, user, date: naiveMicros(new Date()), target_url: null, description: null, ...check };
    this.checks.push(c);
    const patch = this.patches.get(patchId)!;
    patch.check = combinedCheck(this.checks.filter((x) => x.patch === patchId));
    this.addEvent('check-created', patch.project, user, { patch: patchId, check: c.id });
    return c;
  }

  /** A reply to a patch (or, with `cover`, to a cover letter). */
  addComment(c: Omit<SbComment, 'id'>): SbComment {
    const comment = { ...c, id: this.nextIds.comment++ };
    this.comments.push(comment);
    return comment;
  }

  addCover(c: Omit<SbCover, 'id'>): SbCover {
    const cover = { ...c, id: this.nextIds.cover++ };
    this.covers.set(cover.id, cover);
    if (cover.series !== null) this.series.get(cover.series)!.cover = cover.id;
    return cover;
  }

  addBundle(b: Omit<SbBundle, 'id'>): SbBundle {
    const bundle = { project: this.patches.get(b.patches[0]!)?.project, ...b, id: this.nextIds.bundle++ };
    this.bundles.push(bundle);
    return bundle;
  }

  /** A series' patches in order (Series.patches ordered by number). */
  /**
   * Delete a patch as Django's admin does (the REST API cannot): its events,
   * checks and comments go with it (on_delete=CASCADE), and no event says so.
   */
  deletePatch(patchId: number): void {
    const patch = this.patches.get(patchId);
    if (!patch) return;
    this.patches.delete(patchId);
    const ids = this.byProject.get(patch.project)!;
    ids.splice(ids.indexOf(patchId), 1);
    this.events = this.events.filter((e) => e.payload.patch !== patchId);
    this.checks = this.checks.filter((c) => c.patch !== patchId);
    this.comments = this.comments.filter((c) => c.patch !== patchId);
    for (const b of this.bundles) b.patches = b.patches.filter((id) => id !== patchId);
  }

  seriesPatches(seriesId: number): SbPatch[] {
    const byNumber = (p: SbPatch): number => p.number ?? p.id;
    return [...this.patches.values()].filter((p) => p.series === seriesId).sort((a, b) => byNumber(a) - byNumber(b) || a.id - b.id);
  }

  patchByMsgid(projectId: number, msgid: string): SbPatch | undefined {
    for (const id of this.byProject.get(projectId) ?? []) {
      const p = this.patches.get(id)!;
      if (p.msgid === msgid) return p;
    }
    return undefined;
  }

  findProject(value: string): SbProject | undefined {
    for (const p of this.projects.values()) if (String(p.id) === value || p.link_name === value) return p;
    return undefined;
  }

  userByToken(token: string): SbUser | undefined {
    for (const u of this.users.values()) if (u.token === token) return u;
    return undefined;
  }
}

/** Patchwork's combined check: the newest per (user, context); fail, else warning, else pending, else success; pending when there are none. */
export function combinedCheck(checks: readonly SbCheck[]): string {
  const newest = new Map<string, SbCheck>();
  for (const c of [...checks].sort((a, b) => a.id - b.id)) newest.set(`${c.user} ${c.context}`, c);
  const states = new Set([...newest.values()].map((c) => c.state));
  if (states.size === 0) return 'pending';
  for (const s of ['fail', 'warning', 'pending'] as const) if (states.has(s)) return s;
  return 'success';
}
