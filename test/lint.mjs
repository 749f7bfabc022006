// House rules that tsc does not check. stdout belongs to JSON-RPC in
// `serve`, so server code other than the CLI front end must not print to it.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const problems = [];
const walk = (dir) => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
for (const file of walk('server').filter((f) => f.endsWith('.ts'))) {
  readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
    if (/console\.log|process\.stdout\.write/.test(line) && !/^server\/(cli|sandbox\/demo)\.ts$/.test(file)) problems.push(`${file}:${i + 1}: writes to stdout`);
  });
}
if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log(`lint: ${walk('server').length} files checked, no stdout writes outside the CLI`);
