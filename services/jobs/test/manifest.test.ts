import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { jobsEnvSchema } from '../src/config.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const plugin = JSON.parse(readFileSync(path.join(root, 'plugin.json'), 'utf8')) as {
  envVars: { name: string; required: boolean; default: string | null }[];
  tables: string[];
  port: number;
};
const example = readFileSync(path.join(root, '.env.example'), 'utf8');
const shape = (jobsEnvSchema as unknown as { shape: Record<string, z.ZodType> }).shape;

describe('plugin.json and .env.example', () => {
  it('list exactly the variables the config reads', () => {
    const names = Object.keys(shape).sort();
    expect(plugin.envVars.map((v) => v.name).sort()).toEqual(names);
    const inExample = [...example.matchAll(/^#? ?([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]!);
    expect([...new Set(inExample)].sort()).toEqual(names);
  });

  it('state the defaults the config applies', () => {
    for (const variable of plugin.envVars.filter((v) => v.default !== null)) {
      const parsed: unknown = shape[variable.name]!.parse(undefined);
      const text = Array.isArray(parsed) ? parsed.join(',') : String(parsed);
      expect(text, variable.name).toBe(variable.default);
      expect(example, variable.name).toContain(`\n${variable.name}=${variable.default}\n`);
    }
    expect(plugin.port).toBe(shape.JOBS_PORT!.parse(undefined));
    expect(plugin.tables).toEqual(['jobs', 'job_results', 'job_failures', 'job_schedules', 'job_types']);
  });
});
