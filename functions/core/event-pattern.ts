/**
 * EventBridge event patterns, evaluated as EventBridge evaluates them, so a
 * job's event trigger can be tried locally (`run --event`) and the planner can
 * route an event to the jobs whose patterns it matches. Supported: exact
 * values (strings, numbers, booleans, null), a list as OR, nested objects,
 * `prefix`, `suffix`, `equals-ignore-case`, `wildcard`, `anything-but`,
 * `exists`, `numeric` and `$or`. A field that is an array matches when any
 * element does.
 */

export type EventPattern = { [key: string]: unknown };

const OPERATORS = new Set(['prefix', 'suffix', 'equals-ignore-case', 'wildcard', 'anything-but', 'exists', 'numeric', 'cidr']);
const NUMERIC_OPS = new Set(['=', '<', '<=', '>', '>=']);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const show = (v: unknown) => JSON.stringify(v);

/** A value's description for a message: what the event holds at a path. */
function held(value: unknown): string {
  return value === undefined ? 'absent' : show(value);
}

function checkNumeric(spec: unknown, where: string): string[] {
  if (!Array.isArray(spec) || spec.length === 0 || spec.length % 2 !== 0) return [`${where}.numeric: expected [op, number, …] pairs`];
  const out: string[] = [];
  for (let i = 0; i < spec.length; i += 2) {
    if (!NUMERIC_OPS.has(spec[i] as string)) out.push(`${where}.numeric: ${show(spec[i])} is not one of = < <= > >=`);
    if (typeof spec[i + 1] !== 'number') out.push(`${where}.numeric: ${show(spec[i + 1])} is not a number`);
  }
  return out;
}

function checkMatcher(m: unknown, where: string): string[] {
  if (!isObject(m)) return [];
  const keys = Object.keys(m);
  if (keys.length !== 1 || !OPERATORS.has(keys[0])) return [`${where}: ${show(m)} is not a matcher (one of ${[...OPERATORS].join(', ')})`];
  const [op] = keys;
  const arg = m[op];
  if (op === 'numeric') return checkNumeric(arg, where);
  if (op === 'exists' && typeof arg !== 'boolean') return [`${where}.exists: expected true or false`];
  if ((op === 'prefix' || op === 'suffix') && typeof arg !== 'string' && !(isObject(arg) && typeof arg['equals-ignore-case'] === 'string')) {
    return [`${where}.${op}: expected a string`];
  }
  if ((op === 'equals-ignore-case' || op === 'wildcard' || op === 'cidr') && typeof arg !== 'string') return [`${where}.${op}: expected a string`];
  if (op === 'anything-but' && isObject(arg)) return checkMatcher(arg, `${where}.anything-but`);
  return [];
}

/**
 * Problems with a pattern, each `path: message` (empty when valid): every
 * leaf is a non-empty list of values or matchers, every branch an object.
 */
export function checkPattern(pattern: unknown, where = 'pattern'): string[] {
  if (!isObject(pattern)) return [`${where}: expected an object (an EventBridge event pattern)`];
  if (Object.keys(pattern).length === 0) return [`${where}: an empty pattern matches every event; name at least one field`];
  const out: string[] = [];
  for (const [key, value] of Object.entries(pattern)) {
    const at = `${where}.${key}`;
    if (key === '$or') {
      if (!Array.isArray(value) || value.length < 2) out.push(`${at}: expected a list of at least two patterns`);
      else value.forEach((p, i) => out.push(...checkPattern(p, `${at}[${i}]`)));
    } else if (Array.isArray(value)) {
      if (value.length === 0) out.push(`${at}: an empty list matches nothing`);
      value.forEach((m, i) => out.push(...checkMatcher(m, `${at}[${i}]`)));
    } else if (isObject(value)) out.push(...checkPattern(value, at));
    else out.push(`${at}: expected a list of values (e.g. [${show(value)}]) or a nested object`);
  }
  return out;
}

function wildcardRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 's');
}

function numericMatches(spec: unknown[], n: number): boolean {
  for (let i = 0; i < spec.length; i += 2) {
    const bound = spec[i + 1] as number;
    const ok = { '=': n === bound, '<': n < bound, '<=': n <= bound, '>': n > bound, '>=': n >= bound }[spec[i] as string];
    if (!ok) return false;
  }
  return true;
}

