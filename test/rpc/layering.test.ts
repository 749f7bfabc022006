import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { ROOT } from '../helpers.js';

// The protocol layer only translates: it reaches the state database, notmuch
// and Patchwork through the domain modules (ops/, git/, sync/), never
// directly. Read from the sources, so that a new import breaks this test.

const RPC = join(ROOT, 'server', 'rpc');
const FORBIDDEN = ['server/store/', 'server/notmuch/', 'server/patchwork/'];

/** Every module a file names: static imports and re-exports, type-only ones too, and dynamic import(). */
export function importsOf(source: string): string[] {
  const found = [...source.matchAll(/\bfrom\s+['"]([^'"]+)['"]/g), ...source.matchAll(/\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g), ...source.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm)];
  return found.map((m) => m[1]!);
}

describe('the protocol layer (server/rpc/)', () => {
  it('finds every kind of import', () => {
    const src = "import { a } from '../x.js';\nimport type { B } from \"../y.js\";\nexport { c } from '../z.js';\nconst m = await import('../w.js');\nimport '../side.js';\n";
    expect(importsOf(src)).to.have.members(['../x.js', '../y.js', '../z.js', '../w.js', '../side.js']);
  });

  it('imports no store/, notmuch/ or patchwork/ module', () => {
    const files = readdirSync(RPC).filter((f) => f.endsWith('.ts'));
    expect(files).to.include('server.ts');
    const bad: string[] = [];
    for (const file of files) {
      for (const spec of importsOf(readFileSync(join(RPC, file), 'utf8')).filter((s) => s.startsWith('.'))) {
        const target = relative(ROOT, resolve(RPC, spec));
        if (FORBIDDEN.some((dir) => target.startsWith(dir))) bad.push(`server/rpc/${file} imports ${target}`);
      }
    }
    expect(bad).to.deep.equal([]);
  });
});

describe('the adapters (server/patchwork/, server/notmuch/)', () => {
  it('know nothing of each other: what both need (message-ids) is in server/mail/message-id.ts', () => {
    const bad: string[] = [];
    for (const [dir, other] of [['server/patchwork', 'server/notmuch/'], ['server/notmuch', 'server/patchwork/']] as const) {
      for (const file of readdirSync(join(ROOT, dir)).filter((f) => f.endsWith('.ts'))) {
        for (const spec of importsOf(readFileSync(join(ROOT, dir, file), 'utf8')).filter((s) => s.startsWith('.'))) {
          const target = relative(ROOT, resolve(ROOT, dir, spec));
          if (target.startsWith(other)) bad.push(`${dir}/${file} imports ${target}`);
        }
      }
    }
    expect(bad).to.deep.equal([]);
  });
});
