// `spamgate queue list|show|flush|remove`: works on the spool directory, with or without a running
// instance. With one running (live pid in <spool>/lock), flush and remove are handed to it as
// request files in <spool>/control that its scheduler applies on the next scan (queue.scan_interval)
// and deletes, so a message in flight is never pulled from under a delivery; otherwise the files
// are changed directly.
import { readdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadFromArgs } from './load-args.ts';
import { writeControlRequest, type ControlRequest } from '../queue/control.ts';
import { runningPid } from '../queue/spool-lock.ts';
import { ID_PATTERN, idTime, listIds, msgFile, readEnvelopeFile, readMessageFile, readStateFile, spoolPaths, stateFile, type SpoolPaths } from '../queue/spool-format.ts';
import { spoolDir } from '../queue/spool.ts';
import { headerSection } from '../queue/dsn.ts';
import type { QueueEnvelope } from '../queue/types.ts';
import { UsageError, type Command, type CommandArgs, type CommandIo } from './types.ts';

const USAGE = `usage: spamgate queue list [--json] | show ID | flush [ID] [--wait SECONDS] | remove ID [--wait SECONDS]  [--config FILE] [--data-dir DIR]

  list     one line per message: id, age, size, sender, recipients (pending/total), attempts,
           next attempt, last error (--json: one JSON object per line)
  show     envelope, per-recipient state and the message headers
  flush    retry every message (or one) now
  remove   delete a message without bouncing it

With a running instance, flush and remove are requests it applies within queue.scan_interval;
the command waits up to --wait seconds (default 10) for it to confirm.`;

