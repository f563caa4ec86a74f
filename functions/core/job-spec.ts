import { z } from 'zod';
import { JobError } from './errors.ts';

/**
 * The job file contract (DESIGN.md "Job file"). Every key is known: an
 * unknown one is an error, so a typo is never silently ignored.
 */

const nonEmpty = z.string().min(1);

function isTimeZone(name: string): boolean {
  // Every range message carries its job and is parsed again: the default zone needs no Intl formatter, which is slow to make.
  if (name === 'UTC') return true;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

const TimeZone = z.string().refine(isTimeZone, { message: 'not an IANA time zone name (for example "Asia/Shanghai")' });

export const Connection = z
  .strictObject({
    url: nonEmpty.optional().describe('Connection URL, e.g. mysql://user@host:3306/db; may use ${vars}'),
    urlFromEnv: nonEmpty.optional().describe('Name of an environment variable holding the URL'),
    secretId: nonEmpty.optional().describe('Secrets Manager secret id or ARN (RDS secret JSON shape)'),
  })
  .refine((c) => [c.url, c.urlFromEnv, c.secretId].filter((v) => v !== undefined).length === 1, {
    message: 'give exactly one of url, urlFromEnv, secretId',
  });
export type Connection = z.infer<typeof Connection>;

const Columns = z.array(nonEmpty).min(1);

const SqlSourceFields = {
  connection: Connection,
  table: nonEmpty.describe('Table name, optionally schema-qualified (schema.table)'),
  columns: Columns.optional().describe('Columns to read; default all'),
  where: nonEmpty.optional().describe('SQL condition selecting the rows; may use ${vars}'),
  splitKey: z.union([nonEmpty, z.array(nonEmpty).min(1)]).optional().describe('Key the ranges are cut on; default the primary key'),
  replica: Connection.optional().describe('A standby to read from instead of the primary'),
  replicaFallback: z.boolean().optional().describe('Read from the primary when the replica is unreachable'),
};

export const PostgresSource = z.strictObject({ type: z.literal('postgres'), ...SqlSourceFields });
export const MysqlSource = z.strictObject({ type: z.literal('mysql'), ...SqlSourceFields });

export const CsvOptions = z.strictObject({
  header: z.boolean().default(true).describe('The first record holds the column names'),
  delimiter: z.string().length(1).default(','),
  quote: z.string().length(1).default('"'),
  nullValue: z.string().default('').describe('An unquoted field equal to this is NULL (default: the empty field)'),
});
export type CsvOptions = z.infer<typeof CsvOptions>;

export const FilesSource = z.strictObject({
  type: z.literal('files'),
  url: z
    .string()
    .regex(/^(file|s3):\/\//, { message: 'must start with file:// or s3://' })
    .describe('file:///dir/ (or a single file) or s3://bucket/prefix/'),
  format: z.enum(['csv', 'jsonl', 'parquet']),
  csv: CsvOptions.optional(),
  columns: Columns.optional().describe('Column names; required where the format carries none'),
  compression: z.enum(['none', 'gzip', 'auto']).default('auto').describe('auto: by the .gz ending'),
}).refine((s) => !(s.format === 'parquet' && s.compression === 'gzip'), {
  path: ['compression'],
  message: 'Parquet files compress their own pages; "gzip" applies to csv and jsonl',
});

export const Source = z.discriminatedUnion('type', [PostgresSource, MysqlSource, FilesSource]);
export type Source = z.infer<typeof Source>;
export type SqlSource = z.infer<typeof PostgresSource> | z.infer<typeof MysqlSource>;
export type FilesSource = z.infer<typeof FilesSource>;

const identifier = z.string().regex(/^[A-Za-z0-9_$]{1,64}$/, { message: 'must be 1-64 letters, digits, _ or $' });

export const Ledger = z.strictObject({
  database: identifier.optional().describe("Database holding the ledger tables; default the target's"),
  prefix: z.string().regex(/^[A-Za-z0-9_]{0,32}$/).default('batchsync_'),
});
export type Ledger = z.infer<typeof Ledger>;

export const MysqlTarget = z.strictObject({
  type: z.literal('mysql'),
  connection: Connection,
  table: nonEmpty,
  columns: Columns.optional().describe("Target columns, position by position; default the source's names"),
  writeMode: z.enum(['insert', 'ignore', 'replace', 'upsert']).default('insert'),
  loadMode: z.enum(['append', 'truncate', 'swap']).default('append'),
  preSql: z.array(nonEmpty).default([]),
  postSql: z.array(nonEmpty).default([]),
  batchRows: z.number().int().min(1).max(1_000_000).optional().describe('Rows per chunk transaction; default chosen for speed'),
  emptyAsNull: z.boolean().default(true).describe('An empty string into a non-string column is NULL'),
  ledger: Ledger.default({ prefix: 'batchsync_' }),
});
export type MysqlTarget = z.infer<typeof MysqlTarget>;

export const MIN_ROWS_PER_SECOND = 1;
export const MIN_BYTES_PER_SECOND = 1024;

export const Channel = z.strictObject({
  maxConcurrency: z.number().int().min(1).max(1000).default(2),
  bytesPerSecond: z.number().min(MIN_BYTES_PER_SECOND).nullable().default(null),
  rowsPerSecond: z.number().min(MIN_ROWS_PER_SECOND).nullable().default(null),
  dirtyRecordLimit: z.number().int().min(0).nullable().default(null),
  distributed: z.boolean().default(true),
  maxReceiveCount: z.number().int().min(1).max(1000).default(5).describe('Deliveries of a range before it goes to the dead-letter queue'),
});
export type Channel = z.infer<typeof Channel>;

export const Schedule = z.strictObject({
  cron: nonEmpty.describe('EventBridge Scheduler cron fields: minutes hours day-of-month month day-of-week year'),
  timezone: TimeZone.optional(),
});

export const Trigger = z.strictObject({
  type: z.literal('s3'),
  bucket: nonEmpty,
  prefix: z.string().default(''),
});

export const JobSpec = z.strictObject({
  $schema: z.string().optional(),
  name: z.string().regex(/^[a-z0-9_-]{1,64}$/, { message: 'must be 1-64 of a-z, 0-9, _ and -' }),
  description: z.string().optional(),
  timezone: TimeZone.default('UTC'),
  source: Source,
  target: MysqlTarget,
  channel: Channel.default(Channel.parse({})),
  schedule: Schedule.optional(),
  dependsOn: z.array(z.string().regex(/^[a-z0-9_-]{1,64}$/)).default([]),
  triggers: z.array(Trigger).default([]),
});
export type JobSpec = z.infer<typeof JobSpec>;

/** The JSON Schema of the job file, for editors and `batchsync schema`. */
export function jobJsonSchema(): object {
  return z.toJSONSchema(JobSpec, { io: 'input', unrepresentable: 'any' });
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out ? `.${String(part)}` : String(part);
  return out || '(top level)';
}

/** Each problem of a parse as `path: message`, unknown keys named one by one. */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => `${formatPath([...issue.path, key])}: unknown key`)
      : [`${formatPath(issue.path)}: ${issue.message}`],
  );
}

/** Problems with a job file's contents, each `path: message`; empty when valid. */
export function checkJob(value: unknown): string[] {
  const parsed = JobSpec.safeParse(value);
  return parsed.success ? [] : formatIssues(parsed.error.issues);
}

/**
 * Parses a job file's text into a JobSpec, or throws a JobError whose message
 * names the file and the first problem (all of them in `problems`).
 */
export function parseJob(text: string, where = 'job file'): JobSpec {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new JobError(`${where}: invalid JSON: ${(error as Error).message}`);
  }
  const problems = checkJob(value);
  if (problems.length) throw new JobFileError(where, problems);
  return JobSpec.parse(value);
}

/** A job file with one or more problems, each `path: message`. */
export class JobFileError extends JobError {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file}: ${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more: batchsync validate lists them all)` : ''}`);
  }
}
