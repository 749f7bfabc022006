import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEFAULT_STATES } from '../states.js';
import { slugify } from '../tags.js';
import { BUNDLE_DETAIL_ALLOW, BUNDLE_LIST_ALLOW, bundlesView } from './bundles.js';
import { bundleToMbox, filename, patchToMbox, seriesPatchToMbox, seriesToMbox, submissionToMbox } from './mbox.js';
import { RELEASE_VERSIONS, SandboxData, Serializer, VERSIONS, type Release, type SbCheck, type SbPatch, type SbUser, type Version } from './model.js';

// A Patchwork-compatible HTTP server for the demo, the tests and the
// benchmark: the REST subset pwnm-sync uses, with the status codes, headers,
// Link pagination and error bodies of the recorded real 3.1.3 server
// (test/fixtures/patchwork-3.1.3). Where the two differ, the recording is right.

export interface Fault {
  method?: string;
  /** Matched against the path and query. */
  path?: RegExp;
  /** How many requests it hits; Infinity for all. */
  times: number;
  status?: number;
  body?: string;
  contentType?: string;
  headers?: Record<string, string>;
  /** Destroy the socket after sending this many bytes of the body. */
  resetAfter?: number;
  /** Wait this long before answering. */
  stallMs?: number;
}

const HTML_404 = '<!DOCTYPE html>\n<html><head><title>Page not found</title></head><body><h1>Not Found</h1></body></html>\n';
export const HTML_500 = '<!doctype html>\n<html lang="en">\n<head>\n  <title>Server Error (500)</title>\n</head>\n<body>\n  <h1>Server Error (500)</h1><p></p>\n</body>\n</html>\n';

export interface Reply { status: number; body?: unknown; html?: string; headers?: Record<string, string>; allow?: string; text?: { body: string; contentType: string } }

/** A thrown answer: route handlers throw one to reply early, as Django views raise Http404. */
export class HttpError extends Error {
  constructor(readonly reply: Reply) {
    super(`HTTP ${reply.status}`);
  }
}

const detail = (status: number, text: string): HttpError => new HttpError({ status, body: { detail: text } });

