// Runs compose.yaml (optionally with compose.scale.yaml) on rootful podman with podman-compose 1.0.3,
// which creates networks, volumes and containers from the compose files but ignores
// `depends_on` conditions, and on a machine without systemd, where podman has no timers to run
// healthchecks. This runner supplies exactly those two engine duties and nothing else:
//   - it starts each container only when its dependencies' conditions hold (service_healthy:
//     the dependency's own healthcheck, run with `podman healthcheck run`, passed;
//     service_completed_successfully: the one-shot exited 0), as `docker compose up` does;
//   - it runs every healthcheck as the engine would (start_period, retries), probing every 2 s
//     while something waits on it, and fails when a container turns unhealthy or a one-shot fails.
// Usage (from the repository root; root needed):
//   node --import tsx infra/containers/stack.ts build|up|down|ps [--scale] [--offline] [--keep-volumes] [--services=a,b]
// Environment: NSELF_COMPOSE_PROJECT (default nself), and the variables compose.yaml interpolates.
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadCompose, mergeCompose, repoRoot, servicesOf, type JsonObject } from './compose-model.js';

const execFileAsync = promisify(execFile);
const project = process.env.NSELF_COMPOSE_PROJECT ?? 'nself';
const stateDir = process.env.NSELF_CONTAINERS_STATE ?? '/var/tmp/nself-containers';
const args = process.argv.slice(3);
const scale = args.includes('--scale');
/** --offline: add infra/compose-override.offline.yaml (a local stand-in for ID.me's OpenID provider). */
const offline = args.includes('--offline');
const files = [
  'compose.yaml',
  ...(scale ? ['compose.scale.yaml'] : []),
  ...(offline ? ['infra/compose-override.offline.yaml'] : []),
];
/** --services a,b: only these services and what they depend on (for partial runs while debugging). */
const onlyServices = args.find((a) => a.startsWith('--services='))?.slice('--services='.length).split(',');

const log = (message: string) => console.error(`[stack] ${message}`);
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** podman-compose with this project's files; its chatty output goes to a log file. */
async function podmanCompose(command: string[], logName: string): Promise<void> {
  mkdirSync(stateDir, { recursive: true });
  const logFile = path.join(stateDir, `${logName}.log`);
  const fd = openSync(logFile, 'a');
  const composeArgs = ['-p', project, ...files.flatMap((f) => ['-f', path.join(repoRoot, f)])];
  const child = spawn('podman-compose', [...composeArgs, ...command], { cwd: repoRoot, stdio: ['ignore', fd, fd] });
  const code = await new Promise<number>((resolve) => child.on('exit', (c) => resolve(c ?? 1)));
  if (code !== 0) throw new Error(`podman-compose ${command.join(' ')} failed (${code}), see ${logFile}`);
}

