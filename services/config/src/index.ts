import { z } from 'zod';

/** Raised when the environment does not satisfy a service's schema. Lists names, never values. */
export class ConfigError extends Error {
  constructor(readonly problems: { variable: string; problem: string }[]) {
    super(
      `Invalid configuration:\n${problems.map((p) => `  - ${p.variable}: ${p.problem}`).join('\n')}`,
    );
    this.name = 'ConfigError';
  }

  get variables(): string[] {
    return this.problems.map((p) => p.variable);
  }
}

// zod's own messages can quote the received value (enums, literals); secrets must never reach a log,
// so each issue is described from its code alone.
function describe(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined ? 'is required' : `must be ${issue.expected}`;
    case 'too_small':
      return `is too short or too small (minimum ${String(issue.minimum)})`;
    case 'too_big':
      return `is too long or too large (maximum ${String(issue.maximum)})`;
    case 'invalid_format':
      return `must be a valid ${issue.format}`;
    case 'invalid_value':
      return `must be one of: ${issue.values.map(String).join(', ')}`;
    default:
      return issue.message.includes('"') ? 'is invalid' : issue.message;
  }
}

/** Parses the environment once with the service's zod schema; throws ConfigError naming bad variables. */
export function loadConfig<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.output<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => ({
    variable: issue.path.length ? issue.path.map(String).join('.') : '(environment)',
    problem: describe(issue),
  }));
  throw new ConfigError(problems);
}

/** Env-var field helpers: env values are strings, these coerce with clear rules. */
export const env = {
  port: (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback),
  int: (fallback: number, min = 0) => z.coerce.number().int().min(min).default(fallback),
  bool: (fallback: boolean) =>
    z
      .stringbool({ truthy: ['true', '1', 'yes', 'on'], falsy: ['false', '0', 'no', 'off', ''] })
      .default(fallback),
  /** Comma-separated list, trimmed, empties dropped. */
  list: (fallback: string) =>
    z
      .string()
      .default(fallback)
      .transform((s) =>
        s
          .split(',')
          .map((x) => x.trim())
          .filter(Boolean),
      ),
  url: () => z.url(),
  optionalString: () =>
    z
      .string()
      .optional()
      .transform((s) => (s === '' ? undefined : s)),
  logLevel: () => z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
};

/** Variables every service reads. */
export const commonEnv = {
  LOG_LEVEL: env.logLevel(),
  NODE_ENV: z.enum(['development', 'production', 'test']).default('production'),
  SHUTDOWN_TIMEOUT_MS: env.int(15000, 100),
};
