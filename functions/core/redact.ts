/**
 * Secrets never reach logs, errors, the ledger or dirty records. Adapters
 * register every password they resolve; text leaving the process passes
 * through redact(). Connection labels never carry a password to begin with.
 */
const secrets = new Set<string>();

export function registerSecret(secret: string | undefined): void {
  if (secret && secret.length >= 3) secrets.add(secret);
}

export function redact(text: string): string {
  let out = text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)[^@\s]*@/gi, '$1***@');
  for (const secret of secrets) {
    out = out.replaceAll(secret, '***');
    const encoded = encodeURIComponent(secret);
    if (encoded !== secret) out = out.replaceAll(encoded, '***');
  }
  return out;
}
