import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, env, loadConfig } from '../src/index.js';

const schema = z.object({
  PORT: env.port(3000),
  DATABASE_URL: z.url(),
  API_SECRET: z.string().min(32),
  ENABLED: env.bool(false),
  SIZES: env.list('100x100,400x400'),
  MODE: z.enum(['a', 'b']).default('a'),
});

describe('loadConfig', () => {
  it('applies defaults and coerces types', () => {
    const config = loadConfig(schema, {
      DATABASE_URL: 'postgresql://localhost/x',
      API_SECRET: 'x'.repeat(32),
      ENABLED: 'true',
    });
    expect(config).toEqual({
      PORT: 3000,
      DATABASE_URL: 'postgresql://localhost/x',
      API_SECRET: 'x'.repeat(32),
      ENABLED: true,
      SIZES: ['100x100', '400x400'],
      MODE: 'a',
    });
  });

  it('names every missing or invalid variable', () => {
    let error: unknown;
    try {
      loadConfig(schema, { PORT: 'eighty', ENABLED: 'maybe' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const configError = error as ConfigError;
    expect(configError.variables.sort()).toEqual(['API_SECRET', 'DATABASE_URL', 'ENABLED', 'PORT']);
    expect(configError.message).toContain('DATABASE_URL: is required');
  });

  it('never prints the value of a bad variable', () => {
    const secret = 'too-short-but-very-secret-value';
    try {
      loadConfig(schema, { DATABASE_URL: 'not a url s3cr3t', API_SECRET: secret, MODE: 'secret-mode' });
      expect.unreachable('config should have been refused');
    } catch (e) {
      const text = String((e as Error).message);
      expect(text).toContain('API_SECRET');
      expect(text).toContain('MODE');
      expect(text).not.toContain(secret);
      expect(text).not.toContain('s3cr3t');
      expect(text).not.toContain('secret-mode');
    }
  });
});
