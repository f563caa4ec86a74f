import { AuthError } from './errors.ts';

/**
 * The rotation rule, the one place it is written: runs `work` with cached
 * credentials and, when they are refused (AuthError), calls `refresh` (drop
 * cached pools and secrets) and runs it once more with fresh ones. A
 * rotated secret costs one re-read; a wrong password still fails after the
 * second try; any other error is not retried. Both Lambda handlers and the
 * connection pools go through it.
 */
export async function withFreshCredentials<T>(work: (fresh: boolean) => Promise<T>, refresh: () => Promise<void> = async () => {}): Promise<T> {
  try {
    return await work(false);
  } catch (error) {
    if (!(error instanceof AuthError)) throw error;
    await refresh();
    return work(true);
  }
}

/** `connect` with cached credentials, then once with fresh ones if they are refused (withFreshCredentials without a refresh step). */
export function withCredentialRefresh<T>(connect: (fresh: boolean) => Promise<T>): Promise<T> {
  return withFreshCredentials(connect);
}