function cidrMatches(cidr: string, ip: string): boolean {
  const toInt = (a: string) => a.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
  const [net, bits] = cidr.split('/');
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(ip) || !/^\d+\.\d+\.\d+\.\d+$/.test(net)) return false;
  const size = 2 ** (32 - Number(bits ?? 32));
  return Math.floor(toInt(ip) / size) === Math.floor(toInt(net) / size);
}

/** Does one present, non-array value satisfy one list entry? (`exists` is decided by the caller.) */
function valueMatches(m: unknown, value: unknown): boolean {
  if (!isObject(m)) return m === value;
  const [op] = Object.keys(m);
  const arg = m[op];
  const text = typeof value === 'string' ? value : null;
  switch (op) {
    case 'prefix':
    case 'suffix': {
      if (text === null) return false;
      const ignoreCase = isObject(arg);
      const want = ignoreCase ? String(arg['equals-ignore-case']).toLowerCase() : (arg as string);
      const have = ignoreCase ? text.toLowerCase() : text;
      return op === 'prefix' ? have.startsWith(want) : have.endsWith(want);
    }
    case 'equals-ignore-case':
      return text !== null && text.toLowerCase() === (arg as string).toLowerCase();
    case 'wildcard':
      return text !== null && wildcardRegExp(arg as string).test(text);
    case 'numeric':
      return typeof value === 'number' && numericMatches(arg as unknown[], value);
    case 'cidr':
      return text !== null && cidrMatches(arg as string, text);
    case 'anything-but': {
      if (isObject(arg)) return !valueMatches(arg, value);
      const excluded = Array.isArray(arg) ? arg : [arg];
      return !excluded.includes(value);
    }
    default:
      return false;
  }
}

/** Does a leaf list match the field (absent, a value, or an array of values)? */
function leafMatches(list: unknown[], value: unknown): boolean {
  return list.some((m) => {
    if (isObject(m) && 'exists' in m) return (value !== undefined) === m.exists;
    // Every other matcher needs the field; on an array, any element will do.
    if (value === undefined) return false;
    return Array.isArray(value) ? value.some((v) => valueMatches(m, v)) : valueMatches(m, value);
  });
}

/**
 * Why the event does not match the pattern, as `path is X, the pattern wants
 * Y`, or null when it matches. The pattern is assumed valid (checkPattern).
 */
export function explainMismatch(pattern: EventPattern, event: unknown, path = ''): string | null {
  const fields = isObject(event) ? event : {};
  for (const [key, want] of Object.entries(pattern)) {
    if (key === '$or') {
      const reasons = (want as EventPattern[]).map((p) => explainMismatch(p, event, path));
      if (reasons.every((r) => r !== null)) return reasons.join('; and ');
      continue;
    }
    const at = path ? `${path}.${key}` : key;
    const value = fields[key];
    if (Array.isArray(want)) {
      if (!leafMatches(want, value)) return `${at} is ${held(value)}, the pattern wants ${show(want)}`;
    } else if (isObject(want)) {
      // A nested pattern looks into an object; into an array of objects, any element may match.
      const candidates = Array.isArray(value) ? value : [value];
      const reasons = candidates.map((v) => explainMismatch(want, v, at));
      if (reasons.every((r) => r !== null)) return reasons[0] ?? `${at} is absent`;
    }
  }
  return null;
}

/** True when the event matches the pattern, as EventBridge would decide. */
export function matchesPattern(pattern: EventPattern, event: unknown): boolean {
  return explainMismatch(pattern, event) === null;
}

/** `$.a.b` paths into an event: `$.` and then names joined by dots. */
export const EVENT_PATH = /^\$(\.[A-Za-z0-9_@:-]+)+$/;

/** The value at an `$.a.b` path of an event, or undefined. */
export function valueAtPath(event: unknown, path: string): unknown {
  let value: unknown = event;
  for (const name of path.split('.').slice(1)) value = isObject(value) ? value[name] : undefined;
  return value;
}
