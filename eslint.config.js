// ESLint over server/ and test/ (`npm run lint`, part of `npm test`):
// typescript-eslint's recommended and type-checked rules, minus the few that
// fight this code base (each turned off below says why), plus the house rule
// that tsc cannot check: stdout belongs to JSON-RPC in `serve`.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const stdoutWrite = {
  selector: "CallExpression[callee.object.object.name='process'][callee.object.property.name='stdout'][callee.property.name='write']",
  message: 'stdout carries JSON-RPC in `serve`: print only from server/cli.ts; log to stderr or through the connection',
};

export default tseslint.config(
  { ignores: ['build/', 'dist/', 'node_modules/', 'contrib/', 'elisp/', 'eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    files: ['server/**/*.ts', 'test/**/*.ts'],
    languageOptions: {
      parserOptions: { project: './tsconfig.test.json', tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // The house rule: no stdout writes outside the CLI front end.
      'no-console': 'error',
      'no-restricted-syntax': ['error', stdoutWrite],
      // better-sqlite3 12 runs on Node 20 only, 13 on 22.14+ and 24: a direct
      // import loads the wrong one on the other Nodes (CI runs all three).
      '@typescript-eslint/no-restricted-imports': ['error', { paths: [
        { name: 'better-sqlite3', allowTypeImports: true, message: 'open databases through server/store/sqlite.ts, which picks the major this Node runs' },
      ] }],
      // The code writes `m[1]!` and `list[0]!` where an index may miss, as if
      // noUncheckedIndexedAccess were on; stripping ~350 of them would remove
      // that signal for the reader and for a later switch to that option.
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      // A failure caught earlier (`unknown`, as TypeScript types catch
      // clauses) and rethrown later is still the original error object.
      '@typescript-eslint/only-throw-error': ['error', { allowThrowingUnknown: true }],
    },
  },
  {
    // The Patchwork and notmuch adapters know nothing of each other; what
    // both sides need (message-ids) is in server/mail/message-id.ts.
    files: ['server/patchwork/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['**/notmuch/*'], message: 'the Patchwork adapter does not know notmuch: use server/mail/message-id.ts' }] }] },
  },
  {
    files: ['server/notmuch/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['**/patchwork/*'], message: 'the notmuch adapter does not know Patchwork: use server/mail/message-id.ts' }] }] },
  },
  {
    // One job per function: a function that outgrows a screen is split.
    files: ['server/**/*.ts'],
    rules: { 'max-lines-per-function': ['error', { max: 60 }] },
  },
  {
    // The CLI front end prints its results; the sandbox demo is a CLI command
    // of its own; tests print what they measure (bench) or debug output.
    files: ['server/cli.ts', 'server/sandbox/demo.ts', 'test/**/*.ts'],
    rules: { 'no-console': 'off', 'no-restricted-syntax': 'off' },
  },
);
