// `spamgate queue list|show|flush|remove|hold|release`: works on the spool directory, with or without a
// running instance. With one running (live pid in <spool>/lock), flush, remove, hold and release are
// handed to it as request files in <spool>/control that its scheduler applies on the next scan
// (queue.scan_interval) and deletes, so a message in flight is never pulled from under a delivery;
// otherwise the files are changed directly, under the spool's lock (an instance does not start meanwhile).
import { open, readdir, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { loadFromArgs } from './load-args.ts';
import type { ControlRequest, MessageOp } from '../queue/control.ts';
import { age, idsOf, request, utcDate, waitSeconds } from './control-client.ts';
import { runningPid } from '../queue/spool-lock.ts';
import { releasePidLock, takePidLock } from '../util/pid-lock.ts';
import { ID_PATTERN, idTime, initialState, listIds, msgFile, progressFile, readEnvelopeFile, readMessageFile, readStateFile, spoolPaths, stateFile, type DeliveryState, type SpoolPaths } from '../queue/spool-format.ts';
import { spoolDir } from '../queue/spool.ts';
import { headerSection } from '../queue/dsn.ts';
import type { QueueEnvelope } from '../queue/types.ts';
import { UsageError, type Command, type CommandIo } from './types.ts';
import { boundedText, LOGGED_REPLY_MAX } from '../util/reply-text.ts';

const USAGE = `usage: spamgate queue list [--json] | show ID | flush [ID...] | remove ID... | hold ID... | release ID...
       [--wait SECONDS] [--config FILE] [--data-dir DIR]

  list     one line per message: id, age, size, sender, recipients (pending/total), attempts,
           next attempt ("held" when on hold), last error (--json: one JSON object per line, with
           receivedAt as show gives it and receivedAtMs, the same time in epoch milliseconds: the
           envelope's, or the time in the id when the envelope holds none)
  show     when it came, the next and the last attempt (RFC 3339, UTC), the envelope and per-recipient
           state as stored (their times in epoch milliseconds) and the message headers
  flush    retry every message (or those named) now; messages on hold stay on hold
  remove   delete messages without bouncing them
  hold     keep messages from delivery (no attempts, delay warnings or expiry) until released
  release  take messages off hold: tried at once; one older than queue.max_age that still
           cannot be delivered then is returned to its sender

ID... may be "-": the ids are read from standard input, one a line (e.g. picked from list --json).
With a running instance, flush, remove, hold and release are requests it applies within
queue.scan_interval; the command waits up to --wait seconds (default 10) for it to confirm.`;

const MESSAGE_OPS: readonly string[] = ['remove', 'hold', 'release'] satisfies MessageOp[];

/** What list shows of every message; --json also gives when it came, as show does (RFC 3339) and as stored (epoch ms). */
function base(id: string, envelope: QueueEnvelope, size: number, now: number) {
  const received = receivedMs(id, envelope);
  return {
    id,
    age: age(now - (received ?? now)),
    size,
    from: envelope.mailFrom || '<>',
    recipients: envelope.rcptTo,
    receivedAt: received === undefined ? undefined : utcDate(received),
    // the same time as receivedAt (epoch ms), from the same fallback: never 0 beside a date taken from the id
    receivedAtMs: received,
  };
}

/**
 * When the message came, in epoch ms: the envelope's time, else (none, 0, or one no date holds) the time in its
 * id, else undefined. One source for list's age, receivedAt and receivedAtMs and show's receivedAt.
 */
function receivedMs(id: string, envelope: QueueEnvelope): number | undefined {
  if (envelope.receivedAt && utcDate(envelope.receivedAt) !== undefined) return envelope.receivedAt;
  const fromId = idTime(id);
  return utcDate(fromId) !== undefined ? fromId : undefined;
}

/** When the message came, as RFC 3339 UTC (show and list --json), from receivedMs. */
function receivedDate(id: string, envelope: QueueEnvelope): string | undefined {
  const ms = receivedMs(id, envelope);
  return ms === undefined ? undefined : utcDate(ms);
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
    held: state?.held === true,
    nextAttempt: nextAttemptOf(state),
    // a state file written before replies were bounded may hold a next hop's whole reply
    lastError: boundedText(state?.lastError ?? '', LOGGED_REPLY_MAX),
  };
}

