import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEFAULT_STATES } from '../states.js';
import { slugify } from '../tags.js';
import { bundleToMbox, filename, patchToMbox, seriesPatchToMbox, seriesToMbox } from './mbox.js';
import { SandboxData, Serializer, VERSIONS, type SbCheck, type SbPatch, type SbUser, type Version } from './model.js';

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
const HTML_500 = '<!doctype html>\n<html lang="en">\n<head>\n  <title>Server Error (500)</title>\n</head>\n<body>\n  <h1>Server Error (500)</h1><p></p>\n</body>\n</html>\n';

interface Reply { status: number; body?: unknown; html?: string; headers?: Record<string, string>; allow?: string; text?: { body: string; contentType: string } }

/** A thrown answer: route handlers throw one to reply early, as Django views raise Http404. */
class HttpError extends Error {
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

export class Sandbox {
  readonly data = new SandboxData();
  /** Valid state slugs, in order; tests may add more. */
  states = [...DEFAULT_STATES];
  /** Versions served; drop '1.3' to act as an older Patchwork. */
  versions: Version[] = [...VERSIONS];
  /** Serve /events/ (false: act as a server without it). */
  events = true;
  delayMs = 0;
  requests = 0;
  readonly log: { method: string; url: string; auth: boolean }[] = [];
  faults: Fault[] = [];
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

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    this.requests++;
    this.log.push({ method: req.method ?? 'GET', url: req.url ?? '/', auth: Boolean(req.headers.authorization) });
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));

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
    const headers: Record<string, string | number> = { 'Content-Type': 'application/json', ...reply.headers, Vary: 'Accept, Cookie' };
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
    const allow = 'GET, POST, HEAD, OPTIONS';
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

  private route(req: IncomingMessage, rawBody: string): Reply {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const base = `http://${req.headers.host ?? '127.0.0.1'}`;
    // The web views' mbox files are plain Django views: no token needed, and a bad one is ignored.
    const mbox = this.mboxRoute(req, url);
    if (mbox) return mbox;
    if (path.startsWith('/api') && !path.endsWith('/')) {
      return { status: 301, html: '', headers: { Location: `${path}/${url.search}` } };
    }
    // DRF sends Allow with every answer of a view, errors included.
    const allow = /^\/api\/\d\.\d\/(patches|projects|users)\/\d+\/$/.test(path) || /^\/api\/\d\.\d\/projects\/[^/]+\/$/.test(path) ? 'GET, PUT, PATCH, HEAD, OPTIONS' : 'GET, HEAD, OPTIONS';
    let user: SbUser | undefined;
    try {
      user = this.authenticate(req);
    } catch (err) {
      if (err instanceof HttpError && /^\/api\/\d\.\d\/[a-z]+\/(\d+\/)?$/.test(path)) err.reply.allow = allow;
      throw err;
    }
    if (path === '/api/') {
      const names = ['projects', 'users', 'people', 'patches', 'covers', 'series', 'events', 'bundles'];
      return { status: 200, allow: 'GET, HEAD, OPTIONS', body: Object.fromEntries(names.map((n) => [n, `${base}/api/${n}/`])) };
    }
    const covers = /^\/api\/(\d\.\d)\/(covers|series)\/(?:(\d+)\/)?$/.exec(path);
    if (covers && this.versions.includes(covers[1] as Version)) {
      const ser = new Serializer(base, covers[1] as Version, this.data);
      if (covers[2] === 'series') {
        const series = covers[3] === undefined ? undefined : this.data.series.get(Number(covers[3]));
        if (covers[3] === undefined) return this.paginate(base, url, [...this.data.series.values()], (x) => ser.seriesDetail(x));
        if (!series) throw detail(404, 'Not found.');
        return { status: 200, allow: 'GET, HEAD, OPTIONS', body: ser.seriesDetail(series) };
      }
      let all = [...this.data.covers.values()];
      if (covers[3] !== undefined) {
        const cover = this.data.covers.get(Number(covers[3]));
        if (!cover) throw detail(404, 'Not found.');
        return { status: 200, allow: 'GET, HEAD, OPTIONS', body: { ...ser.cover(cover), headers: cover.headers, content: cover.content } };
      }
      const q = lastValues(url.searchParams);
      const project = q.get('project');
      if (project !== null) {
        const p = this.data.findProject(project);
        all = p ? all.filter((c) => c.project === p.id) : [];
      }
      const msgid = q.get('msgid');
      if (msgid !== null && VERSIONS.indexOf(covers[1] as Version) >= 2) all = all.filter((c) => c.msgid === `<${msgid}>`);
      return this.paginate(base, url, all, (c) => ser.cover(c));
    }
    const checks = /^\/api\/(\d\.\d)\/patches\/(\d+)\/checks\/(?:(\d+)\/)?$/.exec(path);
    if (checks && this.versions.includes(checks[1] as Version)) {
      const ser = new Serializer(base, checks[1] as Version, this.data);
      const patch = this.data.patches.get(Number(checks[2]));
      if (!patch) throw new HttpError({ status: 404, allow: 'GET, POST, HEAD, OPTIONS', body: { detail: 'Not found.' } });
      if (checks[3] === undefined && method === 'POST') return this.createCheck(base, checks[1] as Version, patch, user, rawBody);
      const own = this.data.checks.filter((c) => c.patch === patch.id);
      if (checks[3] === undefined) return { ...this.paginate(base, url, own, (c) => ser.check(c)), allow: 'GET, POST, HEAD, OPTIONS' };
      const c = own.find((x) => x.id === Number(checks[3]));
      if (!c) throw new HttpError({ status: 404, allow: 'GET, HEAD, OPTIONS', body: { detail: 'Not found.' } });
      return { status: 200, allow: 'GET, HEAD, OPTIONS', body: ser.check(c) };
    }
    const m = /^\/api\/(\d\.\d)\/(?:([a-z]+)\/(?:([^/]+)\/)?)?$/.exec(path);
    if (!m || !this.versions.includes(m[1] as Version)) return { status: 404, html: HTML_404 };
    const v = m[1] as Version;
    const [resource, id] = [m[2], m[3]];
    const ser = new Serializer(base, v, this.data);
    const q = lastValues(url.searchParams);
    if (!resource) {
      const names = ['projects', 'users', 'people', 'patches', 'covers', 'series', 'events', 'bundles'];
      return { status: 200, allow: 'GET, HEAD, OPTIONS', body: Object.fromEntries(names.map((n) => [n, `${base}/api/${v}/${n}/`])) };
    }
    // Serialise only the page asked for: a list can be 100,000 patches long.
    const list = <T>(items: T[], serialize: (item: T) => unknown): Reply => this.paginate(base, url, items, serialize);
    switch (resource) {
      case 'projects': {
        if (id === undefined) return list([...this.data.projects.values()], (p) => ser.project(p, true));
        const p = this.data.findProject(id);
        if (!p) throw detail(404, 'Not found.');
        return { status: 200, allow: 'GET, PUT, PATCH, HEAD, OPTIONS', body: ser.project(p, true) };
      }
      case 'patches': {
        if (id === undefined) return list(this.filterPatches(q, v), (p) => ser.patch(p));
        if (!/^\d+$/.test(id)) return { status: 404, html: HTML_404 };
        const allow = 'GET, PUT, PATCH, HEAD, OPTIONS';
        const patch = this.data.patches.get(Number(id));
        if (method === 'PATCH' || method === 'PUT') {
          if (!user) throw new HttpError({ status: 403, allow, body: { detail: 'Authentication credentials were not provided.' } });
          if (!patch) throw new HttpError({ status: 404, allow, body: { detail: 'Not found.' } });
          this.update(patch, user, rawBody, String(req.headers['content-type'] ?? ''), allow);
          return { status: 200, allow, body: ser.patch(patch, 'update') };
        }
        if (!patch) throw new HttpError({ status: 404, allow, body: { detail: 'Not found.' } });
        return { status: 200, allow, body: ser.patch(patch, 'get') };
      }
      case 'events': {
        if (!this.events) return { status: 404, html: HTML_404 };
        return list(this.filterEvents(q), (e) => ser.event(e));
      }
      case 'users': {
        if (!user) throw new HttpError({ status: 403, allow, body: { detail: 'Authentication credentials were not provided.' } });
        if (id === undefined) {
          const needle = (q.get('q') ?? '').toLowerCase();
          const users = [...this.data.users.values()].filter((u) => !needle || [u.username, u.first_name, u.last_name, u.email].some((f) => f.toLowerCase().includes(needle)));
          return list(users, (u) => ser.user(u));
        }
        if (!/^\d+$/.test(id)) return { status: 404, html: HTML_404 };
        const u = this.data.users.get(Number(id));
        if (!u) throw detail(404, 'Not found.');
        const body = ser.user(u);
        if (u.id === user.id && VERSIONS.indexOf(v) >= 2) body.settings = { send_email: false, items_per_page: 100, show_ids: false };
        return { status: 200, allow: 'GET, PUT, PATCH, HEAD, OPTIONS', body };
      }
      default:
        return { status: 404, html: HTML_404 };
    }
  }

  /**
   * The mbox views of patchwork/urls.py: a patch's (`?series=ID` or `*` adds
   * the patches before it), a series', a bundle's (its owner's token, or public).
   */
  private mboxRoute(req: IncomingMessage, url: URL): Reply | undefined {
    const path = url.pathname;
    const patch = /^\/project\/([^/]+)\/patch\/([^/]+)\/mbox\/?$/.exec(path);
    const series = /^\/series\/(\d+)\/mbox\/?$/.exec(path);
    const bundle = /^\/bundle\/([^/]+)\/([^/]+)\/mbox\/?$/.exec(path);
    if (!patch && !series && !bundle) return undefined;
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

  private paginate<T>(base: string, url: URL, items: T[], serialize: (item: T) => unknown): Reply {
    const q = url.searchParams;
    let perPage = Number(q.get('per_page') ?? '30');
    if (!Number.isInteger(perPage) || perPage <= 0) perPage = 30;
    const size = Math.min(perPage, 250);
    const pages = Math.max(1, Math.ceil(items.length / size));
    const pageParam = q.get('page') ?? '1';
    const page = /^\d+$/.test(pageParam) ? Number(pageParam) : NaN;
    if (!(page >= 1 && page <= pages)) throw new HttpError({ status: 404, allow: 'GET, HEAD, OPTIONS', body: { detail: 'Invalid page.' } });
    const params: [string, string][] = [...q.entries()].filter(([k]) => k !== 'page');
    const link = (n: number, rel: string): string => `<${base}${url.pathname}?${encodeQuery([...params, ['page', String(n)]])}>; rel="${rel}"`;
    const links = [];
    if (page < pages) links.push(link(page + 1, 'next'));
    if (page > 1) links.push(link(page - 1, 'prev'));
    links.push(link(1, 'first'), link(pages, 'last'));
    return { status: 200, allow: 'GET, HEAD, OPTIONS', headers: { Link: links.join(', ') }, body: items.slice((page - 1) * size, page * size).map(serialize) };
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