function age(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

function base(id: string, envelope: QueueEnvelope, size: number, now: number) {
  return { id, age: age(now - (envelope.receivedAt || idTime(id))), size, from: envelope.mailFrom || '<>', recipients: envelope.rcptTo };
}

const isMissing = (err: unknown): boolean => (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';

async function summary(paths: SpoolPaths, id: string, now: number) {
  const { envelope, size } = await readEnvelopeFile(msgFile(paths, id));
  // A damaged state is dropped by the running instance at its next start (the message starts over).
  const state = await readStateFile(stateFile(paths, id)).catch((err: unknown) => (isMissing(err) ? undefined : 'damaged' as const));
  if (state === 'damaged') return { ...base(id, envelope, size, now), pending: envelope.rcptTo.length, attempts: 0, nextAttempt: 'now', lastError: 'delivery state damaged: starts over at the next start' };
  const rcpts = state ? Object.values(state.recipients) : envelope.rcptTo.map(() => ({ status: 'pending' }));
  return {
    ...base(id, envelope, size, now),
    pending: rcpts.filter((r) => r.status === 'pending').length,
    attempts: state?.attempts ?? 0,
    nextAttempt: state && state.nextAttemptAt > 0 ? new Date(state.nextAttemptAt).toISOString() : 'now',
    lastError: state?.lastError ?? '',
  };
}

async function waitGone(file: string, seconds: number): Promise<boolean> {
  // Bounded poll: 10 checks a second for at most `seconds`.
  for (let i = 0; i < seconds * 10; i++) {
    if (!(await stat(file).catch(() => undefined))) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

async function request(paths: SpoolPaths, req: ControlRequest, args: CommandArgs, io: CommandIo, pid: number): Promise<number> {
  const file = await writeControlRequest(paths, req);
  if (await waitGone(file, waitSeconds(args))) {
    io.stdout.write(`${req.op}${req.id ? ` ${req.id}` : ''}: done by running instance (pid ${pid})\n`);
    return 0;
  }
  io.stderr.write(`spamgate: request left in ${path.relative(process.cwd(), file)}; pid ${pid} has not picked it up yet\n`);
  return 1;
}

/** --wait SECONDS: a number from 0 to 3600 (default 10). */
function waitSeconds(args: CommandArgs): number {
  const text = args.flags.get('wait');
  if (typeof text !== 'string') return 10;
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < 0 || n > 3600) throw new UsageError(`--wait: expected seconds from 0 to 3600, found ${JSON.stringify(text)}`);
  return n;
}

export const queueCommand: Command = {
  name: 'queue',
  summary: 'list, show, flush or remove queued messages',
  usage: USAGE,
  valueFlags: ['wait'],
  booleanFlags: ['json'],
  async run(args, io) {
    const [sub, id, extra] = args.positional;
    if (!sub || extra !== undefined) throw new UsageError('expected: queue list|show ID|flush [ID]|remove ID');
    if (!['list', 'show', 'flush', 'remove'].includes(sub)) throw new UsageError(`unknown queue sub-command ${JSON.stringify(sub)}: list, show, flush or remove`);
    if (sub === 'list' && id !== undefined) throw new UsageError(`queue list takes no message id (queue show ${id})`);
    if ((sub === 'show' || sub === 'remove') && !id) throw new UsageError(`queue ${sub} needs a message id`);
    if (id !== undefined && !ID_PATTERN.test(id)) throw new UsageError(`not a queue id: ${JSON.stringify(id)}`);
    if (sub !== 'flush' && sub !== 'remove' && args.flags.has('wait')) throw new UsageError('--wait applies to flush and remove');
    waitSeconds(args);
    const loaded = loadFromArgs(args, false);
    const paths = spoolPaths(spoolDir(loaded.dataDir));
    const now = Date.now();
    const exists = async (m: string): Promise<boolean> => Boolean(await stat(msgFile(paths, m)).catch(() => undefined));
    if (id !== undefined && sub !== 'list' && !(await exists(id))) {
      io.stderr.write(`spamgate: no message ${id} in ${paths.root}\n`);
      return 1;
    }
    switch (sub) {
      case 'list': {
        const ids = await listIds(paths);
        const json = args.flags.has('json');
        if (!json) io.stdout.write(['ID', 'AGE', 'SIZE', 'FROM', 'RCPTS', 'ATTEMPTS', 'NEXT', 'LAST ERROR'].join('\t') + '\n');
        for (const m of ids) {
          const s = await summary(paths, m, now).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))));
          if (s instanceof Error) {
            if (isMissing(s)) continue; // removed while listing
            // damaged: the server sets such a file aside in spool/corrupt at its next start
            if (json) io.stdout.write(JSON.stringify({ id: m, unreadable: s.message }) + '\n');
            else io.stdout.write(`${m}\tunreadable: ${s.message}\n`);
            continue;
          }
          if (json) io.stdout.write(JSON.stringify(s) + '\n');
          else io.stdout.write([s.id, s.age, s.size, s.from, `${s.recipients.join(',')} (${s.pending}/${s.recipients.length} pending)`, s.attempts, s.nextAttempt, s.lastError].join('\t') + '\n');
        }
        if (!json) io.stdout.write(`${ids.length} message(s)\n`);
        const damaged = (await readdir(paths.corrupt).catch(() => [] as string[])).filter((n) => n.endsWith('.msg')).length;
        if (damaged > 0) (json ? io.stderr : io.stdout).write(`${damaged} damaged message file(s) set aside in ${paths.corrupt} (not delivered; see the log)\n`);
        return 0;
      }
      case 'show': {
        const m = id as string;
        const { envelope, message } = await readMessageFile(msgFile(paths, m));
        const state = await readStateFile(stateFile(paths, m));
        io.stdout.write(`${JSON.stringify({ id: m, size: message.length, envelope, state: state ?? null }, null, 2)}\n\n`);
        io.stdout.write(headerSection(message).toString('utf8'));
        return 0;
      }
      case 'flush':
      case 'remove': {
        const req: ControlRequest = sub === 'flush' ? (id ? { op: 'flush', id } : { op: 'flush' }) : { op: 'remove', id: id as string };
        const pid = await runningPid(paths);
        if (pid !== undefined) return request(paths, req, args, io, pid);
        if (req.op === 'remove') {
          await unlink(msgFile(paths, req.id)).catch(() => undefined);
          await unlink(stateFile(paths, req.id)).catch(() => undefined);
          io.stdout.write(`removed ${req.id}\n`);
          return 0;
        }
        // Stopped: make the chosen messages due at the next start.
        const targets = req.id ? [req.id] : await listIds(paths);
        for (const m of targets) {
          // a damaged state starts over (due at once) anyway
          const state = await readStateFile(stateFile(paths, m)).catch(() => undefined);
          if (!state || state.nextAttemptAt === 0) continue;
          const tmp = path.join(paths.tmp, `flush-${process.pid}-${m}.state`);
          await writeFile(tmp, JSON.stringify({ ...state, nextAttemptAt: 0 }));
          await rename(tmp, stateFile(paths, m));
        }
        io.stdout.write(`flush: ${targets.length} message(s) due at next start (no running instance)\n`);
        return 0;
      }
      default:
        throw new UsageError(`unknown queue sub-command: ${sub}`);
    }
  },
};
