// What `spamgate queue` and `spamgate quarantine` share: message ids named or read from standard input, --wait,
// ages for humans, and requests handed to a running instance through <spool>/control (see queue/control.ts).
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { requestLabel, writeControlRequest, type ControlRequest } from '../queue/control.ts';
import type { SpoolPaths } from '../queue/spool-format.ts';
import { UsageError, type CommandArgs, type CommandIo } from './types.ts';

/** Ids read from standard input at most (one a line). */
const MAX_STDIN_IDS = 100_000;
/** Bytes read from standard input at most: that many ids with room for spaces and CRLF. */
const MAX_STDIN_BYTES = MAX_STDIN_IDS * 40;

/** An age for humans: 42s, 17m, 5h, 3d. */
/**
 * A time in ms since the epoch as an RFC 3339 UTC date (as list --json gives it), or undefined for a number no
 * date holds (a file edited by hand or damaged: finite, but past ±8.64e15 ms), which would make toISOString throw.
 */
export function utcDate(ms: number): string | undefined {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

export function age(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

async function waitGone(file: string, seconds: number): Promise<boolean> {
  // Bounded poll: 10 checks a second for at most `seconds`.
  for (let i = 0; i < seconds * 10; i++) {
    if (!(await stat(file).catch(() => undefined))) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

/**
 * Hands requests to the running instance, then waits (one deadline for all) until it has applied them. `failed`,
 * when given, says of a request the instance has picked up why it did not have its effect (undefined: it did).
 */
export async function request(paths: SpoolPaths, reqs: readonly ControlRequest[], args: CommandArgs, io: CommandIo, pid: number, failed?: (req: ControlRequest) => Promise<string | undefined>): Promise<number> {
  const files: Array<[ControlRequest, string]> = [];
  for (const req of reqs) files.push([req, await writeControlRequest(paths, req)]);
  const deadline = Date.now() + waitSeconds(args) * 1000;
  let code = 0;
  for (const [req, file] of files) {
    if (await waitGone(file, Math.max(0, (deadline - Date.now()) / 1000))) {
      const why = await failed?.(req);
      if (why !== undefined) {
        io.stderr.write(`spamgate: ${requestLabel(req)}: not done by running instance (pid ${pid}): ${why}\n`);
        code = 1;
        continue;
      }
      io.stdout.write(`${requestLabel(req)}: done by running instance (pid ${pid})\n`);
      continue;
    }
    io.stderr.write(`spamgate: request left in ${path.relative(process.cwd(), file)}; pid ${pid} has not picked it up yet\n`);
    code = 1;
  }
  return code;
}

/** Standard input as text, refused once it passes `max` bytes (read no further). */
async function readCapped(stream: NodeJS.ReadableStream, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += b.length;
    if (size > max) throw new UsageError(`more than ${max} bytes on standard input: expected message ids, one a line (at most ${MAX_STDIN_IDS})`);
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The ids named, or read from standard input for "-" (one a line). */
export async function idsOf(named: readonly string[], io: CommandIo): Promise<string[]> {
  if (!named.includes('-')) return [...named];
  if (named.length > 1) throw new UsageError('"-" (ids from standard input) goes alone');
  const lines = (await readCapped(io.stdin, MAX_STDIN_BYTES)).split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
  if (lines.length > MAX_STDIN_IDS) throw new UsageError(`more than ${MAX_STDIN_IDS} ids on standard input`);
  return lines;
}

/** --wait SECONDS: a number from 0 to 3600 (default 10). */
export function waitSeconds(args: CommandArgs): number {
  const text = args.flags.get('wait');
  if (typeof text !== 'string') return 10;
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < 0 || n > 3600) throw new UsageError(`--wait: expected seconds from 0 to 3600, found ${JSON.stringify(text)}`);
  return n;
}
