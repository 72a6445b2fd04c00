import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { IDME_ENV_VARIABLES, loadIdmeConfig } from '../../src/config.js';

const read = (file: string) => readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');
const plugin = JSON.parse(read('plugin.json')) as {
  name: string;
  port: number;
  tables: string[];
  envVars: { name: string; required: boolean; default: string | null }[];
};

const REQUIRED = {
  DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/x',
  AMQP_URL: 'amqp://guest:guest@127.0.0.1:5672',
  JWT_SECRET: 'x'.repeat(40),
  IDME_CLIENT_ID: 'client',
  IDME_CLIENT_SECRET: 'secret',
  IDME_REDIRECT_URI: 'https://api.example.test/idme/v1/auth/callback',
};

describe('plugin.json and .env.example', () => {
  it('plugin.json lists exactly the variables the service reads', () => {
    expect(plugin.name).toBe('idme');
    expect(plugin.port).toBe(3010);
    expect(plugin.envVars.map((v) => v.name).sort()).toEqual([...IDME_ENV_VARIABLES].sort());
    expect(plugin.tables).toEqual(expect.arrayContaining(['idme_verifications', 'idme_groups', 'idme_badges', 'idme_attributes']));
  });

  it('documents the real defaults: setting a variable to its documented default changes nothing', () => {
    const baseline = loadIdmeConfig(REQUIRED);
    for (const variable of plugin.envVars) {
      if (variable.default === null || variable.name === 'IDME_BADGES_FILE') continue;
      const withDefault = loadIdmeConfig({ ...REQUIRED, [variable.name]: variable.default });
      expect(withDefault, variable.name).toEqual(baseline);
    }
  });

  it('.env.example lists every variable and loads once the required values are filled in', () => {
    const example = read('.env.example');
    for (const name of IDME_ENV_VARIABLES) expect(example, name).toMatch(new RegExp(`^(# )?${name}=`, 'm'));
    const values = Object.fromEntries(
      example
        .split('\n')
        .map((line) => /^([A-Z_]+)=(.*)$/.exec(line))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => [m[1]!, m[2]!]),
    );
    const filled = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, v || (REQUIRED as Record<string, string>)[k] || '']));
    // JWT_SECRET (or JWT_JWKS_URL) is commented out there: one of the two must be chosen.
    expect(() => loadIdmeConfig({ ...filled, JWT_SECRET: REQUIRED.JWT_SECRET, IDME_ALLOWED_RETURN_URLS: 'https://app.example.test/' })).not.toThrow();
  });
});
