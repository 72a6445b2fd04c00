export { loadJobsConfig, jobsEnvSchema, type JobsConfig } from './config.js';
export { createJobsApp, type AppDeps } from './app.js';
export { createApiContext, startApiServer, startWorkerProcess, type ApiContext, type ApiServer, type WorkerProcess } from './runtime.js';
export { createJobWorkers, type JobWorkers } from './worker-runtime.js';
export { addJob, type AddJobInput } from './use-cases/add-job.js';
export { signPayload, SIGNATURE_HEADER, TIMESTAMP_HEADER } from './job-types/custom-http.js';
export {
  BUILTIN_JOB_TYPES,
  builtinPayloadSchemas,
  type BuiltinJobType,
  type JobEnvelope,
  type JobMeta,
  type JobPayloads,
  type JobStatus,
} from './contracts.js';