/** When the next attempt is due: "held", "now" (none yet, or flushed) or an RFC 3339 UTC date. */
function nextAttemptOf(state: DeliveryState | undefined): string {
  if (state?.held) return 'held';
  if (!state || state.nextAttemptAt <= 0) return 'now';
  return utcDate(state.nextAttemptAt) ?? String(state.nextAttemptAt);
}

/** Writes a state file as the server does (temp file, then rename; 0600). */
async function writeState(paths: SpoolPaths, id: string, state: DeliveryState): Promise<void> {
  const tmp = path.join(paths.tmp, `cli-${process.pid}-${id}.state`);
  // durable before and after the rename, as the server's own saves: after a power loss the state is the old or
  // the new one, never an empty file (which would start the message over: a duplicate delivery)
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(JSON.stringify(state));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, stateFile(paths, id));
  const dir = await open(paths.state, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

export const queueCommand: Command = {
  name: 'queue',
  summary: 'list, show, flush, remove, hold or release queued messages',
  usage: USAGE,
  valueFlags: ['wait'],
  booleanFlags: ['json'],
  async run(args, io) {
    const [sub, ...named] = args.positional;
    if (!sub) throw new UsageError('expected: queue list|show ID|flush [ID...]|remove ID...|hold ID...|release ID...');
    if (!['list', 'show', 'flush', ...MESSAGE_OPS].includes(sub)) throw new UsageError(`unknown queue sub-command ${JSON.stringify(sub)}: list, show, flush, remove, hold or release`);
    if (sub === 'list' && named.length) throw new UsageError(`queue list takes no message id (queue show ${named[0] ?? ''})`);
    if (sub === 'show' && named.length !== 1) throw new UsageError('queue show needs one message id');
    if (MESSAGE_OPS.includes(sub) && !named.length) throw new UsageError(`queue ${sub} needs a message id (or "-" to read ids from standard input)`);
    if ((sub === 'list' || sub === 'show') && args.flags.has('wait')) throw new UsageError('--wait applies to flush, remove, hold and release');
    waitSeconds(args);
    const ids = await idsOf(named, io);
    for (const m of ids) if (!ID_PATTERN.test(m)) throw new UsageError(`not a queue id: ${JSON.stringify(m.length > 64 ? `${m.slice(0, 64)}…` : m)}`);
    if (MESSAGE_OPS.includes(sub) && !ids.length) throw new UsageError('no message id on standard input');
    const loaded = loadFromArgs(args, false);
    const paths = spoolPaths(spoolDir(loaded.dataDir));
    const now = Date.now();
    const exists = async (m: string): Promise<boolean> => Boolean(await stat(msgFile(paths, m)).catch(() => undefined));
    const present: string[] = [];
    let missing = 0;
    for (const m of ids) {
      if (await exists(m)) present.push(m);
      else {
        io.stderr.write(`spamgate: no message ${m} in ${paths.root}\n`);
        missing++;
      }
    }
    if (ids.length && !present.length) return 1;
    const id = present[0];
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
        // the times readable (RFC 3339, UTC; nextAttempt as list --json gives it); envelope and state stay as stored,
        // their times in epoch milliseconds for scripts that read them
        const times = {
          receivedAt: receivedDate(m, envelope),
          nextAttempt: nextAttemptOf(state),
          ...(state?.lastAttemptAt !== undefined ? { lastAttemptAt: utcDate(state.lastAttemptAt) } : {}),
        };
        io.stdout.write(`${JSON.stringify({ id: m, ...times, size: message.length, envelope, state: state ?? null }, null, 2)}\n\n`);
        io.stdout.write(headerSection(message).toString('utf8'));
        return 0;
      }
      case 'flush':
      case 'remove':
      case 'hold':
      case 'release': {
        const op = sub;
        const reqs: ControlRequest[] = op === 'flush' ? (present.length ? present.map((m) => ({ op, id: m })) : [{ op }]) : present.map((m) => ({ op, id: m }));
        // a named message on hold is not flushed (held mail stays held): said so, not reported as done
        const onHold = async (req: ControlRequest): Promise<string | undefined> =>
          req.op === 'flush' && req.id !== undefined && (await isHeld(paths, req.id)) ? HELD_NOT_FLUSHED : undefined;
        const pid = await runningPid(paths);
        if (pid !== undefined) return (await request(paths, reqs, args, io, pid, onHold)) || (missing ? 1 : 0);
        // No instance: the files are changed here, holding the spool's lock, so an instance that starts meanwhile
        // neither loads a state about to change nor has its own state overwritten by a stale one (it refuses to
        // start until this is done); one that took the lock first gets the requests instead.
        const lock = await takePidLock(paths.lock).catch((err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOENT') return undefined; // no spool yet: nothing queued
          throw err;
        });
        if (lock && !lock.ok) return (await request(paths, reqs, args, io, lock.pid, onHold)) || (missing ? 1 : 0);
        try {
          return (await changeStopped(paths, op, present, io)) || (missing ? 1 : 0);
        } finally {
          if (lock) await releasePidLock(paths.lock);
        }
      }
      default:
        throw new UsageError(`unknown queue sub-command: ${sub}`);
    }
  },
};

