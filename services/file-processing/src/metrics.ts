import { Counter, Histogram, type Metrics } from '@nself/metrics';

export interface FileMetrics {
  uploads: Counter<'result'>;
  uploadBytes: Counter;
  jobs: Counter<'result'>;
  jobDuration: Histogram<'stage'>;
  scans: Counter<'status'>;
  thumbnails: Counter<'format'>;
}

/** The service's own Prometheus series, registered on the process's registry. */
export function createFileMetrics(metrics: Metrics): FileMetrics {
  const registers = [metrics.registry];
  return {
    uploads: new Counter({
      name: 'file_uploads_total',
      help: 'Uploads by result (accepted, duplicate, too_large, type_not_allowed, error)',
      labelNames: ['result'],
      registers,
    }),
    uploadBytes: new Counter({ name: 'file_upload_bytes_total', help: 'Bytes stored by accepted uploads', registers }),
    jobs: new Counter({
      name: 'file_jobs_total',
      help: 'Processing job runs by result (processed, infected, retry, failed)',
      labelNames: ['result'],
      registers,
    }),
    jobDuration: new Histogram({
      name: 'file_job_stage_seconds',
      help: 'Time spent per pipeline stage (download, scan, render, store, total)',
      labelNames: ['stage'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
      registers,
    }),
    scans: new Counter({ name: 'file_scans_total', help: 'Virus scans by status', labelNames: ['status'], registers }),
    thumbnails: new Counter({ name: 'file_thumbnails_total', help: 'Thumbnails written by format', labelNames: ['format'], registers }),
  };
}
