// `spamgate quarantine list|show|release|delete`: works on <data_dir>/quarantine with or without a running
// instance. As `spamgate queue` does, release and delete are handed to a running instance (live pid in the
// spool's lock) as request files in <spool>/control, applied at its next queue scan; with none running they
// are done here, under the spool's lock, a release going into the spool for the next start to deliver.
import { mkdir, stat, unlink } from 'node:fs/promises';
import { openFilterEnv } from '../bayes/cli-support.ts';
import { openFuzzyForCli } from '../fuzzy/cli-support.ts';
import type { LoadedConfig } from '../config/load.ts';
import { quarantineDir } from '../config/sections/quarantine.ts';
import { createRegistry } from '../metrics/registry.ts';
import { isQuarantineId, quarantineFile } from '../quarantine/format.ts';
import { releaseQuarantined } from '../quarantine/release.ts';
import type { ControlRequest, QuarantineOp } from '../queue/control.ts';
import { spoolPaths, type SpoolPaths } from '../queue/spool-format.ts';
import { runningPid } from '../queue/spool-lock.ts';
import { openSpool, spoolDir } from '../queue/spool.ts';
import { systemClock } from '../util/clock.ts';
import { silentLogger } from '../util/logger.ts';
import { releasePidLock, takePidLock } from '../util/pid-lock.ts';
import { idsOf, request, waitSeconds } from './control-client.ts';
import { loadFromArgs } from './load-args.ts';
import { listQuarantine, showQuarantined } from './quarantine-view.ts';
import { quarantineDigest } from './quarantine-digest.ts';
import { UsageError, type Command, type CommandArgs, type CommandIo } from './types.ts';

const USAGE = `usage: spamgate quarantine list [--json] | show ID [--raw] | release ID... [--learn] | delete ID...
       | digest [--now] [--dry-run]   [--wait SECONDS] [--config FILE] [--data-dir DIR]

  list     one line per message: id, age, sender, recipients, score, subject (--json: one JSON object per line)
  show     the metadata (time received in UTC, envelope, client, HELO, score, symbols with scores) and the message headers;
           --raw: the whole message as stored
  release  into the delivery queue, past the filter, to the quarantined recipients, with an
           X-Spamgate-Released header; --learn also teaches the Bayes filter the message as ham (and takes it out of the fuzzy store)
  delete   remove messages from the quarantine
  digest   a round of quarantine digests (quarantine.digest) to the local recipients with messages held since
           their last one: when due, or at once with --now; --dry-run prints them instead, changing nothing

ID... may be "-": the ids are read from standard input, one a line (e.g. picked from list --json).
With a running instance, release and delete are requests it applies within queue.scan_interval;
the command waits up to --wait seconds (default 10) for it to confirm.`;

const SUBS = ['list', 'show', 'release', 'delete', 'digest'] as const;
type Sub = (typeof SUBS)[number];

function checkUsage(sub: string | undefined, named: readonly string[], args: CommandArgs): Sub {
  if (!sub) throw new UsageError('expected: quarantine list|show ID|release ID...|delete ID...|digest');
  if (!(SUBS as readonly string[]).includes(sub)) throw new UsageError(`unknown quarantine sub-command ${JSON.stringify(sub)}: list, show, release, delete or digest`);
  const s = sub as Sub;
  if ((args.flags.has('now') || args.flags.has('dry-run')) && s !== 'digest') throw new UsageError('--now and --dry-run apply to digest');
  if (s === 'digest' && named.length) throw new UsageError('quarantine digest takes no message id');
  if (s === 'digest' && args.flags.has('dry-run') && args.flags.has('wait')) throw new UsageError('--wait applies to a digest round a running instance does, not to --dry-run');
  if (s === 'list' && named.length) throw new UsageError(`quarantine list takes no message id (quarantine show ${named[0] ?? ''})`);
  if (s === 'show' && named.length !== 1) throw new UsageError('quarantine show needs one message id');
  if ((s === 'release' || s === 'delete') && !named.length) throw new UsageError(`quarantine ${s} needs a message id (or "-" to read ids from standard input)`);
  if (args.flags.has('json') && s !== 'list') throw new UsageError('--json applies to list');
  if (args.flags.has('raw') && s !== 'show') throw new UsageError('--raw applies to show');
  if (args.flags.has('learn') && s !== 'release') throw new UsageError('--learn applies to release');
  if (args.flags.has('wait') && (s === 'list' || s === 'show')) throw new UsageError('--wait applies to release and delete');
  waitSeconds(args);
  return s;
}

