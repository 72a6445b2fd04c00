// compose.yaml and compose.scale.yaml: valid against the current compose-spec JSON schema (the one
// dclint ships), alone and merged as Compose merges them, and following the project's rules. Runs in
// the normal suite; it needs no container engine.
import { readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  isObject,
  loadCompose,
  mergeCompose,
  referencedVariables,
  repoRoot,
  servicesOf,
  type Json,
  type JsonObject,
} from '../../infra/containers/compose-model.js';

const require = createRequire(import.meta.url);

function loadComposeSchema(): JsonObject {
  const schemaFile = path.join(path.dirname(require.resolve('dclint/package.json')), 'schemas/compose.schema.json');
  const schema = JSON.parse(readFileSync(schemaFile, 'utf8')) as JsonObject;
  delete schema.$schema; // draft-07 meta-schema URL that ajv 8 would try to resolve
  return schema;
}

const describeErrors = (errors: ErrorObject[] | null | undefined) =>
  (errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`).join('\n');

const base = loadCompose('compose.yaml');
const scale = loadCompose('compose.scale.yaml');
const offline = loadCompose('infra/compose-override.offline.yaml');
const merged = mergeCompose(base, scale);
const dockerfile = readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8');
const dockerfileStages = new Set([...dockerfile.matchAll(/^FROM\s+\S+\s+AS\s+(\S+)/gim)].map((m) => m[1]!));

const INFRA = ['postgres', 'redis', 'rabbitmq', 'minio', 'clamav', 'mailpit'];
const PINNED_TAG = /^[^:@\s]+(:\d[\w.-]*|:v\d[\w.-]*|:RELEASE\.[\w.-]+)$/;

function healthcheckPort(service: JsonObject): string | undefined {
  const test = (service.healthcheck as JsonObject | undefined)?.test;
  if (!Array.isArray(test)) return undefined;
  const index = test.indexOf('/usr/local/lib/nself/healthcheck.mjs');
  return index >= 0 ? String(test[index + 1]) : undefined;
}

describe('compose files against the compose-spec JSON schema (dclint)', () => {
  let validate: ReturnType<Ajv['compile']>;
  beforeAll(() => {
    validate = new Ajv({ strict: false, allErrors: true }).compile(loadComposeSchema());
  });

  it('the schema is the current compose spec (knows `models`, `develop`, `include`)', () => {
    const schema = loadComposeSchema();
    expect(Object.keys(schema.properties as JsonObject)).toEqual(expect.arrayContaining(['models', 'include', 'services']));
    // and it does reject what is not Compose
    expect(validate({ services: { x: { image: 'a:1', restart_policy: 'always' } } })).toBe(false);
    expect(validate({ services: { x: { image: 'a:1', depends_on: { y: { condition: 'service_ready' } } } } })).toBe(false);
  });

  it.each([
    ['compose.yaml', base],
    ['compose.scale.yaml', scale],
    ['compose.yaml + compose.scale.yaml (merged)', merged],
    ['infra/compose-override.offline.yaml', offline],
    ['compose.yaml + compose.scale.yaml + the offline override (merged)', mergeCompose(base, scale, offline)],
  ])('%s is valid', (_name, doc) => {
    const ok = validate(doc);
    expect(describeErrors(validate.errors), 'schema errors').toBe('');
    expect(ok).toBe(true);
  });
});

describe.each([
  ['compose.yaml', base],
  ['compose.yaml + compose.scale.yaml', merged],
  ['compose.yaml + the offline override', mergeCompose(base, offline)],
])('project rules: %s', (_name, doc) => {
  const services = servicesOf(doc);
  const entries = Object.entries(services);

  it('defines the whole stack', () => {
    expect(Object.keys(services)).toEqual(
      expect.arrayContaining([
        ...INFRA, 'migrate', 'gateway', 'realtime', 'notifications', 'notifications-worker',
        'file-processing', 'file-processing-worker', 'jobs', 'jobs-worker', 'idme',
      ]),
    );
  });

  it('no container_name (it would block replicas and --scale)', () => {
    expect(entries.filter(([, s]) => 'container_name' in s).map(([n]) => n)).toEqual([]);
  });

  it('every service has a healthcheck; only the one-shot migrate disables it', () => {
    for (const [name, service] of entries) {
      const healthcheck = service.healthcheck as JsonObject | undefined;
      expect(healthcheck, `${name} has no healthcheck`).toBeDefined();
      if (healthcheck?.disable === true) {
        expect(name).toBe('migrate');
        expect(service.restart).toBe('no');
        continue;
      }
      const test = healthcheck!.test as Json[];
      expect(Array.isArray(test) && ['CMD', 'CMD-SHELL'].includes(String(test[0])), `${name}: test`).toBe(true);
      expect(JSON.stringify(test), `${name}: no curl/wget in healthchecks`).not.toMatch(/\b(curl|wget)\b/);
    }
  });

  it('every depends_on is a map with a condition the dependency can satisfy', () => {
    for (const [name, service] of entries) {
      if (service.depends_on === undefined) continue;
      expect(isObject(service.depends_on), `${name}: depends_on must be a map with conditions`).toBe(true);
      for (const [dependency, spec] of Object.entries(service.depends_on as JsonObject)) {
        const target = services[dependency];
        expect(target, `${name} depends on unknown ${dependency}`).toBeDefined();
        const condition = (spec as JsonObject).condition;
        if (dependency === 'migrate') {
          expect(condition, `${name} → migrate`).toBe('service_completed_successfully');
        } else {
          expect(condition, `${name} → ${dependency}`).toBe('service_healthy');
          expect((target!.healthcheck as JsonObject).test, `${dependency} must have a healthcheck test`).toBeDefined();
        }
      }
    }
  });

  it('services that use the database wait for the migrations', () => {
    for (const [name, service] of entries) {
      const environment = (service.environment ?? {}) as JsonObject;
      if (name === 'migrate' || name === 'gateway' || !('DATABASE_URL' in environment)) continue;
      expect(Object.keys(service.depends_on as JsonObject), name).toContain('migrate');
    }
  });

  it('pinned image tags, never latest', () => {
    for (const [name, service] of entries) {
      expect(typeof service.image, `${name}: image`).toBe('string');
      expect(String(service.image), `${name}: pinned tag`).toMatch(PINNED_TAG);
      expect(String(service.image)).not.toMatch(/:latest$/);
    }
    const nodeBase = /^ARG NODE_IMAGE=(\S+)/m.exec(dockerfile)?.[1];
    expect(nodeBase).toMatch(PINNED_TAG);
  });

  it('restart policies and the shared log options everywhere', () => {
    for (const [name, service] of entries) {
      expect(service.restart, name).toBe(name === 'migrate' ? 'no' : 'unless-stopped');
      expect(service.logging, name).toEqual({ driver: 'json-file', options: { 'max-size': '10m', 'max-file': '3' } });
    }
  });

  it('named volumes only (no bind mounts), all declared', () => {
    const declared = Object.keys((doc.volumes ?? {}) as JsonObject);
    for (const [name, service] of entries) {
      for (const volume of (service.volumes ?? []) as Json[]) {
        const source = typeof volume === 'string' ? volume.split(':')[0]! : String((volume as JsonObject).source);
        expect(declared, `${name}: ${source}`).toContain(source);
      }
    }
  });

  it('backends only on the internal network; published: the gateway, and on loopback the mail UI and S3', () => {
    expect((doc.networks as JsonObject).backend).toEqual({ internal: true });
    for (const name of ['postgres', 'redis', 'rabbitmq', 'clamav']) {
      expect(services[name]!.networks, name).toEqual(['backend']);
      expect(services[name]!.ports, name).toBeUndefined();
    }
    const publishing = entries.filter(([, s]) => s.ports !== undefined).map(([n]) => n);
    expect(publishing.sort()).toEqual(['gateway', 'mailpit', 'minio']);
    expect(services.gateway!.ports).toEqual(['${NSELF_GATEWAY_PORT:-8080}:8080']);
    expect(services.mailpit!.ports).toEqual(['127.0.0.1:${NSELF_MAILPIT_PORT:-8025}:8025']);
    expect(services.minio!.ports).toEqual(['127.0.0.1:${NSELF_MINIO_PORT:-9000}:9000']);
  });

  it('project images: a Dockerfile target and the matching workspace, init, healthcheck on the right port', () => {
    for (const [name, service] of entries) {
      if (!service.build) continue;
      const build = service.build as JsonObject;
      const target = String(build.target);
      const pkg = String((build.args as JsonObject).PACKAGE);
      expect(dockerfileStages, `${name}: Dockerfile stage ${target}`).toContain(target);
      expect(String(service.image)).toBe(`nself/${target}:1.0.0`);
      const dir = target === 'migrate' ? 'prisma' : target === 'gateway' ? 'gateway' : `services/${target}`;
      const manifest = path.join(repoRoot, dir, 'package.json');
      if (existsSync(manifest)) {
        expect(JSON.parse(readFileSync(manifest, 'utf8')).name, `${name}: PACKAGE`).toBe(pkg);
      } else {
        expect(pkg).toBe(`@nself/${target}`); // the workspace has not landed yet
      }
      expect(service.init, `${name}: init`).toBe(true);
      if (name === 'migrate') continue;
      const environment = service.environment as JsonObject;
      const isWorker = name.endsWith('-worker');
      expect(service.command, name).toEqual(isWorker ? ['node', 'dist/worker.js'] : undefined);
      const portVariable = Object.keys(environment).find((key) =>
        isWorker ? key.endsWith('_WORKER_PORT') : /^[A-Z]+_PORT$/.test(key) && !key.includes('SMTP'),
      );
      expect(portVariable, `${name}: port variable`).toBeDefined();
      expect(healthcheckPort(service), `${name}: healthcheck port = ${portVariable}`).toBe(String(environment[portVariable!]));
    }
  });

  it('every referenced variable is documented in infra/containers/env.example', () => {
    const documented = readFileSync(path.join(repoRoot, 'infra/containers/env.example'), 'utf8');
    const names = new Set([...documented.matchAll(/^#?\s*([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]));
    const files = ['compose.yaml', 'compose.scale.yaml', 'infra/compose-override.offline.yaml'];
    const missing = files.flatMap((file) => [...referencedVariables(file)]).filter(
      (name) => !names.has(name),
    );
    expect(missing).toEqual([]);
  });
});

describe('every variable compose passes is one the process reads', () => {
  // A misspelt or invented variable is silently ignored by the service: compare with each
  // workspace's .env.example (which its own tests keep in step with its config schema).
  const envExample = (dir: string) => {
    const file = path.join(repoRoot, dir, '.env.example');
    if (!existsSync(file)) return undefined;
    return new Set([...readFileSync(file, 'utf8').matchAll(/^#?\s*([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]!));
  };
  const services = servicesOf(mergeCompose(base, scale, offline));
  const workspaceOf = (name: string, service: JsonObject) => {
    const target = (service.build as JsonObject | undefined)?.target;
    if (!target || target === 'migrate') return undefined;
    return target === 'gateway' ? 'gateway' : `services/${String(target)}`;
  };
  it.each(Object.entries(services).filter(([name, service]) => workspaceOf(name, service)))('%s', (name, service) => {
    const dir = workspaceOf(name, service)!;
    const known = envExample(dir);
    if (!known) return; // the workspace has no .env.example yet
    const unknown = Object.keys(service.environment as JsonObject).filter((key) => !known.has(key));
    expect(unknown, `${name}: not in ${dir}/.env.example`).toEqual([]);
  });
});

describe('compose.scale.yaml', () => {
  const services = servicesOf(merged);

  it('adds two realtime replicas identical to realtime', () => {
    const { realtime } = services;
    for (const name of ['realtime-2', 'realtime-3']) {
      const replica = services[name]!;
      for (const key of ['build', 'image', 'init', 'environment', 'depends_on', 'healthcheck', 'networks', 'restart', 'logging']) {
        expect(replica[key], `${name}.${key}`).toEqual(realtime![key]);
      }
    }
  });

  it("lists every replica in the gateway's REALTIME_URLS and waits for them", () => {
    const gateway = services.gateway!;
    expect((gateway.environment as JsonObject).REALTIME_URLS).toBe(
      'http://realtime:3101,http://realtime-2:3101,http://realtime-3:3101',
    );
    expect(Object.keys(gateway.depends_on as JsonObject)).toEqual(
      expect.arrayContaining(['realtime', 'realtime-2', 'realtime-3']),
    );
    expect((servicesOf(base).gateway!.environment as JsonObject).REALTIME_URLS).toBe('http://realtime:3101');
  });
});

describe('Dockerfile', () => {
  it('a target per service, the gateway and migrate; non-root runtime; no secrets baked in', () => {
    for (const target of ['realtime', 'notifications', 'file-processing', 'jobs', 'idme', 'gateway', 'migrate']) {
      expect(dockerfileStages).toContain(target);
    }
    expect(dockerfile).toMatch(/turbo prune "\$\{PACKAGE\}" --docker/);
    expect(dockerfile).toMatch(/^USER node$/m);
    const instructions = dockerfile.replace(/^\s*#.*$/gm, '');
    // no build tools in any stage (apt installs only runtime tools: PDF/video renderers, pg_dump)
    expect(instructions).not.toMatch(/\bcurl\b|\bwget\b|build-essential|\bgcc\b|\bg\+\+|\bmake\b|python3|node-gyp/);
    expect(instructions.match(/apt-get install[^\n]*/g)).toEqual([
      'apt-get install -y --no-install-recommends ${FILE_MEDIA_PACKAGES} \\',
      'apt-get install -y --no-install-recommends ${JOBS_PACKAGES} \\',
    ]);
    expect(dockerfile).toMatch(/^ARG JOBS_PACKAGES="postgresql-client"$/m);
    expect(dockerfile).toMatch(/^ARG FILE_MEDIA_PACKAGES="poppler-utils"$/m);
    expect(dockerfile).not.toMatch(/^(ENV|ARG)\s+\S*(SECRET|PASSWORD|TOKEN)/im);
    // every stage builds on the one node base (one libc for sharp)
    const froms = [...dockerfile.matchAll(/^FROM\s+(\S+)/gim)].map((m) => m[1]!);
    const external = froms.filter((from) => !dockerfileStages.has(from));
    expect(new Set(external)).toEqual(new Set(['${NODE_IMAGE}']));
  });
});

describe('infra/compose-override.offline.yaml', () => {
  it('only adds the ID.me provider stand-in and points idme at it', () => {
    const services = servicesOf(offline);
    expect(Object.keys(services).sort()).toEqual(['idme', 'idme-oidc']);
    expect(Object.keys(services.idme!).sort()).toEqual(['depends_on', 'environment']);
    expect(services.idme!.environment).toEqual({
      NODE_ENV: 'development',
      IDME_BASE_URL: 'http://idme-oidc:9400',
      IDME_ALLOW_INSECURE_HTTP: 'true',
    });
  });
});
