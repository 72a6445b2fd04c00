#!/usr/bin/env node
// Dockerfile helper, run in the builder stage after `turbo run build` (cwd = the pruned monorepo):
//   node assemble-runtime.mjs <package name> <output dir>
// 1. narrows the root package.json's workspaces to the package's PRODUCTION closure (the package
//    and the workspaces it lists under dependencies, recursively) — `turbo prune` also keeps
//    workspaces that are only devDependencies (test-support with vitest, s3rver, ...), and `npm ci
//    --omit=dev` installs every listed workspace's dependencies;
// 2. `npm prune --omit=dev`: removes dev dependencies and everything only those workspaces needed;
// 3. copies what runs into <output dir>: root package.json, node_modules, and each closure workspace
//    without its sources and tests when it was built (dist/), or whole but its tests when it ships
//    no build (e.g. prisma/: schema, migrations, config and the migration runner);
// 4. drops the Prisma client's query compilers for the databases this project does not use (the
//    datasource is postgresql; the generated client imports only query_compiler_*.postgresql.*):
//    about 60 MB per image.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const [packageName, outDir] = process.argv.slice(2);
if (!packageName || !outDir) {
  console.error('usage: assemble-runtime.mjs <package name> <output dir>');
  process.exit(2);
}
const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'));
const root = readJson('package.json');
const dirByName = new Map(
  root.workspaces.map((dir) => [readJson(path.join(dir, 'package.json')).name, dir]),
);
if (!dirByName.has(packageName)) {
  console.error(`${packageName} is not a workspace of this (pruned) monorepo`);
  process.exit(1);
}

const closure = new Set();
const visit = (name) => {
  if (closure.has(name) || !dirByName.has(name)) return;
  closure.add(name);
  const manifest = readJson(path.join(dirByName.get(name), 'package.json'));
  for (const field of ['dependencies', 'optionalDependencies', 'peerDependencies']) {
    for (const dep of Object.keys(manifest[field] ?? {})) visit(dep);
  }
};
visit(packageName);
const dirs = [...closure].map((name) => dirByName.get(name));

root.workspaces = dirs;
delete root.devDependencies;
writeFileSync('package.json', `${JSON.stringify(root, null, 2)}\n`);
execFileSync('npm', ['prune', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], { stdio: 'inherit' });

rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
cpSync('package.json', path.join(outDir, 'package.json'));
cpSync('node_modules', path.join(outDir, 'node_modules'), { recursive: true, verbatimSymlinks: true });

const SOURCE_ONLY = new Set(['src', 'test', 'tests', '.turbo', 'coverage']);
for (const dir of dirs) {
  const built = existsSync(path.join(dir, 'dist'));
  const skip = (entry) =>
    entry === 'test' || entry === 'tests' || entry === '.turbo' ||
    (built && (SOURCE_ONLY.has(entry) || /^tsconfig.*\.json$/.test(entry) || entry.endsWith('.tsbuildinfo')));
  mkdirSync(path.join(outDir, dir), { recursive: true });
  for (const entry of readdirSync(dir)) {
    if (skip(entry)) continue;
    cpSync(path.join(dir, entry), path.join(outDir, dir, entry), { recursive: true, verbatimSymlinks: true });
  }
}
const prismaRuntime = path.join(outDir, 'node_modules/@prisma/client/runtime');
if (existsSync(prismaRuntime)) {
  for (const file of readdirSync(prismaRuntime)) {
    if (/^query_(compiler|engine)_.*\.(mysql|sqlite|sqlserver|cockroachdb)\./.test(file)) rmSync(path.join(prismaRuntime, file));
  }
}
// npm prune leaves emptied scope folders behind
for (const scope of readdirSync(path.join(outDir, 'node_modules')).filter((e) => e.startsWith('@'))) {
  const scopeDir = path.join(outDir, 'node_modules', scope);
  if (readdirSync(scopeDir).length === 0) rmSync(scopeDir, { recursive: true });
}
console.error(`runtime for ${packageName}: workspaces ${dirs.join(', ')}`);
