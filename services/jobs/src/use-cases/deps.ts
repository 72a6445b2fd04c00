import type { Redis } from 'ioredis';
import type { Logger } from '@nself/logging';
import type { JobsRepository } from '../adapters/jobs-repository.js';
import type { LifecycleRecorder } from '../adapters/lifecycle-recorder.js';
import type { QueueRegistry } from '../adapters/queues.js';
import type { SafeHttpClient } from '../adapters/safe-http.js';
import type { JobsConfig } from '../config.js';

/** What the API's use cases work with (the worker has its own set, see worker-runtime.ts). */
export interface ApiDeps {
  config: JobsConfig;
  logger: Logger;
  repo: JobsRepository;
  queues: QueueRegistry;
  recorder: LifecycleRecorder;
  /** Fail-fast connection: publishes cancel requests. */
  redis: Redis;
  /** Vets custom job type URLs at registration. */
  http: SafeHttpClient;
}