export const quarantineCommand: Command = {
  name: 'quarantine',
  summary: 'list, show, release or delete quarantined messages',
  usage: USAGE,
  valueFlags: ['wait'],
  booleanFlags: ['json', 'raw', 'learn', 'now', 'dry-run'],
  finishesWithoutReader: true,
  async run(args, io) {
    const [first, ...named] = args.positional;
    const sub = checkUsage(first, named, args);
    if (sub === 'digest') return quarantineDigest(loadFromArgs(args, false), args, io);
    const ids = await idsOf(named, io);
    // an id becomes a file name: anything but the id form is refused before the file system sees it
    for (const m of ids) if (!isQuarantineId(m)) throw new UsageError(`not a quarantine id: ${JSON.stringify(m.length > 64 ? `${m.slice(0, 64)}…` : m)}`);
    if (sub !== 'list' && !ids.length) throw new UsageError('no message id on standard input');
    const loaded = loadFromArgs(args, false);
    const dir = quarantineDir(loaded.dataDir, loaded.config.quarantine);
    if (sub === 'list') return listQuarantine(dir, args.flags.has('json'), io, Date.now());
    const present: string[] = [];
    for (const m of ids) {
      if (await stat(quarantineFile(dir, m)).catch(() => undefined)) present.push(m);
      else io.stderr.write(`spamgate: no message ${m} in ${dir}\n`);
    }
    const missing = ids.length - present.length;
    if (!present.length) return 1;
    if (sub === 'show') return showQuarantined(dir, present[0] as string, args.flags.has('raw'), io);
    const learn = sub === 'release' && args.flags.has('learn');
    const op: QuarantineOp = sub === 'delete' ? 'qdelete' : learn ? 'qrelease_learn' : 'qrelease';
    const reqs: ControlRequest[] = present.map((id) => ({ op, id }));
    const paths = spoolPaths(spoolDir(loaded.dataDir));
    // the instance takes the file away once it has released or deleted the message; still there, it could not (its log says why)
    const stillThere = async (req: ControlRequest): Promise<string | undefined> =>
      req.id !== undefined && (await stat(quarantineFile(dir, req.id)).catch(() => undefined)) ? `${req.id} is still in the quarantine (see its log)` : undefined;
    const pid = await runningPid(paths);
    if (pid !== undefined) return (await request(paths, reqs, args, io, pid, stillThere)) || (missing ? 1 : 0);
    // No instance: done here holding the spool's lock, so one that starts meanwhile neither loads a half-made
    // change nor runs beside this (it refuses to start until this is done); one that took the lock first gets
    // the requests instead.
    await mkdir(paths.root, { recursive: true, mode: 0o700 });
    const lock = await takePidLock(paths.lock);
    if (!lock.ok) return (await request(paths, reqs, args, io, lock.pid, stillThere)) || (missing ? 1 : 0);
    let released: Buffer[] = [];
    try {
      if (sub === 'delete') await deleteStopped(dir, present, io);
      else released = await releaseStopped(dir, paths, present, io);
    } finally {
      await releasePidLock(paths.lock);
    }
    if (learn && !loaded.config.bayes.enabled) io.stderr.write('spamgate: bayes is off (bayes.enabled: false): nothing learned\n');
    else if (learn) await learnHam(args, released, io);
    if (learn && loaded.config.fuzzy.enabled) await unreport(loaded, released, io);
    return missing ? 1 : 0;
  },
};

async function deleteStopped(dir: string, present: readonly string[], io: CommandIo): Promise<void> {
  for (const id of present) {
    await unlink(quarantineFile(dir, id)).catch(() => undefined);
    io.stdout.write(`deleted ${id}\n`);
  }
}

/** Into the spool (the caller holds its lock); delivered at the next start. Returns the messages released. */
async function releaseStopped(dir: string, paths: SpoolPaths, present: readonly string[], io: CommandIo): Promise<Buffer[]> {
  const spool = await openSpool({ dir: paths.root, fsync: true, clock: systemClock, registry: createRegistry(false), log: silentLogger, exclusive: false });
  const out: Buffer[] = [];
  try {
    for (const id of present) {
      const r = await releaseQuarantined(dir, id, spool, Date.now());
      out.push(r.message);
      io.stdout.write(`released ${id}: queued as ${r.queueId} for ${r.recipients.join(', ')} (no running instance: delivered at the next start)\n`);
    }
  } finally {
    await spool.close();
  }
  return out;
}

/** --learn with no instance running: what the released messages match is taken out of the fuzzy store. */
async function unreport(loaded: LoadedConfig, messages: readonly Buffer[], io: CommandIo): Promise<void> {
  const fuzzy = await openFuzzyForCli(loaded, { learns: true, lock: true });
  try {
    for (const m of messages) {
      const outcome = await fuzzy.remove(m);
      if (outcome.kind === 'removed' && outcome.entries > 0) io.stdout.write(`fuzzy store: removed ${outcome.entries}\n`);
    }
  } finally {
    await fuzzy.close();
  }
}

/** --learn with no instance running: the messages released, learned as ham as `spamgate train --ham` would. */
async function learnHam(args: CommandArgs, messages: readonly Buffer[], io: CommandIo): Promise<void> {
  const env = await openFilterEnv(args, undefined, { learns: true });
  try {
    for (const m of messages) io.stdout.write(`learned as ham: ${await env.bayes.learner.learn(m, 'ham', 'manual')}\n`);
  } finally {
    await env.bayes.close();
  }
}
