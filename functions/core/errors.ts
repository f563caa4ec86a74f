/**
 * The error tree. Callers decide by class, never by parsing messages:
 * - JobError: the job file or its fit with the live schemas is wrong (exit 2,
 *   nothing written);
 * - ConnectionError / AuthError: a database or service cannot be reached or
 *   refuses the credentials (exit 1);
 * - RetryableError: a passing condition (deadlock, lock wait, lost
 *   connection, throttling); the range is retried;
 * Messages are one line a person can act on and never carry a secret.
 */
export class BatchsyncError extends Error {
  readonly retryable: boolean = false;
  readonly exitCode: 1 | 2 = 1;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The job file, or its fit with the live source/target schema, is wrong. */
export class JobError extends BatchsyncError {
  override readonly exitCode = 2;
}

/** A host is unreachable, a database is missing, or a service refused us. */
export class ConnectionError extends BatchsyncError {}

/** A host did not answer; it may answer a later attempt. */
export class UnreachableError extends ConnectionError {
  override readonly retryable = true;
}

/** The credentials were refused; a cached secret may have been rotated. */
export class AuthError extends ConnectionError {}

/** A passing failure: the same work may succeed when tried again. */
export class RetryableError extends BatchsyncError {
  override readonly retryable = true;
}

/** Another delivery of the same range moved its checkpoint first. */
export class RangeBusyError extends RetryableError {}

/** A statement failed for a reason that retrying will not change. */
export class StatementError extends BatchsyncError {}

/** True for errors that a retry of the same work may get past. */
export function isRetryable(error: unknown): boolean {
  return error instanceof BatchsyncError ? error.retryable : false;
}

/** One line for a person: our messages as they are, anything else named. */
export function describeError(error: unknown): string {
  if (error instanceof BatchsyncError) return error.message;
  if (error instanceof Error) return `internal error: ${error.message}`;
  return `internal error: ${String(error)}`;
}
