import { z } from 'zod';
import { JobError } from './errors.ts';
import { didYouMean } from './suggest.ts';
import { checkPattern, EVENT_PATH, type EventPattern } from './event-pattern.ts';

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
  table: nonEmpty.optional().describe('Table name, optionally schema-qualified (schema.table); or give query'),
  query: nonEmpty.optional().describe('A SELECT read in place of a table (as DataX querySql); may use ${vars}'),
  columns: Columns.optional().describe('Columns to read; default all'),
  where: nonEmpty.optional().describe('SQL condition selecting the rows; may use ${vars}'),
  splitKey: z.union([nonEmpty, z.array(nonEmpty).min(1)]).optional().describe('Key the ranges are cut on; default the primary key'),
  replica: Connection.optional().describe('A standby to read from instead of the primary'),
  replicaFallback: z.boolean().optional().describe('Read from the primary when the replica is unreachable'),
};

/** A SQL source reads a table or a query, never both. */
const oneOfTableQuery = [
  (s: { table?: string; query?: string }) => (s.table === undefined) !== (s.query === undefined),
  { message: 'give exactly one of table, query' },
] as const;

export const PostgresSource = z.strictObject({ type: z.literal('postgres'), ...SqlSourceFields }).refine(...oneOfTableQuery);
export const MysqlSource = z.strictObject({ type: z.literal('mysql'), ...SqlSourceFields }).refine(...oneOfTableQuery);

export const CsvOptions = z.strictObject({
  header: z.boolean().default(true).describe('The first record holds the column names'),
  delimiter: z.string().length(1).default(','),
  quote: z.string().length(1).default('"'),
  nullValue: z.string().default('').describe('An unquoted field equal to this is NULL (default: the empty field)'),
});
export type CsvOptions = z.infer<typeof CsvOptions>;

/**
 * Keys for an S3-compatible store (OSS, MinIO, another account), as JSON
 * `{"accessKeyId": …, "secretAccessKey": …}` in a Secrets Manager secret or
 * in an environment variable. Without it, the AWS SDK's usual chain.
 */
export const S3Connection = z
  .strictObject({
    secretId: nonEmpty.optional().describe('Secrets Manager secret holding {"accessKeyId", "secretAccessKey"}'),
    urlFromEnv: nonEmpty.optional().describe('Environment variable holding {"accessKeyId", "secretAccessKey"} as JSON'),
  })
  .refine((c) => [c.secretId, c.urlFromEnv].filter((v) => v !== undefined).length === 1, { message: 'give exactly one of secretId, urlFromEnv' });
export type S3Connection = z.infer<typeof S3Connection>;

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
  endpoint: z.url({ protocol: /^https?$/ }).optional().describe('An S3-compatible endpoint (OSS, MinIO); default AWS S3'),
  region: nonEmpty.optional().describe("The store's region; default AWS_REGION"),
  forcePathStyle: z.boolean().optional().describe('Bucket in the path, not the host name; default true with an endpoint'),
  connection: S3Connection.optional().describe("Keys for the store; default the AWS SDK's credential chain"),
}).refine((s) => s.url.startsWith('s3://') || [s.endpoint, s.region, s.forcePathStyle, s.connection].every((v) => v === undefined), {
  path: ['url'],
  message: 'endpoint, region, forcePathStyle and connection apply to s3:// URLs only',
}).refine((s) => !(s.format === 'parquet' && s.compression === 'gzip'), {
  path: ['compression'],
  message: 'Parquet files compress their own pages; "gzip" applies to csv and jsonl',
});

export const Source = z.discriminatedUnion('type', [PostgresSource, MysqlSource, FilesSource]);
export type Source = z.infer<typeof Source>;
export type SqlSource = z.infer<typeof PostgresSource> | z.infer<typeof MysqlSource>;

/** What a SQL source reads, for messages: its table, or "source.query". */
export function sourceLabel(spec: { table?: string; query?: string }): string {
  return spec.table ?? 'source.query';
}
export type FilesSource = z.infer<typeof FilesSource>;

