import { isRetryable, RangeBusyError } from './errors.ts';

/**
 * The one retry mechanism: a passing failure (errors.ts says which) is tried
 * again after a growing pause, until attempts or time run out; any other
 * error, and the last passing one, is thrown as it came.
 */

export interface RetryPolicy {
  /** Tries in all, the first included. */
  attempts: number;
  /** Give up once this long has passed since the first try (ms). */
  budgetMs: number;
  firstDelayMs: number;
  maxDelayMs: number;
}

/** For a database or service that went away: long enough to ride out a restart (up to about a minute). */
export const OUTAGE: RetryPolicy = { attempts: Number.POSITIVE_INFINITY, budgetMs: 90_000, firstDelayMs: 250, maxDelayMs: 5_000 };

/** For a deadlock or lock wait on one chunk: a few quick tries before the outage policy or the queue takes over. */
export const QUICK: RetryPolicy = { attempts: 3, budgetMs: 10_000, firstDelayMs: 400, maxDelayMs: 1_600 };

export interface RetryDeps {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export interface RetryOptions {
  /** Epoch ms past which no pause may end (a Lambda's deadline); null: none. */
  deadline?: number | null;
  /** Called before each pause, e.g. to say what is being waited for. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

/** Passing failures, except a range another delivery moved on: retrying that is the queue's business. */
export function isPassing(error: unknown): boolean {
  return isRetryable(error) && !(error instanceof RangeBusyError);
}

export async function retrying<T>(fn: (attempt: number) => Promise<T>, deps: RetryDeps, policy: RetryPolicy = OUTAGE, options: RetryOptions = {}): Promise<T> {
  const start = deps.now();
  let delay = policy.firstDelayMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      const now = deps.now();
      const ends = now + delay;
      const outOfTime = ends - start > policy.budgetMs || (options.deadline != null && ends >= options.deadline);
      if (!isPassing(error) || attempt >= policy.attempts || outOfTime) throw error;
      options.onRetry?.(error, attempt, delay);
      await deps.sleep(delay);
      delay = Math.min(policy.maxDelayMs, delay * 2);
    }
  }
}
