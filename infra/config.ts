import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { z } from 'zod';
import { formatIssues } from '../functions/core/job-spec.ts';

/**
 * The deployment's settings, each from the CDK context (`-c key=value` or
 * cdk.json) or else from the environment variable named beside it. Parsed
 * once; the stack trusts the result.
 */

/** Where each setting may come from: its context key and its environment variable. */
export const SETTINGS = {
  name: 'BATCHSYNC_NAME',
  jobsDir: 'BATCHSYNC_JOBS_DIR',
  vpcId: 'BATCHSYNC_VPC_ID',
  subnetIds: 'BATCHSYNC_SUBNET_IDS',
  securityGroupIds: 'BATCHSYNC_SECURITY_GROUP_IDS',
  consumerTimeoutSeconds: 'BATCHSYNC_CONSUMER_TIMEOUT_SECONDS',
  consumerMemoryMb: 'BATCHSYNC_CONSUMER_MEMORY_MB',
  logRetentionDays: 'BATCHSYNC_LOG_RETENTION_DAYS',
  alertEmail: 'BATCHSYNC_ALERT_EMAIL',
  stuckRunHours: 'BATCHSYNC_STUCK_RUN_HOURS',
} as const;

/** `a,b` from the command line or the environment, or a JSON array from cdk.json. */
const IdList = z
  .union([z.array(z.string()), z.string()])
  .transform((v) => (Array.isArray(v) ? v : v.split(',')).map((s) => s.trim()).filter((s) => s !== ''));

/** The retention periods CloudWatch Logs accepts, in days (9999: forever). */
const RETENTION_DAYS = Object.values(RetentionDays).filter((d): d is number => typeof d === 'number');

const Int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

export const DeployConfig = z
  .object({
    /** Names the stack, the event bus, the metrics namespace and (as `name-`) every queue. */
    name: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,19}$/, { message: 'must be 1-20 of a-z, 0-9 and -, starting with a letter' })
      .default('batchsync'),
    jobsDir: z.string().min(1).default('jobs'),
    vpcId: z.string().regex(/^vpc-[0-9a-f]+$/, { message: 'must be a VPC id (vpc-…)' }).optional(),
    subnetIds: IdList.pipe(z.array(z.string().regex(/^subnet-[0-9a-f]+$/, { message: 'must be subnet ids (subnet-…)' }))).optional(),
    securityGroupIds: IdList.pipe(z.array(z.string().regex(/^sg-[0-9a-f]+$/, { message: 'must be security group ids (sg-…)' }))).optional(),
    /** The consumer's timeout; a range not done by then is handed back and continued by another invocation. */
    consumerTimeoutSeconds: Int(60, 900).default(900),
    consumerMemoryMb: Int(256, 10240).default(1024),
    logRetentionDays: z.coerce
      .number()
      .refine((d) => RETENTION_DAYS.includes(d), { message: `must be one of CloudWatch Logs' retention periods: ${RETENTION_DAYS.join(', ')}` })
      .default(30),
    /** Subscribed to the alerts topic (alarms and failed runs). */
    alertEmail: z.email({ message: 'must be an e-mail address' }).optional(),
    /** A run not ended after this many hours is stuck: counted by the sweep (metric StuckRuns) and alarmed. */
    stuckRunHours: z.coerce.number().positive().max(24 * 14).default(6),
  })
  .superRefine((c, ctx) => {
    const given = [c.vpcId, c.subnetIds?.length, c.securityGroupIds?.length].filter(Boolean).length;
    if (given !== 0 && given !== 3) {
      ctx.addIssue({ code: 'custom', path: ['vpcId'], message: 'give vpcId, subnetIds and securityGroupIds together (or none of them)' });
    }
  });
export type DeployConfig = z.infer<typeof DeployConfig>;

/** The VPC placement, when the functions run in one. */
export function vpcOf(config: DeployConfig): { vpcId: string; subnetIds: string[]; securityGroupIds: string[] } | null {
  if (!config.vpcId || !config.subnetIds?.length || !config.securityGroupIds?.length) return null;
  return { vpcId: config.vpcId, subnetIds: config.subnetIds, securityGroupIds: config.securityGroupIds };
}

/** A setting that cannot be used; the message names the context key. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Reads the settings: for each, the context value when there is one, else
 * the environment variable. Throws a ConfigError naming every bad setting.
 */
export function readConfig(context: (key: string) => unknown, env: Record<string, string | undefined>): DeployConfig {
  const raw: Record<string, unknown> = {};
  for (const [key, variable] of Object.entries(SETTINGS)) {
    const value = context(key) ?? env[variable];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  const parsed = DeployConfig.safeParse(raw);
  if (!parsed.success) throw new ConfigError(`bad deployment setting: ${formatIssues(parsed.error.issues).join('; ')}`);
  return parsed.data;
}