/** flush, remove, hold or release with no instance running (the caller holds the spool's lock); the exit code. */
async function changeStopped(paths: SpoolPaths, op: 'flush' | MessageOp, present: readonly string[], io: CommandIo): Promise<number> {
  if (op === 'remove') {
    for (const m of present) {
      await unlink(msgFile(paths, m)).catch(() => undefined);
      await unlink(stateFile(paths, m)).catch(() => undefined);
      await unlink(progressFile(paths, m)).catch(() => undefined);
      io.stdout.write(`removed ${m}\n`);
    }
    return 0;
  }
  if (op === 'hold' || op === 'release') {
    for (const m of present) {
      // no state yet (never tried) or a damaged one (it starts over anyway): from the envelope
      const state = (await readStateFile(stateFile(paths, m)).catch(() => undefined)) ?? initialState((await readEnvelopeFile(msgFile(paths, m))).envelope);
      if (op === 'hold') state.held = true;
      else {
        delete state.held;
        state.nextAttemptAt = 0;
      }
      await writeState(paths, m, state);
      io.stdout.write(`${op === 'hold' ? 'on hold' : 'released'}: ${m} (no running instance: applies at the next start)\n`);
    }
    return 0;
  }
  // Stopped: make the chosen messages due at the next start (those on hold stay on hold).
  const targets = present.length ? present : await listIds(paths);
  const held: string[] = [];
  for (const m of targets) {
    // a damaged state starts over (due at once) anyway
    const state = await readStateFile(stateFile(paths, m)).catch(() => undefined);
    if (state?.held) held.push(m);
    if (!state || state.nextAttemptAt === 0 || state.held) continue;
    await writeState(paths, m, { ...state, nextAttemptAt: 0 });
  }
  io.stdout.write(`flush: ${targets.length - held.length} message(s) due at next start (no running instance)${held.length && !present.length ? `; ${held.length} on hold stay held` : ''}\n`);
  // a message named that is on hold: nothing done for it, as with a running instance
  if (!present.length) return 0;
  for (const m of held) io.stderr.write(`spamgate: flush ${m}: not flushed: ${HELD_NOT_FLUSHED}\n`);
  return held.length ? 1 : 0;
}

/** Why a named message on hold was not flushed. */
const HELD_NOT_FLUSHED = 'the message is on hold (held mail stays held; `spamgate queue release ID` sends it)';

/** The message's state says it is on hold (a missing or damaged state: not). */
async function isHeld(paths: SpoolPaths, id: string): Promise<boolean> {
  return (await readStateFile(stateFile(paths, id)).catch(() => undefined))?.held === true;
}
