/**
 * PostgreSQL's COPY text format is the escaped text of core/text-rows.ts
 * but for two escapes: \f and \v, which MySQL's LOAD DATA would read as the
 * letters f and v. COPY ... TO STDOUT writes no octal or hex escapes.
 */

const BACKSLASH = 92;
const PLAIN: Record<number, number> = { 102: 0x0c, 118: 0x0b }; // f, v

/** The text with \f and \v as the plain bytes: the same rows, as LOAD DATA reads them. Text without them is returned as is. */
export function withoutCopyOnlyEscapes(text: Buffer): Buffer {
  let at = text.indexOf(BACKSLASH);
  if (at < 0) return text;
  const out = Buffer.allocUnsafe(text.length);
  let length = 0;
  let copied = 0;
  for (; at >= 0; at = text.indexOf(BACKSLASH, at + 2)) {
    const plain = PLAIN[text[at + 1]];
    if (plain === undefined) continue;
    length += text.copy(out, length, copied, at);
    out[length++] = plain;
    copied = at + 2;
  }
  if (copied === 0) return text;
  length += text.copy(out, length, copied);
  return out.subarray(0, length);
}
