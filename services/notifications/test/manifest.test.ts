import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { configSchema, loadNotificationsConfig } from '../src/config.js';

const dir = path.resolve(import.meta.dirname, '..');
const manifest = JSON.parse(readFileSync(path.join(dir, 'plugin.json'), 'utf8')) as {
  name: string;
  port: number;
  envVars: { name: string; required: boolean; default: string | null; description: string }[];
  tables: string[];
};
const envExample = readFileSync(path.join(dir, '.env.example'), 'utf8');

describe('plugin.json and .env.example', () => {
  const variables = Object.keys(configSchema.shape).sort();

  it('list every variable the service reads, and nothing else', () => {
    expect(manifest.envVars.map((v) => v.name).sort()).toEqual(variables);
    const inExample = [...envExample.matchAll(/^(?:# )?([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]).sort();
    expect(inExample).toEqual(variables);
  });

  it('state the defaults the service really uses', () => {
    const parsed = loadNotificationsConfig({ DATABASE_URL: 'postgresql://x@localhost/db' }).env as Record<string, unknown>;
    for (const v of manifest.envVars) {
      if (v.default === null || v.default.startsWith('<')) continue;
      const actual = parsed[v.name];
      const text = Array.isArray(actual) ? actual.join(',') : String(actual);
      expect(text, v.name).toBe(v.default);
      expect(envExample, v.name).toContain(`${v.name}=${v.default}`);
    }
    expect(manifest.envVars.filter((v) => v.required).map((v) => v.name)).toEqual(['DATABASE_URL']);
  });

  it('name the tables of the Prisma schema', () => {
    const schema = readFileSync(path.resolve(dir, '../../prisma/schema/notifications.prisma'), 'utf8');
    const tables = [...schema.matchAll(/@@map\("([a-z_]+)"\)/g)].map((m) => m[1]).sort();
    expect([...manifest.tables].sort()).toEqual(tables);
    expect(manifest).toMatchObject({ name: 'notifications', port: 3102 });
  });
});
