import { AuthError } from './errors.ts';

/**
 * Runs `connect` with cached credentials and, when they are refused, once
 * more with fresh ones: a rotated secret costs one re-read, and a wrong
 * password still fails after the second try.
 */
export async function withCredentialRefresh<T>(connect: (fresh: boolean) => Promise<T>): Promise<T> {
  try {
    return await connect(false);
  } catch (error) {
    if (!(error instanceof AuthError)) throw error;
    return connect(true);
  }
}
