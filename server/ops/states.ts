import type { Session } from '../session.js';
import { stateName } from '../states.js';

// The configured instances and projects with their known states and tag
// names: what a client needs to show and set states.

export interface ProjectStates {
  instance: string;
  project: string;
  tag: string;
  repo?: string;
  states: { slug: string; name: string; tag: string }[];
  /** The other tag families' names: clients use these, never build tag names themselves. */
  tags: { archived: string; delegated: string; delegatePrefix: string; checks: Record<CheckState, string> };
}

const CHECK_STATES = ['pending', 'success', 'warning', 'fail'] as const;
type CheckState = (typeof CHECK_STATES)[number];

export interface SetupDescription {
  tagPrefix: string;
  configFile: string | null;
  instances: { name: string; url: string; readOnly: boolean; projects: ProjectStates[] }[];
}

/** Every configured project, or only `only`. */
export function describeSetup(s: Session, only?: string): SetupDescription {
  return {
    tagPrefix: s.config.tagPrefix,
    configFile: s.config.file ?? null,
    instances: s.config.instances.map((inst) => ({
      name: inst.name,
      url: inst.url,
      readOnly: !s.hasToken(inst),
      projects: inst.projects.filter((p) => !only || p.linkName === only).map((p) => ({
        instance: inst.name,
        project: p.linkName,
        tag: s.scheme.project(p.linkName),
        ...(p.repo ? { repo: p.repo } : {}),
        states: s.store.knownStates(inst.name, p.linkName).map((slug) => ({ slug, name: stateName(slug), tag: s.scheme.state(p.linkName, slug) })),
        tags: {
          archived: s.scheme.archived(p.linkName),
          delegated: s.scheme.delegated(p.linkName),
          delegatePrefix: `${s.scheme.project(p.linkName)}-delegate-`,
          checks: Object.fromEntries(CHECK_STATES.map((c) => [c, s.scheme.check(p.linkName, c)])) as Record<CheckState, string>,
        },
      })),
    })),
  };
}

/** The projects (all, or `only`) with their states. */
export function projectStates(s: Session, only?: string): ProjectStates[] {
  return describeSetup(s, only).instances.flatMap((i) => i.projects);
}
