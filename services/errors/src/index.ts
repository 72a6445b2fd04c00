import { randomUUID } from 'node:crypto';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { getRequestId, type Logger } from '@nself/logging';
import { z, ZodError } from 'zod';

export interface FieldError {
  field: string;
  message: string;
  code: string;
}

/** The one error type of every service: a stable machine-readable code and an HTTP status. */
export class AppError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    readonly extra: { errors?: FieldError[]; retryAfterSeconds?: number; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = 'AppError';
  }
}

export const Errors = {
  badRequest: (code: string, message: string) => new AppError(code, 400, message),
  validation: (errors: FieldError[], message = 'The request is invalid') =>
    new AppError('VALIDATION_FAILED', 400, message, { errors }),
  unauthorized: (message = 'Authentication required', code = 'UNAUTHORIZED') =>
    new AppError(code, 401, message, { headers: { 'WWW-Authenticate': 'Bearer' } }),
  forbidden: (message = 'Not allowed', code = 'FORBIDDEN') => new AppError(code, 403, message),
  notFound: (what: string, code = 'NOT_FOUND') => new AppError(code, 404, `${what} not found`),
  conflict: (code: string, message: string) => new AppError(code, 409, message),
  payloadTooLarge: (message = 'The request body is too large', code = 'PAYLOAD_TOO_LARGE') =>
    new AppError(code, 413, message),
  unsupportedMediaType: (message: string, code = 'UNSUPPORTED_MEDIA_TYPE') => new AppError(code, 415, message),
  unprocessable: (code: string, message: string) => new AppError(code, 422, message),
  tooManyRequests: (retryAfterSeconds: number) =>
    new AppError('RATE_LIMITED', 429, 'Too many requests', { retryAfterSeconds }),
  badGateway: (message = 'Upstream service failed', code = 'BAD_GATEWAY') => new AppError(code, 502, message),
  unavailable: (message = 'Service unavailable', code = 'SERVICE_UNAVAILABLE') => new AppError(code, 503, message),
  gatewayTimeout: (message = 'Upstream service timed out', code = 'GATEWAY_TIMEOUT') =>
    new AppError(code, 504, message),
};

export function fieldErrorsFromZod(error: ZodError): FieldError[] {
  return error.issues.map((issue) => ({
    field: issue.path.map(String).join('.') || '(body)',
    message: issue.message,
    code: issue.code,
  }));
}

/** Validates input with a zod schema; a mismatch becomes a 400 VALIDATION_FAILED listing the fields. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw Errors.validation(fieldErrorsFromZod(result.error));
  return result.data;
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  code: string;
  detail: string;
  instance?: string;
  requestId?: string;
  errorId?: string;
  errors?: FieldError[];
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export function toProblem(error: AppError, instance?: string, errorId?: string): Problem {
  return {
    type: `https://nself.org/problems/${error.code.toLowerCase().replaceAll('_', '-')}`,
    title: TITLES[error.status] ?? 'Error',
    status: error.status,
    code: error.code,
    detail: error.message,
    ...(instance ? { instance } : {}),
    ...(getRequestId() ? { requestId: getRequestId() } : {}),
    ...(errorId ? { errorId } : {}),
    ...(error.extra.errors ? { errors: error.extra.errors } : {}),
  };
}

/** Maps anything thrown to an AppError; unknown errors become an opaque 500. */
export function toAppError(error: unknown): AppError | null {
  if (error instanceof AppError) return error;
  if (error instanceof ZodError) return Errors.validation(fieldErrorsFromZod(error));
  // body-parser / raw-body errors carry a `type` and an HTTP status.
  const e = error as { type?: string; status?: number; statusCode?: number } | null;
  switch (e?.type) {
    case 'entity.too.large':
      return Errors.payloadTooLarge();
    case 'entity.parse.failed':
      return Errors.badRequest('MALFORMED_JSON', 'The request body is not valid JSON');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return Errors.unsupportedMediaType('Unsupported request body encoding');
    case 'request.aborted':
      return Errors.badRequest('REQUEST_ABORTED', 'The request was aborted');
  }
  return null;
}

export function sendProblem(
  res: Parameters<ErrorRequestHandler>[2],
  error: AppError,
  instance?: string,
  errorId?: string,
): void {
  for (const [name, value] of Object.entries(error.extra.headers ?? {})) res.setHeader(name, value);
  if (error.extra.retryAfterSeconds !== undefined) {
    res.setHeader('Retry-After', String(Math.max(1, Math.ceil(error.extra.retryAfterSeconds))));
  }
  res.status(error.status).type('application/problem+json').send(JSON.stringify(toProblem(error, instance, errorId)));
}

/** The one error middleware: problem+json for everything; 5xx are opaque with an id that is in the log. */
export function errorMiddleware(logger: Logger): ErrorRequestHandler {
  return (error, req, res, next) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    const appError = toAppError(error);
    if (appError && appError.status < 500) {
      sendProblem(res, appError, req.originalUrl.split('?')[0]);
      return;
    }
    const errorId = randomUUID();
    logger.error({ err: error, errorId, method: req.method, path: req.originalUrl.split('?')[0] }, 'request failed');
    const exposed = appError ?? new AppError('INTERNAL_ERROR', 500, 'An unexpected error occurred');
    sendProblem(res, exposed, req.originalUrl.split('?')[0], errorId);
  };
}

export function notFoundMiddleware(): RequestHandler {
  return (req, res) => {
    sendProblem(res, Errors.notFound(`Route ${req.method} ${req.path}`, 'ROUTE_NOT_FOUND'), req.originalUrl.split('?')[0]);
  };
}
