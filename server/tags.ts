import { createHash } from 'node:crypto';

// Every tag name pwnm-sync writes is built here. The scheme is the original
// tool's: `patchwork`, `{prefix}-{project}`, `{prefix}-{project}-{state}`.
// Server-supplied words (project link_names, state slugs) pass through
// `tagWord`, so whatever the server says, the tag is a plain word.

export const ALL_PATCHES_TAG = 'patchwork';

/** Tag suffixes under a project that are not states (used by later families). */
const RESERVED_SUFFIXES = [/^check-/, /^archived$/, /^delegated$/, /^delegate-/, /^bundle$/, /^bundle-/, /^(thanked|acked|reviewed|tested|replied)$/];

/** Tags read from the mail itself (server/mail/), never from Patchwork. */
export type MailTag = 'thanked' | 'acked' | 'reviewed' | 'tested' | 'replied';

const MAX_WORD = 64;

/**
 * A safe tag word for a server-supplied string: letters, digits, `.`, `_`, `+`
 * and `-` stay; anything else (spaces, quotes, `%`, `*`, non-ASCII, control
 * characters) becomes `_`; runs of `-` collapse so a word never holds `--`.
 * Words longer than 64 characters are cut and get 8 hex digits of their SHA-1,
 * so that two long slugs stay apart. Ordinary slugs come out unchanged.
 */
export function tagWord(value: string): string {
  let word = value.replace(/[^A-Za-z0-9._+-]/g, '_').replace(/-{2,}/g, '-');
  if (word === '' || word.startsWith('-')) word = `_${word}`;
  if (word.length > MAX_WORD) {
    const digest = createHash('sha1').update(value).digest('hex').slice(0, 8);
    word = `${word.slice(0, MAX_WORD - 9)}_${digest}`;
  }
  return word;
}

/** Patchwork's own normalisation of a state name (`Changes Requested` is `changes-requested`), as Django's slugify. */
export function slugify(value: string): string {
  return value.toLowerCase().trim().replace(/[^\w\s-]/g, '').replace(/[-\s]+/g, '-');
}

export class TagScheme {
  readonly prefix: string;
  private readonly projectTags: string[];

  constructor(prefix: string, projects: readonly string[]) {
    this.prefix = prefix;
    this.projectTags = projects.map((p) => this.project(p));
  }

  project(project: string): string {
    return `${this.prefix}-${tagWord(project)}`;
  }

  state(project: string, state: string): string {
    return `${this.project(project)}-${tagWord(state)}`;
  }

  check(project: string, check: string): string {
    return `${this.project(project)}-check-${tagWord(check)}`;
  }

  archived(project: string): string {
    return `${this.project(project)}-archived`;
  }

  delegated(project: string): string {
    return `${this.project(project)}-delegated`;
  }

  delegate(project: string, username: string): string {
    return `${this.project(project)}-delegate-${tagWord(username)}`;
  }

  /** `thanked` (a thanks draft was written), review trailers, my reply: computed from the mail. */
  mail(project: string, what: MailTag): string {
    return `${this.project(project)}-${what}`;
  }

  /** The family tag of every patch mail in one of the user's bundles (sync/bundles.ts). */
  bundleFamily(project: string): string {
    return `${this.project(project)}-bundle`;
  }

  /** A bundle's tag: its name made a tag word by the same rule as states (tagWord). */
  bundle(project: string, name: string): string {
    return `${this.bundleFamily(project)}-${tagWord(name)}`;
  }

  /**
   * The bundle name a tag of `project` stands for, or undefined when it is
   * no bundle tag of this project (a longer project's, pw-linux-cifs-... for
   * linux, is not). The name is the tag's rest as written.
   */
  bundleName(project: string, tag: string): string | undefined {
    const own = `${this.bundleFamily(project)}-`;
    if (!tag.startsWith(own) || tag.length === own.length) return undefined;
    for (const other of this.projectTags) {
      if (other.length > this.project(project).length && tag.startsWith(`${other}-`)) return undefined;
    }
    return tag.slice(own.length);
  }

  /** Tags of the families that follow Patchwork one way (checks, delegation). */
  isDerived(project: string, tag: string): boolean {
    const own = `${this.project(project)}-`;
    if (!tag.startsWith(own)) return false;
    const rest = tag.slice(own.length);
    return /^check-/.test(rest) || rest === 'delegated' || /^delegate-/.test(rest);
  }

  /** The tags a message in `project` with `state` must carry. */
  forState(project: string, state: string): string[] {
    return [ALL_PATCHES_TAG, this.project(project), this.state(project, state)];
  }

  /**
   * The state-tag suffix of `tag` for `project`, or undefined when the tag is
   * not one of its state tags. A tag of another configured project whose name
   * extends this one (pw-linux-cifs-new for project linux) is not ours.
   */
  stateSuffix(project: string, tag: string): string | undefined {
    const own = `${this.project(project)}-`;
    if (!tag.startsWith(own)) return undefined;
    for (const other of this.projectTags) {
      if (other.length > own.length - 1 && (tag === other || tag.startsWith(`${other}-`))) return undefined;
    }
    const suffix = tag.slice(own.length);
    if (suffix === '' || RESERVED_SUFFIXES.some((re) => re.test(suffix))) return undefined;
    return suffix;
  }
}
