/**
 * PostgreSQL's COPY text format: one row a line, fields split by tab, \N for
 * NULL, backslash escapes. Lines are parsed as they stream in.
 */

const ESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\' };

export function unescapeCopy(field: string): string {
  return field.replace(/\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)/g, (_, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
    if (e >= '0' && e <= '7') return String.fromCharCode(parseInt(e, 8));
    return ESCAPES[e] ?? e;
  });
}

/** The fields of one line, NULLs as null. */
export function parseCopyLine(line: string): (string | null)[] {
  const fields = line.split('\t');
  // Most lines have no NULL (\N) and no escape: both need a backslash.
  if (!line.includes('\\')) return fields;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i];
    if (f === '\\N') fields[i] = null as unknown as string;
    else if (f.includes('\\')) fields[i] = unescapeCopy(f);
  }
  return fields;
}
