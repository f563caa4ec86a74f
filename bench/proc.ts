/**
 * Peak resident memory of a `batchsync run` and of its consumer workers, read
 * from /proc (Linux only). VmHWM is the kernel's own high-water mark of a
 * process's RSS, so sampling it every 100 ms misses no spike; what sampling can
 * miss is a worker's last growth between its final poll and its exit.
 */
import { readdir, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

export interface PeakRss {
  /** The largest VmHWM of any consumer worker seen, in MB; null when none was seen. */
  consumerMb: number | null;
  /** Distinct consumer worker processes seen (more than --workers means some were replaced). */
  consumers: number;
  /** The run process's own VmHWM in MB; null when it exited before the first poll. */
  runMb: number | null;
}

export interface RssWatch {
  stop(): Promise<PeakRss>;
}

const KB_PER_MB = 1024;

/** Polls the run process and its worker children until stopped; `wrapped`: `pid` is /usr/bin/time, whose child is the run. */
export function watchPeakRss(pid: number, wrapped = false, everyMs = 100): RssWatch {
  const consumerKb = new Map<number, number>();
  let runKb: number | null = null;
  let stopped = false;
  let runPid: number | null = wrapped ? null : pid;

  const poll = async () => {
    runPid ??= (await childrenOf(pid))[0] ?? null;
    if (runPid === null) return;
    const own = await peakRssKb(runPid);
    if (own !== null) runKb = Math.max(runKb ?? 0, own);
    for (const pid of await workerChildren(runPid)) {
      const kb = await peakRssKb(pid);
      if (kb !== null) consumerKb.set(pid, Math.max(consumerKb.get(pid) ?? 0, kb));
    }
  };
  const loop = (async () => {
    while (!stopped) {
      await poll();
      await sleep(everyMs);
    }
  })();

  return {
    async stop() {
      stopped = true;
      await loop;
      const peaks = [...consumerKb.values()];
      return {
        consumerMb: peaks.length > 0 ? Math.max(...peaks) / KB_PER_MB : null,
        consumers: peaks.length,
        runMb: runKb === null ? null : runKb / KB_PER_MB,
      };
    },
  };
}

/** A file of /proc, or null when its process has exited meanwhile (the normal race of scanning /proc). */
async function readProc(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return null;
  }
}

/** VmHWM in kB; null for a process that is gone or a zombie (which has no memory left to report). */
async function peakRssKb(pid: number): Promise<number | null> {
  const status = await readProc(`/proc/${pid}/status`);
  const match = status?.match(/^VmHWM:\s+(\d+) kB$/m);
  return match ? Number(match[1]) : null;
}

/** The parent pid from /proc/PID/stat; the command name before it may hold spaces and parentheses. */
function parentPid(stat: string): number {
  const [, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(ppid);
}

/**
 * Children of `runPid` whose arguments include `worker`. A child is checked
 * afresh on every poll: between fork and exec it still shows the parent's
 * command line, so an early "not a worker" would be wrong.
 */
async function workerChildren(runPid: number): Promise<number[]> {
  const workers = await Promise.all(
    (await childrenOf(runPid)).map(async (pid) => {
      const cmdline = await readProc(`/proc/${pid}/cmdline`);
      return cmdline?.split('\0').includes('worker') ? pid : null;
    }),
  );
  return workers.filter((pid): pid is number => pid !== null);
}

async function childrenOf(parent: number): Promise<number[]> {
  const pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name)).map(Number);
  const children = await Promise.all(
    pids.map(async (pid) => {
      const stat = await readProc(`/proc/${pid}/stat`);
      return stat !== null && parentPid(stat) === parent ? pid : null;
    }),
  );
  return children.filter((pid): pid is number => pid !== null);
}