/** Python's urlencode(quote_plus) of sorted parameters, as Patchwork's Link URLs have them. */
function encodeQuery(params: [string, string][]): string {
  const enc = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`).replace(/%20/g, '+');
  return [...params].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&');
}

/** Naive UTC datetimes as Django parses them; 'tz' for an aware one (a 500 on SQLite). */
function parseSince(value: string): string | undefined {
  const m = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?(Z|[+-]\d{2}:?\d{2})?$/.exec(value);
  if (!m) return undefined;
  if (m[5]) return 'tz';
  return `${m[1]}T${m[2] ?? '00:00'}:${m[3] ?? '00'}.${(m[4] ?? '').padEnd(6, '0')}`;
}

const withMicros = (date: string): string => (date.length === 19 ? `${date}.000000` : date);

/** Django's QueryDict.get answers the last of repeated parameters; getAll stays. */
function lastValues(params: URLSearchParams): URLSearchParams {
  const out = new URLSearchParams();
  for (const key of new Set(params.keys())) {
    const all = params.getAll(key);
    if (key === 'state') all.forEach((v) => out.append(key, v));
    else out.set(key, all.at(-1)!);
  }
  return out;
}

/** The Allow headers DRF sends: read-only views, the detail views of patches, projects and users, and a patch's checks. */
const READ_ONLY = 'GET, HEAD, OPTIONS';
const READ_WRITE = 'GET, PUT, PATCH, HEAD, OPTIONS';
const CHECKS_ALLOW = 'GET, POST, HEAD, OPTIONS';

/** DRF sends Allow with every answer of a view, errors included. */
function allowOf(path: string): string {
  if (/^\/api\/\d\.\d\/bundles\/$/.test(path)) return BUNDLE_LIST_ALLOW;
  if (/^\/api\/\d\.\d\/bundles\/\d+\/$/.test(path)) return BUNDLE_DETAIL_ALLOW;
  return /^\/api\/\d\.\d\/(patches|projects|users)\/\d+\/$/.test(path) || /^\/api\/\d\.\d\/projects\/[^/]+\/$/.test(path) ? READ_WRITE : READ_ONLY;
}

/** Django's HTML 404 for a path no view serves; a fresh object each time, so no caller can change a shared one. */
const notFoundPage = (): Reply => ({ status: 404, html: HTML_404 });

/** The API root's index of resources, as /api/ and /api/VERSION/ answer it. */
function resourceIndex(prefix: string): Record<string, string> {
  const names = ['projects', 'users', 'people', 'patches', 'covers', 'series', 'events', 'bundles'];
  return Object.fromEntries(names.map((n) => [n, `${prefix}/${n}/`]));
}

/** An API request as the views see it, parsed once. */
export interface ApiCall {
  method: string;
  url: URL;
  /** This server as the client reached it, for the URLs in answers. */
  base: string;
  version: Version;
  ser: Serializer;
  /** The query as Django's QueryDict.get reads it (see lastValues). */
  query: URLSearchParams;
  user: SbUser | undefined;
  /** The view's Allow header (allowOf). */
  allow: string;
  rawBody: string;
  contentType: string;
}

interface ApiRoute { pattern: RegExp; handle: (call: ApiCall, match: RegExpExecArray) => Reply }

export class Sandbox {
  readonly data = new SandboxData();
  /** Valid state slugs, in order; tests may add more. */
  states = [...DEFAULT_STATES];
  /** Versions served (as 3.1.3 and 3.2.1: up to 1.3); drop '1.3' to act as an older Patchwork. */
  versions: Version[] = [...RELEASE_VERSIONS['3.1.3']];

  /** Act as that real Patchwork release: main serves API 1.4. */
  actAs(release: Release): this {
    this.versions = [...RELEASE_VERSIONS[release]];
    return this;
  }
  /** Serve /events/ (false: act as a server without it). */
  events = true;
  delayMs = 0;
  requests = 0;
  /** Requests waiting out `delayMs` now, and those whose client went away while they waited. */
  delaying = 0;
  abandoned = 0;
  readonly log: { method: string; url: string; auth: boolean }[] = [];
  faults: Fault[] = [];
  /**
   * Keep a filtered patch list while a client pages through it (the
   * benchmark at a million patches: filtering the whole project for each
   * of 4,000 pages would make the sandbox the bottleneck). A first page
   * filters afresh; later pages of the same query within a minute reuse
   * it. Off by default: tests change patches between pages on purpose.
   */
  keepLists = false;
  private readonly keptLists = new Map<string, { at: number; patches: SbPatch[] }>();
  private server: Server | undefined;
  url = '';

  async start(port = 0, host = '127.0.0.1'): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 30_000;
    await new Promise<void>((resolve) => this.server!.listen(port, host, resolve));
    const addr = this.server.address() as AddressInfo;
    this.url = `http://${host}:${addr.port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = undefined;
  }

  /** Count of requests whose path matches, for tests that bound request counts. */
  count(pattern: RegExp): number {
    return this.log.filter((r) => pattern.test(r.url)).length;
  }

  /** Wait `delayMs`; false (and counted) when the client closed the connection meanwhile. */
  private async delay(res: ServerResponse): Promise<boolean> {
    this.delaying++;
    try {
      const gone = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), this.delayMs);
        res.once('close', () => { clearTimeout(timer); resolve(!res.writableFinished); });
      });
      if (gone) this.abandoned++;
      return !gone;
    } finally {
      this.delaying--;
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    this.requests++;
    this.log.push({ method: req.method ?? 'GET', url: req.url ?? '/', auth: Boolean(req.headers.authorization) });
    if (this.delayMs && !(await this.delay(res))) return;

    const fault = this.faults.find((f) => f.times > 0 && (!f.method || f.method === req.method) && (!f.path || f.path.test(req.url ?? '')));
    if (fault) {
      fault.times--;
      if (fault.stallMs) await new Promise((r) => setTimeout(r, fault.stallMs));
      if (fault.status !== undefined || fault.body !== undefined || fault.resetAfter !== undefined) {
        const text = fault.body ?? '';
        res.writeHead(fault.status ?? 200, { 'Content-Type': fault.contentType ?? 'application/json', 'Content-Length': Buffer.byteLength(text) + (fault.resetAfter !== undefined ? 100 : 0), ...fault.headers });
        if (fault.resetAfter !== undefined) {
          res.write(text.slice(0, fault.resetAfter));
          setTimeout(() => res.destroy(), 10);
          return;
        }
        res.end(text);
        return;
      }
    }

    let reply: Reply;
    try {
      reply = this.route(req, body);
    } catch (err) {
      if (err instanceof HttpError) reply = err.reply;
      else {
        reply = { status: 500, html: HTML_500 };
        // stderr, not stdout: a sandbox bug must show in the test log.
        // eslint-disable-next-line no-console
        console.error(err);
      }
    }
    this.send(res, reply);
  }

  private send(res: ServerResponse, reply: Reply): void {
    if (reply.text !== undefined) {
      res.writeHead(reply.status, { 'Content-Type': reply.text.contentType, ...reply.headers, 'X-Frame-Options': 'DENY', Vary: 'Cookie', 'Content-Length': Buffer.byteLength(reply.text.body) });
      res.end(reply.text.body);
      return;
    }
    if (reply.html !== undefined) {
      res.writeHead(reply.status, { 'Content-Type': reply.status === 500 ? 'text/html' : 'text/html; charset=utf-8', 'X-Frame-Options': 'DENY', Vary: 'Cookie', 'Content-Length': Buffer.byteLength(reply.html), Connection: 'close', ...reply.headers });
      res.end(reply.html);
      return;
    }
    const text = reply.body === undefined ? '' : JSON.stringify(reply.body);
    // DRF drops the Content-Type of an empty answer (a DELETE's 204).
    const headers: Record<string, string | number> = { ...(text ? { 'Content-Type': 'application/json' } : {}), ...reply.headers, Vary: 'Accept, Cookie' };
    if (reply.allow) headers.Allow = reply.allow;
    headers['X-Frame-Options'] = 'DENY';
    headers['Content-Length'] = Buffer.byteLength(text);
    // gunicorn's sync workers keep no connection alive.
    headers.Connection = 'close';
    res.writeHead(reply.status, headers);
    res.end(text);
  }

  /** POST .../checks/ as Patchwork 3.1.3 answers it (NOTES.md section 1): maintainers only, 201 with Location. */
  private createCheck(base: string, v: Version, patch: SbPatch, user: SbUser | undefined, rawBody: string): Reply {
    const allow = CHECKS_ALLOW;
    const project = this.data.projects.get(patch.project)!;
    if (!user || !project.maintainers.includes(user.id)) throw new HttpError({ status: 403, allow, body: { detail: 'You do not have permission to perform this action.' } });
    const b = (rawBody ? JSON.parse(rawBody) : {}) as { state?: string; context?: string; target_url?: string | null; description?: string | null };
    if (!b.state) throw new HttpError({ status: 400, allow, body: { state: ['A check must have a state.'] } });
    if (!['pending', 'success', 'warning', 'fail'].includes(b.state)) throw new HttpError({ status: 400, allow, body: { state: [`"${b.state}" is not a valid choice.`] } });
    const context = b.context ?? 'default';
    if (!/^[-\w]+$/.test(context)) throw new HttpError({ status: 400, allow, body: { context: ['Enter a valid "slug" consisting of letters, numbers, underscores or hyphens.'] } });
    const c = this.data.addCheck(patch.id, user.id, { state: b.state as SbCheck['state'], context, target_url: b.target_url ?? null, description: b.description ?? null });
    return { status: 201, allow, headers: { Location: `${base}/api/${v}/patches/${patch.id}/checks/${c.id}/` }, body: new Serializer(base, v, this.data).check(c) };
  }

  /** Answers one request: the web views' mbox files, else the REST API. */
  private route(req: IncomingMessage, rawBody: string): Reply {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    // The web views' mbox files are plain Django views: no token needed, and a bad one is ignored.
    return this.mboxRoute(req, url) ?? this.apiRoute(req, url, rawBody);
  }

  /**
   * The REST API's views, tried in order; group 1 is the API version, group 2
   * (and 3) the ids. A path none matches is Django's HTML 404.
   */
  private readonly apiRoutes: ApiRoute[] = [
    { pattern: /^\/api\/(\d\.\d)\/$/, handle: (c) => ({ status: 200, allow: READ_ONLY, body: resourceIndex(`${c.base}/api/${c.version}`) }) },
    { pattern: /^\/api\/(\d\.\d)\/series\/(?:(\d+)\/)?$/, handle: (c, m) => this.seriesView(c, m[2]) },
    { pattern: /^\/api\/(\d\.\d)\/covers\/(?:(\d+)\/)?$/, handle: (c, m) => this.coversView(c, m[2]) },
    { pattern: /^\/api\/(\d\.\d)\/patches\/(\d+)\/checks\/(?:(\d+)\/)?$/, handle: (c, m) => this.checksView(c, m[2]!, m[3]) },
    { pattern: /^\/api\/(\d\.\d)\/projects\/(?:([^/]+)\/)?$/, handle: (c, m) => this.projectsView(c, m[2]) },
    { pattern: /^\/api\/(\d\.\d)\/patches\/(?:([^/]+)\/)?$/, handle: (c, m) => this.patchesView(c, m[2]) },
    // An id after /events/ is ignored: the list is served.
    { pattern: /^\/api\/(\d\.\d)\/events\/(?:[^/]+\/)?$/, handle: (c) => this.eventsView(c) },
    { pattern: /^\/api\/(\d\.\d)\/users\/(?:([^/]+)\/)?$/, handle: (c, m) => this.usersView(c, m[2]) },
    { pattern: /^\/api\/(\d\.\d)\/bundles\/(?:(\d+)\/)?$/, handle: (c, m) => bundlesView(this.data, c, m[2], (items, ser) => this.paginate(c, items, ser)) },
  ];

  private apiRoute(req: IncomingMessage, url: URL, rawBody: string): Reply {
    const path = url.pathname;
    if (path.startsWith('/api') && !path.endsWith('/')) {
      return { status: 301, html: '', headers: { Location: `${path}/${url.search}` } };
    }
    const allow = allowOf(path);
    const user = this.authenticateFor(req, path, allow);
    const base = `http://${req.headers.host ?? '127.0.0.1'}`;
    if (path === '/api/') return { status: 200, allow: READ_ONLY, body: resourceIndex(`${base}/api`) };
    for (const route of this.apiRoutes) {
      const m = route.pattern.exec(path);
      if (!m) continue;
      const version = m[1] as Version;
      // A version this sandbox does not serve is a path the server has no view for.
      if (!this.versions.includes(version)) return notFoundPage();
      return route.handle({
        method: req.method ?? 'GET', url, base, version, ser: new Serializer(base, version, this.data), query: lastValues(url.searchParams),
        user, allow, rawBody, contentType: String(req.headers['content-type'] ?? ''),
      }, m);
    }
    return notFoundPage();
  }

  /** The token's user, or none without a token; a bad token's 403 carries the view's Allow where DRF sends it. */
  private authenticateFor(req: IncomingMessage, path: string, allow: string): SbUser | undefined {
    try {
      return this.authenticate(req);
    } catch (err) {
      if (err instanceof HttpError && /^\/api\/\d\.\d\/[a-z]+\/(\d+\/)?$/.test(path)) err.reply.allow = allow;
      throw err;
    }
  }

  private seriesView(c: ApiCall, id: string | undefined): Reply {
    if (id === undefined) return this.paginate(c, [...this.data.series.values()], (x) => c.ser.seriesDetail(x));
    const series = this.data.series.get(Number(id));
    if (!series) throw detail(404, 'Not found.');
    return { status: 200, allow: READ_ONLY, body: c.ser.seriesDetail(series) };
  }

  /** One cover letter with its headers and content, or the list (`msgid` filters from API 1.2). */
  private coversView(c: ApiCall, id: string | undefined): Reply {
    if (id !== undefined) {
      const cover = this.data.covers.get(Number(id));
      if (!cover) throw detail(404, 'Not found.');
      return { status: 200, allow: READ_ONLY, body: { ...c.ser.cover(cover), headers: cover.headers, content: cover.content } };
    }
    let all = [...this.data.covers.values()];
    const project = c.query.get('project');
    if (project !== null) {
      const p = this.data.findProject(project);
      all = p ? all.filter((x) => x.project === p.id) : [];
    }
    const msgid = c.query.get('msgid');
    if (msgid !== null && VERSIONS.indexOf(c.version) >= 2) all = all.filter((x) => x.msgid === `<${msgid}>`);
    return this.paginate(c, all, (x) => c.ser.cover(x));
  }

  /** A patch's checks: the list (GET, or POST to add one) or one check. */
  private checksView(c: ApiCall, patchId: string, checkId: string | undefined): Reply {
    const patch = this.data.patches.get(Number(patchId));
    if (!patch) throw new HttpError({ status: 404, allow: CHECKS_ALLOW, body: { detail: 'Not found.' } });
    if (checkId === undefined && c.method === 'POST') return this.createCheck(c.base, c.version, patch, c.user, c.rawBody);
    const own = this.data.checks.filter((x) => x.patch === patch.id);
    if (checkId === undefined) return { ...this.paginate(c, own, (x) => c.ser.check(x)), allow: CHECKS_ALLOW };
    const check = own.find((x) => x.id === Number(checkId));
    if (!check) throw new HttpError({ status: 404, allow: READ_ONLY, body: { detail: 'Not found.' } });
    return { status: 200, allow: READ_ONLY, body: c.ser.check(check) };
  }

  private projectsView(c: ApiCall, id: string | undefined): Reply {
    if (id === undefined) return this.paginate(c, [...this.data.projects.values()], (p) => c.ser.project(p, true));
    const p = this.data.findProject(id);
    if (!p) throw detail(404, 'Not found.');
    return { status: 200, allow: READ_WRITE, body: c.ser.project(p, true) };
  }

  /** The filtered list, one patch, or (PATCH/PUT) an update of one. */
  private patchesView(c: ApiCall, id: string | undefined): Reply {
    if (id === undefined) return this.paginate(c, this.patchList(c), (p) => c.ser.patch(p));
    if (!/^\d+$/.test(id)) return notFoundPage();
    const patch = this.data.patches.get(Number(id));
    if (c.method === 'PATCH' || c.method === 'PUT') return this.updateView(c, patch);
    if (!patch) throw new HttpError({ status: 404, allow: READ_WRITE, body: { detail: 'Not found.' } });
    return { status: 200, allow: READ_WRITE, body: c.ser.patch(patch, 'get') };
  }

  /** DRF checks the credentials before it looks the patch up: 403 without a user, even for a missing patch. */
  private updateView(c: ApiCall, patch: SbPatch | undefined): Reply {
    if (!c.user) throw new HttpError({ status: 403, allow: READ_WRITE, body: { detail: 'Authentication credentials were not provided.' } });
    if (!patch) throw new HttpError({ status: 404, allow: READ_WRITE, body: { detail: 'Not found.' } });
    this.update(patch, c.user, c.rawBody, c.contentType, READ_WRITE);
    return { status: 200, allow: READ_WRITE, body: c.ser.patch(patch, 'update') };
  }

  private eventsView(c: ApiCall): Reply {
    if (!this.events) return notFoundPage();
    return this.paginate(c, this.filterEvents(c.query), (e) => c.ser.event(e));
  }

  /** Users are for logged-in clients only; `q` searches names and e-mail; your own entry shows your settings (API 1.2+). */
  private usersView(c: ApiCall, id: string | undefined): Reply {
    const user = c.user;
    if (!user) throw new HttpError({ status: 403, allow: c.allow, body: { detail: 'Authentication credentials were not provided.' } });
    if (id === undefined) {
      const needle = (c.query.get('q') ?? '').toLowerCase();
      const users = [...this.data.users.values()].filter((u) => !needle || [u.username, u.first_name, u.last_name, u.email].some((f) => f.toLowerCase().includes(needle)));
      return this.paginate(c, users, (u) => c.ser.user(u));
    }
    if (!/^\d+$/.test(id)) return notFoundPage();
    const u = this.data.users.get(Number(id));
    if (!u) throw detail(404, 'Not found.');
    const body = c.ser.user(u);
    if (u.id === user.id && VERSIONS.indexOf(c.version) >= 2) body.settings = { send_email: false, items_per_page: 100, show_ids: false };
    return { status: 200, allow: READ_WRITE, body };
  }

  /**
   * The mbox views of patchwork/urls.py: a patch's (`?series=ID` or `*` adds
   * the patches before it), a series', a bundle's (its owner's token, or public).
   */
  private mboxRoute(req: IncomingMessage, url: URL): Reply | undefined {
    const path = url.pathname;
    const patch = /^\/project\/([^/]+)\/patch\/([^/]+)\/mbox\/?$/.exec(path);
    const cover = /^\/project\/([^/]+)\/cover\/([^/]+)\/mbox\/?$/.exec(path);
    const series = /^\/series\/(\d+)\/mbox\/?$/.exec(path);
    const bundle = /^\/bundle\/([^/]+)\/([^/]+)\/mbox\/?$/.exec(path);
    if (!patch && !cover && !series && !bundle) return undefined;
    if (!path.endsWith('/')) return { status: 301, html: '', headers: { Location: `${path}/${url.search}` } };
    const notFound: Reply = { status: 404, html: HTML_404 };
    if (patch) {
      const project = [...this.data.projects.values()].find((p) => p.link_name === decodeURIComponent(patch[1]!));
      const msgid = `<${decodeURIComponent(patch[2]!).replace(/%2F/g, '/')}>`;
      const found = project && this.data.patchByMsgid(project.id, msgid);
      if (!found) return notFound;
      const seriesParam = url.searchParams.get('series');
      const text = seriesParam ? seriesPatchToMbox(this.data, found, seriesParam) : patchToMbox(this.data, found);
      if (typeof text !== 'string') return notFound;
      return { status: 200, text: { body: text, contentType: 'text/plain; charset=utf-8' }, headers: { 'Content-Disposition': `attachment; filename=${filename(found.name)}.patch` } };
    }
    if (cover) {
      const project = [...this.data.projects.values()].find((p) => p.link_name === decodeURIComponent(cover[1]!));
      const msgid = `<${decodeURIComponent(cover[2]!).replace(/%2F/g, '/')}>`;
      const found = project && [...this.data.covers.values()].find((c) => c.project === project.id && c.msgid === msgid);
      if (!found) return notFound;
      return { status: 200, text: { body: submissionToMbox(this.data, found, 'cover'), contentType: 'text/plain' }, headers: { 'Content-Disposition': `attachment; filename=${filename(found.name)}.mbox` } };
    }
    if (series) {
      const s = this.data.series.get(Number(series[1]));
      if (!s) return notFound;
      return { status: 200, text: { body: seriesToMbox(this.data, s.id), contentType: 'text/plain' }, headers: { 'Content-Disposition': `attachment; filename=${filename(s.name)}.patch` } };
    }
    const owner = [...this.data.users.values()].find((u) => u.username === decodeURIComponent(bundle![1]!));
    const b = owner && this.data.bundles.find((x) => x.owner === owner.id && x.name === decodeURIComponent(bundle![2]!));
    if (!b) return notFound;
    // rest_auth: a token that fails is ignored, not refused.
    const m = /^Token\s+(\S+)$/.exec(req.headers.authorization ?? '');
    const user = m ? this.data.userByToken(m[1]!) : undefined;
    if (!(b.public || user?.id === b.owner)) return { status: 404, html: '' };
    return { status: 200, text: { body: bundleToMbox(this.data, b.patches), contentType: 'text/plain' }, headers: { 'Content-Disposition': `attachment; filename=bundle-${b.id}-${b.name}.mbox` } };
  }

  private authenticate(req: IncomingMessage): SbUser | undefined {
    const header = req.headers.authorization;
    if (!header) return undefined;
    const m = /^Token\s+(\S+)$/.exec(header);
    const user = m ? this.data.userByToken(m[1]!) : undefined;
    if (!user) throw detail(403, 'Invalid token.');
    return user;
  }

  paginate<T>({ base, url }: { base: string; url: URL }, items: T[], serialize: (item: T) => unknown): Reply {
    const q = url.searchParams;
    let perPage = Number(q.get('per_page') ?? '30');
    if (!Number.isInteger(perPage) || perPage <= 0) perPage = 30;
    const size = Math.min(perPage, 250);
    const pages = Math.max(1, Math.ceil(items.length / size));
    const pageParam = q.get('page') ?? '1';
    const page = /^\d+$/.test(pageParam) ? Number(pageParam) : NaN;
    if (!(page >= 1 && page <= pages)) throw new HttpError({ status: 404, allow: READ_ONLY, body: { detail: 'Invalid page.' } });
    const params: [string, string][] = [...q.entries()].filter(([k]) => k !== 'page');
    const link = (n: number, rel: string): string => `<${base}${url.pathname}?${encodeQuery([...params, ['page', String(n)]])}>; rel="${rel}"`;
    const links = [];
    if (page < pages) links.push(link(page + 1, 'next'));
    if (page > 1) links.push(link(page - 1, 'prev'));
    links.push(link(1, 'first'), link(pages, 'last'));
    return { status: 200, allow: READ_ONLY, headers: { Link: links.join(', ') }, body: items.slice((page - 1) * size, page * size).map(serialize) };
  }

  /** The filtered list for a patches request, kept between its pages when keepLists is on. */
  private patchList(c: ApiCall): SbPatch[] {
    if (!this.keepLists) return this.filterPatches(c.query, c.version);
    const key = `${c.version} ${[...c.query.entries()].filter(([k]) => k !== 'page').sort().join('&')}`;
    const page = Number(c.query.get('page') ?? '1');
    const kept = this.keptLists.get(key);
    if (page > 1 && kept && Date.now() - kept.at < 60_000) return kept.patches;
    const patches = this.filterPatches(c.query, c.version);
    this.keptLists.set(key, { at: Date.now(), patches });
    return patches;
  }

  private filterPatches(q: URLSearchParams, v: Version): SbPatch[] {
    let ids: number[];
    const projectParam = q.get('project');
    if (projectParam !== null) {
      const project = this.data.findProject(projectParam);
      if (!project) return [];
      ids = this.data.byProject.get(project.id) ?? [];
    } else ids = [...this.data.patches.keys()].sort((a, b) => a - b);
    let patches = ids.map((id) => this.data.patches.get(id)!);
    const since = q.get('since');
    const before = q.get('before');
    for (const [value, keep] of [[since, (d: string, s: string) => d >= s], [before, (d: string, s: string) => d < s]] as const) {
      if (value === null) continue;
      const parsed = parseSince(value);
      if (parsed === 'tz') throw new HttpError({ status: 500, html: HTML_500 });
      if (parsed === undefined) return [];
      patches = patches.filter((p) => keep(withMicros(p.date), parsed));
    }
    const states = q.getAll('state');
    if (states.length) patches = patches.filter((p) => states.includes(p.state));
    const archived = q.get('archived')?.toLowerCase();
    if (archived === 'true' || archived === '1') patches = patches.filter((p) => p.archived);
    if (archived === 'false' || archived === '0') patches = patches.filter((p) => !p.archived);
    const delegate = q.get('delegate');
    if (delegate !== null) {
      const user = [...this.data.users.values()].find((u) => String(u.id) === delegate || u.username.toLowerCase() === delegate.toLowerCase());
      patches = user ? patches.filter((p) => p.delegate === user.id) : [];
    }
    const series = q.get('series');
    if (series !== null) patches = patches.filter((p) => String(p.series) === series);
    if (VERSIONS.indexOf(v) >= 2) {
      const msgid = q.get('msgid');
      if (msgid !== null) patches = patches.filter((p) => p.msgid === `<${msgid}>`);
      const hash = q.get('hash');
      if (hash !== null) patches = patches.filter((p) => p.hash === hash);
    }
    const order = q.get('order');
    if (order) {
      const desc = order.startsWith('-');
      const key = order.replace(/^-/, '') as keyof SbPatch;
      if (['date', 'name', 'state', 'id'].includes(key)) {
        patches = [...patches].sort((a, b) => {
          const x = a[key] as string | number;
          const y = b[key] as string | number;
          const c = x < y ? -1 : x > y ? 1 : a.id - b.id;
          return desc ? -c : c;
        });
      }
    }
    return patches;
  }

  private filterEvents(q: URLSearchParams) {
    let events = this.data.events;
    const projectParam = q.get('project');
    if (projectParam !== null) {
      const project = this.data.findProject(projectParam);
      if (!project) return [];
      events = events.filter((e) => e.project === project.id);
    }
    const category = q.get('category');
    if (category !== null) events = events.filter((e) => e.category === category);
    const patch = q.get('patch');
    if (patch !== null) events = events.filter((e) => String(e.payload.patch) === patch);
    const series = q.get('series');
    const idOf = (v: unknown): string => String(typeof v === 'object' && v !== null ? (v as { id: unknown }).id : v);
    if (series !== null) events = events.filter((e) => e.payload.series !== undefined && idOf(e.payload.series) === series);
    for (const [name, keep] of [['since', (d: string, s: string) => d >= s], ['before', (d: string, s: string) => d < s]] as const) {
      const value = q.get(name);
      if (value === null) continue;
      const parsed = parseSince(value);
      if (parsed === 'tz') throw new HttpError({ status: 500, html: HTML_500 });
      if (parsed === undefined) return [];
      events = events.filter((e) => keep(withMicros(e.date), parsed));
    }
    const ascending = q.get('order') === 'date';
    return [...events].sort((a, b) => {
      const c = a.date < b.date ? -1 : a.date > b.date ? 1 : a.id - b.id;
      return ascending ? c : -c;
    });
  }

  private update(patch: SbPatch, user: SbUser, rawBody: string, contentType: string, allow: string): void {
    const project = this.data.projects.get(patch.project)!;
    // Patch.is_editable: a maintainer, the submitter's own account, or the delegate.
    const editable = project.maintainers.includes(user.id) || patch.delegate === user.id || this.data.people.get(patch.submitter)?.user === user.id;
    if (!editable) throw new HttpError({ status: 403, allow, body: { detail: 'You do not have permission to perform this action.' } });
    // Without a JSON content type Django sees no fields: 200, nothing changed.
    if (!contentType.includes('application/json')) return;
    let fields: Record<string, unknown>;
    try {
      fields = JSON.parse(rawBody || '{}') as Record<string, unknown>;
    } catch {
      throw new HttpError({ status: 400, allow, body: { detail: 'JSON parse error - Expecting value: line 1 column 1 (char 0)' } });
    }
    const errors: Record<string, string[]> = {};
    let state: string | undefined;
    if ('state' in fields) {
      const slug = slugify(String(fields.state));
      if (this.states.includes(slug)) state = slug;
      else errors.state = [`Invalid state ${String(fields.state)}. Expected one of: ${this.states.join(', ')}.`];
    }
    let delegate: number | null | undefined;
    if ('delegate' in fields) {
      const d = fields.delegate;
      if (d === null) delegate = null;
      else if (typeof d !== 'number') errors.delegate = [`Incorrect type. Expected pk value, received ${typeof d === 'string' ? 'str' : typeof d}.`];
      else if (!this.data.users.has(d)) errors.delegate = [`Invalid pk "${d}" - object does not exist.`];
      else if (!project.maintainers.includes(d)) errors.delegate = [`User '${this.data.users.get(d)!.username}' is not a maintainer for project '${project.link_name}'`];
      else delegate = d;
    }
    if (Object.keys(errors).length) throw new HttpError({ status: 400, allow, body: errors });
    if (state !== undefined) this.data.setState(patch.id, state, user.id);
    if (delegate !== undefined) this.data.setDelegate(patch.id, delegate, user.id);
    if (typeof fields.archived === 'boolean') patch.archived = fields.archived;
    if (typeof fields.commit_ref === 'string' || fields.commit_ref === null) patch.commit_ref = fields.commit_ref as string | null;
  }
}
