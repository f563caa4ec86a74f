import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { JobError } from '../core/errors.ts';

/**
 * The command line's grammar: each command declares its arguments and its
 * own options, with their help; parsing, `--help` text and the errors for an
 * option a command does not take all come from that one table.
 */

/** Bad usage of the command line: exit 2, one line. */
export class UsageError extends JobError {}

/** The JSON in a file an option names (`--event FILE`), or a JobError naming the option and the file. */
export async function readJsonFile(option: string, file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new JobError(`${option} ${file}: cannot read the file (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new JobError(`${option} ${file}: invalid JSON: ${(error as Error).message}`);
  }
}

export interface OptionSpec {
  type: 'string' | 'boolean';
  multiple?: boolean;
  /** What the value is, in the help (`N`, `FILE`, `k=v`). */
  value?: string;
  help: string;
}

export type OptionTable = Record<string, OptionSpec>;

export interface CommandSpec<O extends OptionTable = OptionTable> {
  /** The positional arguments in the usage line, e.g. `JOB` or `[RUN_ID]`. */
  args: string;
  /** How many positionals: [least, most]. */
  arity: [number, number];
  summary: string;
  /** Lines after the options in `help COMMAND`. */
  notes?: string;
  options: O;
}

export type Values<O extends OptionTable> = {
  [K in keyof O]?: O[K]['type'] extends 'boolean' ? boolean : O[K]['multiple'] extends true ? string[] : string;
};

export interface Parsed<O extends OptionTable> {
  values: Values<O>;
  positionals: string[];
  help: boolean;
}

/** Edits (insert, delete, replace, swap two neighbours) from one word to another. */
function distance(a: string, b: string): number {
  let before: number[] = [];
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) next[j] = Math.min(next[j], before[j - 2] + 1);
    }
    [before, row] = [row, next];
  }
  return row[b.length];
}

/** The one word a typo most likely meant: at most 2 edits away (1 for short words). */
export function closest(word: string, words: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = word.length <= 4 ? 2 : 3;
  for (const candidate of words) {
    const d = distance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

function optionName(error: Error): string {
  return /'(-[^' ]+)/.exec(error.message)?.[1] ?? '';
}

/** Parses one command's arguments against its own options. */
export function parseCommand<O extends OptionTable>(name: string, spec: CommandSpec<O>, argv: string[]): Parsed<O> {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const [key, o] of Object.entries(spec.options)) options[key] = o.multiple ? { type: o.type, multiple: true } : { type: o.type };
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const option = optionName(error as Error);
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const near = closest(option.replace(/^-+/, '').split('=')[0], Object.keys(spec.options));
      throw new UsageError(`${name} does not take ${option}${near ? `; did you mean --${near}?` : ''} (batchsync help ${name} lists its options)`);
    }
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      const wanted = spec.options[option.replace(/^--/, '')];
      throw new UsageError(wanted?.type === 'boolean' ? `${name}: ${option} takes no value` : `${name}: ${option} needs a value`);
    }
    throw new UsageError(`${name}: ${(error as Error).message}`);
  }
  const { help, ...values } = parsed.values as Record<string, unknown>;
  const positionals = parsed.positionals;
  if (!help) {
    const [least, most] = spec.arity;
    if (positionals.length < least) throw new UsageError(`${name} needs ${spec.args.replace(/\[[^\]]*\]/g, '').trim()} (usage: batchsync ${name} ${spec.args})`);
    if (positionals.length > most) throw new UsageError(`${name}: unexpected argument ${positionals[most]} (usage: batchsync ${name} ${spec.args})`);
  }
  return { values: values as Values<O>, positionals, help: help === true };
}

function optionLabel(key: string, o: OptionSpec): string {
  return `--${key}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}${o.multiple ? '...' : ''}`;
}

/** The help of one command: usage, what it does, its options. */
export function commandHelp(name: string, spec: CommandSpec): string {
  const entries = Object.entries(spec.options);
  const labels = entries.map(([key, o]) => optionLabel(key, o));
  const width = Math.max(12, ...labels.map((l) => l.length)) + 2;
  const lines = [`usage: batchsync ${name}${spec.args ? ` ${spec.args}` : ''}${entries.length ? ' [options]' : ''}`, '', `  ${spec.summary}`];
  if (entries.length) {
    lines.push('', 'options:');
    entries.forEach(([, o], i) => lines.push(`  ${labels[i].padEnd(width)}${o.help}`));
  }
  lines.push(`  ${'--help'.padEnd(width)}print this help`);
  if (spec.notes) lines.push('', spec.notes);
  return lines.join('\n');
}

/** The overview of all commands, for `batchsync --help`. */
export function overviewHelp(commands: Record<string, CommandSpec>, footer: string): string {
  const rows = Object.entries(commands).map(([name, spec]) => [`${name} ${spec.args}`.trim(), spec.summary]);
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  return [
    'usage: batchsync <command> [options]',
    '',
    'commands:',
    ...rows.map(([left, right]) => `  ${left.padEnd(width)}${right}`),
    '',
    footer,
  ].join('\n');
}
