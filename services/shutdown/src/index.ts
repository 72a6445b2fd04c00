import type { Logger } from '@nself/logging';

export interface ShutdownStep {
  name: string;
  run: () => Promise<unknown> | unknown;
}

export interface Shutdown {
  /** Steps run in the order added: readiness 503 → stop accepting → close sockets/workers/channels → DB. */
  add(name: string, run: ShutdownStep['run']): void;
  /** Runs every step once (later calls return the same promise); a failing step does not stop the rest. */
  run(reason: string): Promise<void>;
  /** SIGTERM/SIGINT run the steps and exit; a force-exit timer (unref'd) bounds the wait. */
  installSignalHandlers(): void;
}

export function createShutdown(options: {
  logger: Logger;
  timeoutMs?: number;
  exit?: (code: number) => void;
}): Shutdown {
  const steps: ShutdownStep[] = [];
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const timeoutMs = options.timeoutMs ?? 15000;
  let running: Promise<void> | undefined;

  async function runSteps(reason: string): Promise<void> {
    options.logger.info({ reason }, 'shutting down');
    for (const step of steps) {
      const started = Date.now();
      try {
        await step.run();
        options.logger.info({ step: step.name, ms: Date.now() - started }, 'shutdown step done');
      } catch (error) {
        options.logger.error({ step: step.name, err: error }, 'shutdown step failed');
      }
    }
  }

  const shutdown: Shutdown = {
    add(name, run) {
      steps.push({ name, run });
    },
    run(reason) {
      running ??= runSteps(reason);
      return running;
    },
    installSignalHandlers() {
      const onSignal = (signal: NodeJS.Signals) => {
        setTimeout(() => {
          options.logger.error({ timeoutMs }, 'shutdown timed out, forcing exit');
          exit(1);
        }, timeoutMs).unref();
        void shutdown.run(signal).then(() => exit(0));
      };
      process.once('SIGTERM', onSignal);
      process.once('SIGINT', onSignal);
    },
  };
  return shutdown;
}
