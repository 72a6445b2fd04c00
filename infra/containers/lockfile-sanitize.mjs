#!/usr/bin/env node
// Drops optional-dependency edges that have no entry in the lockfile, in place:
//   node infra/containers/lockfile-sanitize.mjs <package-lock.json>...
//
// Why: on machines behind a registry mirror that serves only linux packages, npm resolves
// platform-specific optional dependencies (e.g. turbo's @turbo/darwin-64) as unavailable and leaves
// them out of package-lock.json, but keeps the edge in the parent's `optionalDependencies`. `npm ci`
// then refuses the lockfile ("Missing: @turbo/darwin-64@ from lock file"). An optional dependency
// without a lock entry could never be installed from that lockfile anyway, so removing the dangling
// edge changes nothing that gets installed. On a complete lockfile this is a no-op.
import { readFileSync, writeFileSync } from 'node:fs';

for (const file of process.argv.slice(2)) {
  const lock = JSON.parse(readFileSync(file, 'utf8'));
  const packages = lock.packages ?? {};
  let dropped = 0;
  for (const [location, entry] of Object.entries(packages)) {
    if (!entry.optionalDependencies) continue;
    for (const name of Object.keys(entry.optionalDependencies)) {
      // npm resolves a dependency from the nearest node_modules up the tree
      const candidates = [];
      let base = location;
      for (;;) {
        candidates.push(base ? `${base}/node_modules/${name}` : `node_modules/${name}`);
        const cut = base.lastIndexOf('/node_modules/');
        if (cut >= 0) base = base.slice(0, cut);
        else if (base) base = '';
        else break;
      }
      if (!candidates.some((c) => c in packages)) {
        delete entry.optionalDependencies[name];
        dropped++;
      }
    }
    if (Object.keys(entry.optionalDependencies).length === 0) delete entry.optionalDependencies;
  }
  if (dropped) {
    writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
    console.error(`${file}: dropped ${dropped} optional dependency edge(s) without a lock entry`);
  }
}