async function podman(...podmanArgs: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync('podman', podmanArgs, { maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

const containerName = (service: string) => `${project}_${service}_1`; // podman-compose 1.0.3 naming

/** Compose durations ("10s", "1m30s", "500ms") in ms. */
function duration(value: unknown, fallback: number): number {
  if (typeof value !== 'string') return fallback;
  let total = 0;
  for (const [, amount, unit] of value.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    total += Number(amount) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit as 'ms' | 's' | 'm' | 'h'];
  }
  return total || fallback;
}

interface Health {
  test: boolean;
  startPeriod: number;
  retries: number;
  interval: number;
  failures: number;
  healthy: boolean;
  lastProbe: number;
  lastOutput: string;
}

type State = 'waiting' | 'started' | 'healthy' | 'completed' | 'failed';

async function up(): Promise<void> {
  const services = servicesOf(mergeCompose(...files.map(loadCompose)));
  let names = Object.keys(services);
  if (onlyServices) {
    const wanted = new Set<string>();
    const add = (name: string) => {
      if (wanted.has(name)) return;
      if (!services[name]) throw new Error(`unknown service ${name}`);
      wanted.add(name);
      for (const dep of Object.keys((services[name]!.depends_on ?? {}) as JsonObject)) add(dep);
    };
    onlyServices.forEach(add);
    names = names.filter((n) => wanted.has(n));
  }
  const began = Date.now();
  await podmanCompose(['up', '--no-start', '--no-build', ...(onlyServices ? names : [])], 'up');
  log(`created ${names.length} containers in ${seconds(Date.now() - began)}`);

  const state = new Map<string, State>(names.map((n) => [n, 'waiting']));
  const startedAt = new Map<string, number>();
  const health = new Map<string, Health>();
  for (const name of names) {
    const hc = (services[name]!.healthcheck ?? {}) as JsonObject;
    health.set(name, {
      test: Array.isArray(hc.test) && hc.disable !== true,
      startPeriod: duration(hc.start_period, 0),
      retries: typeof hc.retries === 'number' ? hc.retries : 3,
      interval: duration(hc.interval, 30_000),
      failures: 0,
      healthy: false,
      lastProbe: 0,
      lastOutput: '',
    });
  }
  const dependencies = (name: string) =>
    Object.entries((services[name]!.depends_on ?? {}) as Record<string, JsonObject>).map(([dep, spec]) => ({
      dep,
      condition: String(spec.condition ?? 'service_started'),
    }));
  const satisfied = (dep: string, condition: string) => {
    const s = state.get(dep);
    if (condition === 'service_completed_successfully') return s === 'completed';
    if (condition === 'service_healthy') return s === 'healthy';
    return s !== 'waiting';
  };
  const oneShot = (name: string) => services[name]!.restart === 'no';

  const fail = async (name: string, why: string): Promise<never> => {
    const logs = await podman('logs', '--tail', '40', containerName(name));
    throw new Error(`${name} ${why}\n--- last log lines of ${containerName(name)}:\n${logs.stdout}${logs.stderr}`);
  };

  const deadline = Date.now() + Number(process.env.NSELF_STACK_UP_TIMEOUT_MS ?? 15 * 60_000);
  for (;;) {
    // start whatever may start
    for (const name of names) {
      if (state.get(name) !== 'waiting') continue;
      if (!dependencies(name).every(({ dep, condition }) => satisfied(dep, condition))) continue;
      const result = await podman('start', containerName(name));
      if (result.code !== 0) await fail(name, `did not start: ${result.stderr.trim()}`);
      state.set(name, 'started');
      startedAt.set(name, Date.now());
      log(`${name} started (${seconds(Date.now() - began)})`);
    }
    // observe one-shots and run due healthchecks
    for (const name of names) {
      if (state.get(name) !== 'started') continue;
      if (oneShot(name)) {
        const inspect = await podman('inspect', '--format', '{{.State.Status}} {{.State.ExitCode}}', containerName(name));
        const [status, exitCode] = inspect.stdout.trim().split(' ');
        if (status === 'exited') {
          if (exitCode !== '0') await fail(name, `exited with ${exitCode}`);
          state.set(name, 'completed');
          log(`${name} completed successfully (${seconds(Date.now() - began)})`);
        }
        continue;
      }
      const h = health.get(name)!;
      if (!h.test) {
        state.set(name, 'healthy'); // nothing to probe: running is all Compose could check
        continue;
      }
      if (Date.now() - h.lastProbe < Math.min(h.interval, 2000)) continue;
      h.lastProbe = Date.now();
      const probe = await podman('healthcheck', 'run', containerName(name));
      h.lastOutput = `${probe.stdout}${probe.stderr}`.trim();
      if (probe.code === 0) {
        h.healthy = true;
        state.set(name, 'healthy');
        log(`${name} healthy (${seconds(Date.now() - began)})`);
      } else if (Date.now() - startedAt.get(name)! > h.startPeriod) {
        h.failures++;
        if (h.failures >= h.retries) await fail(name, `is unhealthy after ${h.failures} failed checks: ${h.lastOutput}`);
      }
    }
    if ([...state.values()].every((s) => s === 'healthy' || s === 'completed')) break;
    if (Date.now() > deadline) {
      const stuck = names.filter((n) => !['healthy', 'completed'].includes(state.get(n)!));
      throw new Error(`timed out; not ready: ${stuck.map((n) => `${n} (${state.get(n)})`).join(', ')}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  log(`all ${names.length} services healthy or completed in ${seconds(Date.now() - began)}`);
}

async function ps(): Promise<void> {
  const result = await podman(
    'ps', '-a', '--filter', `label=io.podman.compose.project=${project}`,
    '--format', '{{.Names}}\t{{.Status}}\t{{.Image}}',
  );
  console.log(result.stdout.trim());
}

async function main(): Promise<void> {
  const command = process.argv[2];
  const began = Date.now();
  switch (command) {
    case 'build':
      // --pull=never: every base image is local (the stand-ins); --network=host: see setup.sh;
      // --format=docker: OCI images drop the Dockerfile's HEALTHCHECK
      await podmanCompose(['--podman-build-args=--pull=never --network=host --format=docker', 'build'], 'build');
      break;
    case 'up':
      await up();
      break;
    case 'down': {
      await podmanCompose(['down', '-t', '5', ...(args.includes('--keep-volumes') ? [] : ['-v'])], 'down');
      // podman-compose 1.0.3 leaves the project's networks behind
      const networks = await podman('network', 'ls', '-q', '--filter', `label=io.podman.compose.project=${project}`);
      for (const network of networks.stdout.split('\n').filter(Boolean)) await podman('network', 'rm', network);
      break;
    }
    case 'ps':
      await ps();
      return;
    default:
      console.error('usage: stack.ts build|up|down|ps [--scale] [--offline] [--keep-volumes] [--services=a,b]');
      process.exit(2);
  }
  log(`${command}${scale ? ' --scale' : ''} done in ${seconds(Date.now() - began)}`);
}

main().catch((error: unknown) => {
  console.error(`[stack] ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
