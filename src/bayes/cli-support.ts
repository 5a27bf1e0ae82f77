// Shared plumbing of the filter's CLI commands: config + rules + Bayes from the command's flags,
// running the content checks on one message outside SMTP, and a terminal progress bar.
import { realpathSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { displayId, missingPaths } from './corpus.ts';
import { createBayesCheck } from '../checks/bayes.ts';
import { createContentChecks } from '../checks/content-checks.ts';
import { runChecks } from '../checks/runner.ts';
import type { Check, SymbolHit } from '../checks/types.ts';
import { runningServePid } from '../commands/running-serve.ts';
import { UsageError, type CommandArgs, type CommandIo } from '../commands/types.ts';
import { SHIPPED_MODELS_DIR, type LoadedConfig } from '../config/load.ts';
import { withContentSymbols } from '../content/engine.ts';
import { createListChecks } from '../checks/lists.ts';
import { withListSymbols } from '../lists/compile.ts';
import type { MimeLimits } from '../mime/parse.ts';
import { loadRuleset, type Ruleset } from '../scoring/ruleset.ts';
import { createMessageView } from '../smtp/message-view.ts';
import { takeLearnLock } from './learn-lock.ts';
import { mimeLimitsOf, openBayes, seedSharedStore, type Bayes } from './open-bayes.ts';
import { openSharedStores } from '../redis/shared-stores.ts';
import { createRegistry } from '../metrics/registry.ts';
import { createAntivirus } from '../antivirus/setup.ts';
import { systemClock } from '../util/clock.ts';
import { silentLogger } from '../util/logger.ts';
import { loadFromArgs } from '../commands/load-args.ts';

export interface FilterEnv {
  loaded: LoadedConfig;
  limits: MimeLimits;
  bayes: Bayes;
}

/**
 * Config, MIME bounds and the Bayes filter for a CLI command: the shared (Redis) store when configured.
 * `learns`: the command changes the store (train, forget). A running `serve` on the same data directory
 * holds the in-process store in memory and would overwrite the file on its next save, so that is refused;
 * so is a second learning command at once (each would save only its own work over the other's): the first
 * holds the learn lock (learn-lock.ts) from before it reads the store until it has saved it (close()).
 */
export async function openFilterEnv(args: CommandArgs, modelsDir = SHIPPED_MODELS_DIR, opts: { learns?: boolean } = {}): Promise<FilterEnv> {
  const loaded = loadFromArgs(args);
  const inProcess = !loaded.config.redis.use_for.includes('bayes');
  let release: (() => Promise<void>) | undefined;
  if (opts.learns && inProcess) {
    const pid = await runningServePid(loaded.dataDir);
    if (pid !== undefined) {
      throw new Error(
        `spamgate serve (pid ${pid}) runs on ${loaded.dataDir} and holds the Bayes store in memory: its next save would overwrite what this command learns. ` +
          'Stop it first, or learn by moving mail into or out of the Junk folder, or share the store in Redis (redis.use_for: [bayes]).',
      );
    }
    const held = await takeLearnLock(loaded.dataDir);
    if (!held.ok) {
      throw new Error(
        `the Bayes store in ${loaded.dataDir} is in use by process ${held.pid} (another spamgate train or forget, or a serve starting): ` +
          'wait for it to finish (two writers would each save only their own work, over the other\'s)',
      );
    }
    release = held.release;
  }
  try {
    const limits = mimeLimitsOf(loaded.config.filter);
    const shared = !inProcess ? await openSharedStores({ config: loaded.config, clock: systemClock, log: silentLogger, registry: createRegistry(false) }) : undefined;
    if (shared?.tokenStore) await seedSharedStore(shared.tokenStore, modelsDir, loaded.config.bayes, silentLogger);
    const opened = openBayes({ dataDir: loaded.dataDir, modelsDir, config: loaded.config.bayes, limits, readOnly: !opts.learns, ...(shared?.tokenStore ? { store: shared.tokenStore } : {}) });
    const bayes: Bayes = {
      ...opened,
      close: async () => {
        try {
          await opened.close();
          await shared?.close();
        } finally {
          await release?.();
        }
      },
    };
    return { loaded, limits, bayes };
  } catch (err) {
    await release?.();
    throw err;
  }
}

/** `ownAddress`: full-stack mode's UserDirectory.hasOwnEntry, for recipients' overrides (Ruleset.ownAddress). */
export function loadContentRuleset(loaded: LoadedConfig, ownAddress?: (address: string) => boolean): Ruleset {
  return withListSymbols(withContentSymbols(loadRuleset(loaded.rulesDirs, { subaddressDelimiter: loaded.config.mailhost.subaddress_delimiter, ...(ownAddress ? { ownAddress } : {}) })));
}

/**
 * The content checks for offline runs, as the server would run them: Bayes unless `--no-bayes` or
 * bayes.enabled is false, and none of checks.disabled.
 */
export function offlineChecks(ruleset: Ruleset, env: FilterEnv, withBayes: boolean, opts: { antivirus?: boolean } = {}): Check[] {
  const { config } = env.loaded;
  const bayes = withBayes && config.bayes.enabled;
  const checks = createContentChecks({ ruleset, limits: env.limits, ...(bayes ? { bayes: env.bayes } : {}) });
  const withBayesCheck = bayes && !checks.some((c) => c.name === 'bayes') ? [createBayesCheck({ bayes: env.bayes, limits: env.limits }), ...checks] : checks;
  // and the data-phase lists: offline there is no client, envelope or SPF/DKIM result, so only header From
  // lists without `authenticated` can hit
  const lists = createListChecks(ruleset, { subaddressDelimiter: config.mailhost.subaddress_delimiter }).filter((c) => c.phase === 'data');
  // explain asks clamd too when antivirus.enabled (VIRUS_FOUND and the virus name); masscheck over a corpus does not
  const all = [...withBayesCheck, ...lists, ...(opts.antivirus ? createAntivirus({ registry: createRegistry(false), log: silentLogger }).checks(config.antivirus) : [])];
  return all.filter((c) => !config.checks.disabled.includes(c.name));
}

/** Per-check time budget offline: generous (a corpus run is not a live session), but a hang still ends. */
const OFFLINE_CHECK_TIMEOUT_MS = 60_000;

/** Runs data-phase checks on a raw message, as the gateway would (one shared MessageView, late checks last). */
export async function runOffline(checks: readonly Check[], raw: Buffer): Promise<{ hits: SymbolHit[]; results: Map<string, unknown> }> {
  const results = new Map<string, unknown>();
  const hits = await runChecks(
    checks,
    {
      phase: 'data',
      session: { id: 'offline', clientIp: '127.0.0.1', clientPort: 0, secure: false, trusted: false, submission: false, localIp: '127.0.0.1', localPort: 0 },
      envelope: { mailFrom: '', rcptTo: [], smtputf8: false, body8bit: false },
      message: createMessageView(raw),
      now: Date.now(),
      log: silentLogger,
      addHeader: () => undefined,
      results,
      hitsSoFar: [],
    },
    { defaultTimeoutMs: OFFLINE_CHECK_TIMEOUT_MS, trustedClient: false },
  );
  return { hits, results };
}

/** A one-line progress bar redrawn in place; a no-op when not on a terminal. */
export function progressBar(out: Writable, enabled: boolean, total: number): { tick(label?: string): void; done(): void } {
  let n = 0;
  let last = 0;
  return {
    tick(label = '') {
      n++;
      if (!enabled) return;
      // at most ten redraws a second, also past `total` (an mbox counts as one file but holds many messages)
      const now = Date.now();
      if (now - last < 100 && n !== total) return;
      last = now;
      const width = 30;
      if (n > total) {
        out.write(`\r${n} messages ${label.slice(-40).padEnd(40)}`);
        return;
      }
      const frac = total > 0 ? Math.min(1, n / total) : 0;
      const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
      out.write(`\r[${bar}] ${n}/${total} ${label.slice(-40).padEnd(40)}`);
    },
    done() {
      if (enabled) out.write('\n');
    },
  };
}

export function flagList(args: CommandArgs, name: string): string[] {
  const v = args.flags.get(name);
  if (v === undefined || v === true) return [];
  return v.split(',').map((s) => s.trim()).filter(Boolean);
}

/** Bad usage (exit 2) naming each path that does not exist, before anything is learned or changed. */
export function requirePaths(paths: readonly string[]): void {
  const missing = missingPaths(paths);
  if (missing.length) throw new UsageError(missing.join('; '));
}

/** The paths of one class given to train, each with the message files listed under it. */
export type ListedPaths = readonly (readonly [path: string, files: readonly string[]])[];

/**
 * Refuses a message file both classes would learn (the same path given twice, a file inside the other class's
 * directory, or links to one file): train would learn it as spam and then move it to ham, quietly. Files are
 * compared by their real path, so a Maildir++ subfolder (.Junk, not walked from its parent) is not an overlap.
 */
export function refuseSharedFiles(spam: ListedPaths, ham: ListedPaths): void {
  if (!spam.some(([, f]) => f.length > 0) || !ham.some(([, f]) => f.length > 0)) return;
  const real = (f: string): string => {
    try {
      return realpathSync(f);
    } catch {
      return f; // gone meanwhile: the read reports it
    }
  };
  const spamFiles = new Map<string, string>();
  for (const [p, files] of spam) for (const f of files) spamFiles.set(real(f), p);
  for (const [h, files] of ham)
    for (const f of files) {
      const s = spamFiles.get(real(f));
      if (s === undefined) continue;
      if (real(s) === real(h)) throw new UsageError(`${displayId(h)} is given as both --spam and --ham`);
      throw new UsageError(`${displayId(f)} is under both --spam ${displayId(s)} and --ham ${displayId(h)}`);
    }
}

/** Progress bars go to stderr: shown when stderr is a terminal, whatever stdout is redirected to. */
export function progressWanted(io: CommandIo): boolean {
  return (io.stderr as Writable & { isTTY?: boolean }).isTTY === true;
}

/**
 * Notices when the reader of `out` went away (`spamgate classify DIR | head`): EPIPE becomes a flag the
 * command polls to stop early, instead of an unhandled 'error' event that kills the process.
 */
export function outputGone(out: Writable): () => boolean {
  let gone = false;
  out.on('error', () => {
    gone = true;
  });
  return () => gone || out.destroyed;
}
