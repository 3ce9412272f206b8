// @ts-check
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '**/.turbo/**', 'bench/results/**', 'packages/dashboard/public/dashboard.js'] },
  js.configs.recommended,
  // Type-aware: every .ts file is linted with the program of its nearest tsconfig.json (each
  // package's tsconfig.json includes src and test; the root one covers test/ and vitest.config.ts;
  // bench/k6 has its own).
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: { ...globals.node },
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      // Part of recommendedTypeChecked; named here because they are the reason lint is type-aware:
      // an unhandled rejection or an async callback whose promise nobody awaits (uWS handlers,
      // event listeners, timers) fails lint.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      'no-console': 'error',
      eqeqeq: ['error', 'always'],
    },
  },
  {
    files: ['**/test/**', 'test/**', 'bench/**', 'scripts/**'],
    rules: { 'no-console': 'off', '@typescript-eslint/no-non-null-assertion': 'off' },
  },
  {
    // The dashboard's sources run in browsers (bundled into public/dashboard.js, which is built).
    files: ['packages/dashboard/src/**/*.ts'],
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    // Plain JavaScript (build and ops scripts, this file) is in no TypeScript program: the
    // type-aware rules are off for it, the syntactic ones stay on.
    files: ['**/*.{js,mjs,cjs}'],
    ...tseslint.configs.disableTypeChecked,
  },
);
