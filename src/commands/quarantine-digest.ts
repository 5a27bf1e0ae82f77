// `spamgate quarantine digest [--now] [--dry-run]`: a digest round without waiting for the schedule. --dry-run prints
// the digests a round would send (their text) and changes nothing; otherwise a running instance is asked to run the
// round (through <spool>/control, as release and delete are), or with none running it is run here under the spool's
// lock, the digests queued for the next start. Without --now only a round that is due runs.
import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import type { LoadedConfig } from '../config/load.ts';
import { quarantineDir } from '../config/sections/quarantine.ts';
import { createNoticeSigner } from '../dkim/notice-signer.ts';
import { createDkimSigner, loadDkimKeys } from '../dkim/signer.ts';
import { createRegistry } from '../metrics/registry.ts';
import { createUserDirectory, type UserDirectory } from '../mailhost/directory.ts';
import { createDigestRunner, type DigestRunner } from '../quarantine/digest.ts';
import { digestAddressFor } from '../quarantine/digest-setup.ts';
import { digestStateFile } from '../quarantine/digest-state.ts';
import { loadLinkSecret } from '../quarantine/link-secret.ts';
import { createLinkTokens } from '../quarantine/link-token.ts';
import { spoolPaths } from '../queue/spool-format.ts';
import { runningPid } from '../queue/spool-lock.ts';
import { openSpool, spoolDir } from '../queue/spool.ts';
import type { MessageSink } from '../queue/types.ts';
import { systemClock } from '../util/clock.ts';
import { silentLogger } from '../util/logger.ts';
import { releasePidLock, takePidLock } from '../util/pid-lock.ts';
import { request } from './control-client.ts';
import type { CommandArgs, CommandIo } from './types.ts';

/** A runner as the instance has it; `use` gets it with the full-stack user directory open (closed after). */
async function withRunner<T>(loaded: LoadedConfig, sink: MessageSink, createSecret: boolean, use: (r: DigestRunner) => Promise<T>): Promise<T> {
  const { config, dataDir } = loaded;
  const directory = config.mode === 'full-stack' ? createUserDirectory({ config, dataDir, log: silentLogger, ...(loaded.file ? { configFile: loaded.file } : {}) }) : undefined;
  try {
    return await use(await runner(loaded, sink, createSecret, directory));
  } finally {
    directory?.close();
  }
}

async function runner(loaded: LoadedConfig, sink: MessageSink, createSecret: boolean, directory: UserDirectory | undefined): Promise<DigestRunner> {
  const { config, dataDir } = loaded;
  const registry = createRegistry(false);
  const secret = loadLinkSecret(dataDir, createSecret);
  const keys = loadDkimKeys(config.dkim);
  const signer = keys.length ? createDkimSigner(keys) : undefined;
  return createDigestRunner({
    dir: quarantineDir(dataDir, config.quarantine),
    stateFile: digestStateFile(dataDir),
    config: config.quarantine.digest,
    maxAgeMs: config.quarantine.max_age,
    localDomains: config.local_domains,
    hostname: config.smtp.hostname ?? os.hostname(),
    sink,
    ...(signer ? { sign: createNoticeSigner(() => signer, registry, silentLogger, systemClock) } : {}),
    ...(secret ? { tokens: createLinkTokens(secret) } : {}),
    digestAddress: digestAddressFor(config, directory),
    clock: systemClock,
    registry,
    log: silentLogger,
    fsync: config.queue.fsync,
  });
}

const refuse: MessageSink = { enqueue: () => Promise.reject(new Error('dry run: nothing is queued')) };

export async function quarantineDigest(loaded: LoadedConfig, args: CommandArgs, io: CommandIo): Promise<number> {
  const force = args.flags.has('now');
  if (args.flags.has('dry-run')) {
    // read-only: the link secret is not made here (the instance makes it, as its own user)
    const previews = await withRunner(loaded, refuse, false, (r) => r.preview());
    for (const p of previews) io.stdout.write(`To: ${p.recipient}\n\n${p.text.replace(/\r\n/g, '\n')}\n`);
    io.stdout.write(`${previews.length} digest(s) would be sent\n`);
    return 0;
  }
  if (!loaded.config.quarantine.digest.enabled) {
    io.stderr.write('spamgate: quarantine.digest.enabled is false: no digest sent (--dry-run shows what would be)\n');
    return 1;
  }
  const paths = spoolPaths(spoolDir(loaded.dataDir));
  const op = force ? 'qdigest_now' : 'qdigest';
  const pid = await runningPid(paths);
  if (pid !== undefined) return request(paths, [{ op }], args, io, pid);
  await mkdir(paths.root, { recursive: true, mode: 0o700 });
  const lock = await takePidLock(paths.lock);
  if (!lock.ok) return request(paths, [{ op }], args, io, lock.pid);
  try {
    const spool = await openSpool({ dir: paths.root, fsync: true, clock: systemClock, registry: createRegistry(false), log: silentLogger, exclusive: false });
    try {
      const round = await withRunner(loaded, spool, true, (r) => r.run(force));
      if (!round) {
        io.stdout.write('no digest round due (--now sends at once)\n');
        return 0;
      }
      for (const s of round.sent) io.stdout.write(`digest for ${s.recipient}: ${s.listed} listed${s.more ? `, ${s.more} more` : ''}; queued as ${s.queueId} (no running instance: delivered at the next start)\n`);
      for (const r of round.failed) io.stderr.write(`spamgate: digest for ${r} could not be queued\n`);
      if (round.notLocal.length) io.stdout.write(`no digest for ${round.notLocal.length} recipient(s) outside local_domains\n`);
      io.stdout.write(`${round.sent.length} digest(s) queued\n`);
      return round.failed.length ? 1 : 0;
    } finally {
      await spool.close();
    }
  } finally {
    await releasePidLock(paths.lock);
  }
}