const identifier = z.string().regex(/^[A-Za-z0-9_$]{1,64}$/, { message: 'must be 1-64 letters, digits, _ or $' });

export const Ledger = z.strictObject({
  database: identifier.optional().describe("Database holding the ledger tables; default the target's"),
  prefix: z.string().regex(/^[A-Za-z0-9_]{0,32}$/).default('batchsync_'),
});
export type Ledger = z.infer<typeof Ledger>;

/** A target column given a constant or `${var}` value for every row; it takes no source column. */
export const ValueColumn = z.strictObject({
  name: nonEmpty,
  value: z.string().describe('The value of every row; may use ${vars}'),
});
export type ValueColumn = z.infer<typeof ValueColumn>;
const statusVariable = z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/, { message: 'must be a global status variable name, e.g. Threads_running' });
const Limits = z.record(statusVariable, z.number().min(0));

/** Signals of the target server's health that pause writes (maxLoad, lag) or fail the run (criticalLoad); see core/health.ts. */
export const Health = z
  .strictObject({
    maxLoad: Limits.default({}).describe('Global status variables and their limits, e.g. {"Threads_running": 25}: above any, writes pause'),
    criticalLoad: Limits.default({}).describe('Same shape: above any, the run fails before its next chunk'),
    maxLagMillis: z.number().int().min(1).optional().describe('Writes pause while lagQuery reports more lag than this'),
    lagQuery: z
      .string()
      .regex(/^\s*(select|show\s+(slave|replica)\s+status)\b/i, { message: 'must be a SELECT returning one number (the lag in seconds), or SHOW REPLICA STATUS' })
      .optional()
      .describe('A SELECT returning the lag in seconds (e.g. from a pt-heartbeat table)'),
    replicas: z.array(Connection).min(1).optional().describe('Connections lagQuery runs on; default the target'),
    checkIntervalMs: z.number().int().min(100).max(60_000).default(1000).describe('At most one check per interval for the whole job'),
  })
  .refine((h) => (h.maxLagMillis === undefined) === (h.lagQuery === undefined), { message: 'give maxLagMillis and lagQuery together' })
  .refine((h) => h.replicas === undefined || h.lagQuery !== undefined, { path: ['replicas'], message: 'replicas need a lagQuery to run' });
export type Health = z.infer<typeof Health>;

export const MysqlTarget = z.strictObject({
  type: z.literal('mysql'),
  connection: Connection,
  table: nonEmpty,
  columns: z
    .array(z.union([nonEmpty, ValueColumn]))
    .min(1)
    .optional()
    .describe("Target columns, position by position (a { name, value } entry takes no source column); default the source's names"),
  create: z.boolean().default(false).describe("Create the table from the source's schema when it does not exist (never altered)"),
  writeMode: z.enum(['insert', 'ignore', 'replace', 'upsert']).default('insert'),
  loadMode: z.enum(['append', 'truncate', 'swap']).default('append'),
  preSql: z.array(nonEmpty).default([]),
  postSql: z.array(nonEmpty).default([]),
  batchRows: z.number().int().min(1).max(1_000_000).optional().describe('Rows per chunk transaction; default chosen for speed'),
  emptyAsNull: z.boolean().default(true).describe('An empty string into a non-string column is NULL'),
  ledger: Ledger.default({ prefix: 'batchsync_' }),
  health: Health.optional(),
});
export type MysqlTarget = z.infer<typeof MysqlTarget>;

export const MIN_ROWS_PER_SECOND = 1;
export const MIN_BYTES_PER_SECOND = 1024;

export const Channel = z.strictObject({
  maxConcurrency: z.number().int().min(1).max(1000).default(2),
  bytesPerSecond: z.number().min(MIN_BYTES_PER_SECOND).nullable().default(null),
  rowsPerSecond: z.number().min(MIN_ROWS_PER_SECOND).nullable().default(null),
  dirtyRecordLimit: z.number().int().min(0).nullable().default(null),
  dirtyRecordsStored: z.number().int().min(0).default(10_000).describe('Dirty records kept in full per run; all are counted'),
  distributed: z.boolean().default(true),
  maxReceiveCount: z.number().int().min(1).max(1000).default(5).describe('Deliveries of a range before it goes to the dead-letter queue'),
});
export type Channel = z.infer<typeof Channel>;

