// One lint config for the whole monorepo (fast, syntax-level rules; tsc does the type checking).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '**/generated/**', 'prisma/.v6-schema/**', '**/*.d.ts', '.native/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-console': ['error', { allow: ['error', 'warn'] }],
      eqeqeq: ['error', 'smart'],
    },
  },
  {
    files: ['**/cli.ts', '**/cli/**/*.ts', 'bench/**/*.ts', 'infra/**/*.ts', 'tests/**/*.ts', '**/test/**/*.ts'],
    rules: { 'no-console': 'off' },
  },
);
