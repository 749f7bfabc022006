import type { SandboxData, SbCover, SbPatch } from './model.js';

// The sandbox's mbox files, shaped as Patchwork 3.1.3 writes them
// (patchwork/views/utils.py, read from the release tarball): a `From
// patchwork CTIME` line; Content-Type, MIME-Version, Content-Transfer-Encoding
// and the X-Patchwork-* headers first; then the stored mail headers (their own
// Content-Type and Content-Transfer-Encoding dropped, so MIME-Version comes
// twice, as on the real server); then the commit message with every trailer
// line of the replies appended before the `---` postscript, and the diff.
// Messages of a series or bundle are joined with one newline.

/** Comment.response_re: the reply lines Patchwork carries into the mbox. */
const RESPONSE_RE = /^(Tested|Reviewed|Acked|Signed-off|Nacked|Reported)-by:.*$/gim;
/** The postscript marker: `--`, `---` or either with one trailing space. */
const POSTSCRIPT_RE = /^-{2,3} ?$/m;

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number): string => String(n).padStart(2, '0');
const utc = (date: string): Date => new Date(`${date.slice(0, 19)}Z`);

/** Python's datetime.ctime(): `Sun Nov  1 00:00:00 2026`. */
export function ctime(date: string): string {
  const d = utc(date);
  return `${DAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} ${d.getUTCFullYear()}`;
}

/** email.utils.formatdate(ts): `Sun, 01 Nov 2026 00:00:00 -0000`. */
function formatdate(date: string): string {
  const d = utc(date);
  return `${DAYS[d.getUTCDay()]}, ${pad(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} -0000`;
}

/** email.utils.formataddr with the utf-8 charset: the shorter of RFC 2047 b and q for a non-ASCII name. */
export function formataddr(name: string, email: string): string {
  if (!name) return email;
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(name)) return /[()<>@,:;.\\"[\]]/.test(name) ? `"${name.replace(/[\\"]/g, '\\$&')}" <${email}>` : `${name} <${email}>`;
  const bytes = Buffer.from(name, 'utf8');
  const b = bytes.toString('base64');
  const q = [...bytes].map((c) => (c === 0x20 ? '_' : /[A-Za-z0-9!*+\-/]/.test(String.fromCharCode(c)) ? String.fromCharCode(c) : `=${c.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
  return b.length < q.length ? `=?utf-8?b?${b}?= <${email}>` : `=?utf-8?q?${q}?= <${email}>`;
}

/** The compat32 generator folds a header over 78 columns at its spaces. */
function fold(name: string, value: string): string {
  const words = value.split(/(?= )/);
  const lines: string[] = [];
  let line = `${name}:`;
  let first = true;
  for (const word of words) {
    const piece = first ? ` ${word.replace(/^ /, '')}` : word;
    if (!first && line.length + piece.length > 78) {
      lines.push(line);
      line = piece;
    } else line += piece;
    first = false;
  }
  lines.push(line);
  return lines.join('\n');
}

const addressOf = (from: string): string => (/<([^>]*)>/.exec(from)?.[1] ?? from).trim();

/** _submission_to_mbox: one patch or cover letter as an mbox message. */
export function submissionToMbox(data: SandboxData, submission: SbPatch | SbCover, kind: 'patch' | 'cover'): string {
  const patch = kind === 'patch' ? (submission as SbPatch) : undefined;
  let body = submission.content ? `${submission.content.trim()}\n` : '';
  let postscript = '';
  const split = POSTSCRIPT_RE.exec(body);
  if (split) {
    postscript = body.slice(split.index + split[0].length).trimEnd();
    body = `${body.slice(0, split.index).trim()}\n`;
  }
  const replies = data.comments.filter((c) => (patch ? c.patch === submission.id : c.cover === submission.id)).sort((a, b) => a.id - b.id);
  for (const reply of replies) for (const m of reply.content.matchAll(RESPONSE_RE)) body += `${m[0]}\n`;
  if (postscript) body += `---${postscript}\n`;
  if (patch?.diff) body += `\n${patch.diff}`;

  const submitter = data.people.get(submission.submitter)!;
  const project = data.projects.get(submission.project)!;
  const headers: [string, string][] = [
    ['Content-Type', 'text/plain; charset="utf-8"'],
    ['MIME-Version', '1.0'],
    // eslint-disable-next-line no-control-regex
    ['Content-Transfer-Encoding', /^[\x00-\x7f]*$/.test(body) ? '7bit' : '8bit'],
    ['X-Patchwork-Submitter', formataddr(submitter.name, submitter.email)],
    ['X-Patchwork-Id', String(submission.id)],
  ];
  if (patch && patch.delegate !== null) headers.push(['X-Patchwork-Delegate', data.users.get(patch.delegate)!.email]);
  for (const [key, stored] of Object.entries(submission.headers)) {
    if (key === 'Content-Type' || key === 'Content-Transfer-Encoding') continue;
    let value = stored;
    // DMARC munging: the list's address as From gets the submitter's name back.
    if (key === 'From' && addressOf(value) === project.list_email) {
      headers.push(['X-Patchwork-Original-From', value]);
      value = formataddr(submitter.name, submitter.email);
    }
    headers.push([key, value]);
  }
  if (!headers.some(([k]) => k === 'Date')) headers.push(['Date', formatdate(submission.date)]);
  return `From patchwork ${ctime(submission.date)}\n${headers.map(([k, v]) => fold(k, v)).join('\n')}\n\n${body}`;
}

export const patchToMbox = (data: SandboxData, patch: SbPatch): string => submissionToMbox(data, patch, 'patch');

/** series_patch_to_mbox: the patch with the patches before it in its series (`?series=ID` or `*`). */
export function seriesPatchToMbox(data: SandboxData, patch: SbPatch, seriesParam: string): string | { notFound: string } {
  if (seriesParam === '*') {
    if (patch.series === null) return { notFound: 'Patch does not have an associated series. This is because the patch was processed with an older version of Patchwork. It is not possible to provide dependencies for this patch.' };
  } else {
    if (!/^\s*[-+]?\d+\s*$/.test(seriesParam)) return { notFound: `Expected integer series value or *. Received: '${seriesParam}'` };
    if (patch.series !== Number(seriesParam)) return { notFound: `Patch does not belong to series ${Number(seriesParam)}` };
  }
  const all = data.seriesPatches(patch.series!);
  const before = all.slice(0, all.findIndex((p) => p.id === patch.id));
  return [...before, patch].map((p) => patchToMbox(data, p)).join('\n');
}

/** series_to_mbox: every patch of the series, in order; the cover letter is not included. */
export function seriesToMbox(data: SandboxData, seriesId: number): string {
  return data.seriesPatches(seriesId).map((p) => patchToMbox(data, p)).join('\n');
}

/** bundle_to_mbox: the bundle's patches in the bundle's order. */
export function bundleToMbox(data: SandboxData, patchIds: readonly number[]): string {
  return patchIds.map((id) => patchToMbox(data, data.patches.get(id)!)).join('\n');
}

/** Patch.filename: the name with runs of anything but `-_A-Za-z0-9.` made `-`. */
export function filename(name: string): string {
  return name.replace(/[^-_A-Za-z0-9.]+/g, '-').replace(/^-+|-+$/g, '');
}