export const Schedule = z.strictObject({
  cron: nonEmpty.describe('EventBridge Scheduler cron fields: minutes hours day-of-month month day-of-week year'),
  timezone: TimeZone.optional(),
});

export const S3Trigger = z.strictObject({
  type: z.literal('s3'),
  bucket: nonEmpty,
  prefix: z.string().default(''),
});
export type S3Trigger = z.infer<typeof S3Trigger>;

const EventPath = z.string().regex(EVENT_PATH, { message: 'must be a path into the event, like $.detail.jobName' });

/** A run per matching EventBridge event (an upstream Glue job, state machine, query, or the user's own put-events). */
export const EventTrigger = z.strictObject({
  type: z.literal('event'),
  pattern: z
    .record(z.string(), z.unknown())
    .check((ctx) => {
      for (const problem of checkPattern(ctx.value, '')) {
        const [at, message] = [problem.slice(0, problem.indexOf(': ')), problem.slice(problem.indexOf(': ') + 2)];
        ctx.issues.push({ code: 'custom', message: at ? `${at.slice(1)}: ${message}` : message, input: ctx.value });
      }
    })
    .transform((p) => p as EventPattern)
    .describe('An EventBridge event pattern'),
  bus: nonEmpty.default('default').describe('The event bus the rule is on: "default" or a bus name'),
  logicalTime: EventPath.default('$.time').describe("Where the run's logical time is in the event"),
  vars: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), EventPath).default({}).describe('Variables taken from event fields by path'),
});
export type EventTrigger = z.infer<typeof EventTrigger>;

export const Trigger = z.discriminatedUnion('type', [S3Trigger, EventTrigger]);
export type Trigger = z.infer<typeof Trigger>;

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

/** The keys the schema knows at `path` (every option of a union): what a mistyped key is compared with. */
function keysAt(schema: z.core.$ZodType, path: readonly PropertyKey[]): string[] {
  const def = schema._zod.def as unknown as Record<string, unknown> & { type: string };
  switch (def.type) {
    case 'object': {
      const shape = def.shape as Record<string, z.core.$ZodType>;
      if (!path.length) return Object.keys(shape);
      const next = shape[String(path[0])];
      return next ? keysAt(next, path.slice(1)) : [];
    }
    case 'union':
      return [...new Set((def.options as z.core.$ZodType[]).flatMap((o) => keysAt(o, path)))];
    case 'array':
      return path.length && typeof path[0] === 'number' ? keysAt(def.element as z.core.$ZodType, path.slice(1)) : [];
    case 'optional':
    case 'default':
    case 'nullable':
    case 'prefault':
      return keysAt(def.innerType as z.core.$ZodType, path);
    default:
      return [];
  }
}

/** Each problem of a parse as `path: message`, unknown keys named one by one (with the known key they likely meant). */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => `${formatPath([...issue.path, key])}: unknown key${didYouMean(key, keysAt(JobSpec, issue.path))}`)
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
    throw new JobError(`${where}: invalid JSON${jsonErrorAt(text, (error as Error).message)}`);
  }
  const problems = checkJob(value);
  if (problems.length) throw new JobFileError(where, problems);
  return JobSpec.parse(value);
}

/** `JSON.parse`'s message with its character position turned into a line and column a person can find. */
function jsonErrorAt(text: string, message: string): string {
  const at = /\s*(?:in JSON )?at position (\d+)(?: \(line \d+ column \d+\))?/.exec(message);
  const reason = (at ? message.slice(0, at.index) + message.slice(at.index + at[0].length) : message).replace(/ in JSON$/, '');
  const position = at ? Number(at[1]) : /end of JSON input/.test(message) ? text.length : null;
  if (position === null) return `: ${reason}`;
  const before = text.slice(0, position).split('\n');
  return ` at line ${before.length}, column ${before[before.length - 1].length + 1}: ${reason}`;
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
