// Who a pid is, beyond the number: a pid written into a lock file can belong to an unrelated process after a
// crash and a reboot (or plain pid reuse). On Linux the boot id and the process start time (in clock ticks
// since boot, /proc/<pid>/stat field 22) tell a lock's own process from a newcomer with the same pid.
import { readFileSync } from 'node:fs';

function readBootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** `<boot id>/<start time>` of a running process, or undefined where /proc does not tell (not Linux, gone). */
export function processIdentity(pid: number): string | undefined {
  const bootId = readBootId();
  if (!bootId) return undefined;
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces or ")": fields resume after the last ")".
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const startTime = fields[19]; // field 22 overall; fields[0] here is field 3
  return startTime ? `${bootId}/${startTime}` : undefined;
}

/** Whether a process with this pid exists (EPERM: it does, owned by another user). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether the process that wrote `pid` (and, when recorded, `identity`) into a lock still runs. A live pid
 * whose identity differs from the recorded one is a different process: the lock is stale.
 */
export function lockHolderAlive(pid: number, identity: string | undefined): boolean {
  if (!pidAlive(pid)) return false;
  if (!identity) return true;
  const now = processIdentity(pid);
  return now === undefined || now === identity;
}
