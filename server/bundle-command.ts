import { PwnmError } from './errors.js';
import { bundleAdd, bundleDelete, bundleMbox, bundleRemove, listMyBundles, type BundleChange } from './ops/bundles.js';
import type { Session } from './session.js';

// `pwnm-sync bundle list|add|remove|delete|mbox`: the command line of
// ops/bundles.ts. Printing goes through the CLI's own writers (cli.ts),
// which hide tokens.

export interface BundleArgs {
  args: string[];
  session: Session;
  project?: string;
  series: boolean;
  download: boolean;
  /** The CLI's print: JSON with --json, else the text. */
  print: (value: unknown, text: () => string) => void;
  /** Raw text to stdout (the mbox for git am). */
  raw: (text: string) => void;
}

const USAGE = 'bundle takes list [--project P], add NAME MESSAGE-ID... [--series], remove NAME MESSAGE-ID..., delete NAME, or mbox NAME [--download]';

const changed = (c: BundleChange, verb: string): string =>
  `${c.created ? 'created bundle' : 'bundle'} ${c.name} (${c.project}): ${verb} ${c.changed} patch${c.changed === 1 ? '' : 'es'}, ${c.patches} in all; tag ${c.tag}`;

export async function bundleCommand(a: BundleArgs): Promise<number> {
  const [sub, name, ...rest] = a.args;
  const project = a.project ? { project: a.project } : {};
  if (sub === 'list' && name === undefined) {
    const all = await listMyBundles(a.session, project);
    a.print({ bundles: all }, () => (all.length ? all.map((b) => `${b.name}\t${b.project}\t${b.count} patch${b.count === 1 ? '' : 'es'}\t${b.public ? 'public' : 'private'}\t${b.tag}`).join('\n') : 'no bundles'));
    return 0;
  }
  if (name === undefined) throw new PwnmError('USAGE', USAGE);
  if (sub === 'add' && rest.length) {
    const c = await bundleAdd(a.session, name, rest, { ...project, series: a.series });
    a.print(c, () => changed(c, 'added'));
    return 0;
  }
  if (sub === 'remove' && rest.length) {
    const c = await bundleRemove(a.session, name, rest, project);
    a.print(c, () => changed(c, 'removed'));
    return 0;
  }
  if (sub === 'delete' && rest.length === 0) {
    const c = await bundleDelete(a.session, name, project);
    a.print(c, () => `deleted bundle ${c.name} (${c.project}) on Patchwork; tag ${c.tag} removed`);
    return 0;
  }
  if (sub === 'mbox' && rest.length === 0) {
    const r = await bundleMbox(a.session, name, { ...project, download: a.download });
    if (r.mbox !== undefined) a.raw(r.mbox);
    else a.print(r, () => r.url);
    return 0;
  }
  throw new PwnmError('USAGE', USAGE);
}
