// The quarantine digest from config: the runner (digest.ts) on the spool with the notice signer (and where each
// recipient's digest goes: the user directory in full-stack mode, the sub-address delimiter in front-of; in
// full-stack mode with list_links, the directory also decides which user's sender lists its list links change), and
// the link routes for the HTTP listener (link-routes.ts) with the link secret (made at the first start). The per-user
// sender lists exist in full-stack mode only (the users are ours), so front-of mode gets no list links. None when
// quarantine.digest.enabled is false (the metrics are still exported, at 0).
import type { LoadedConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import type { NoticeSigner } from '../dkim/notice-signer.ts';
import type { UserDirectory } from '../mailhost/directory.ts';
import type { Registry } from '../metrics/registry.ts';
import type { MessageSink } from '../queue/types.ts';
import { withoutSubaddress } from '../smtp/subaddress.ts';
import { userOf } from '../checks/user-lists.ts';
import { userListsPath } from '../lists/user-list-file.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import { createDigestRunner, type DigestRunner } from './digest.ts';
import { createDigestMetrics } from './digest-metrics.ts';
import { digestStateFile } from './digest-state.ts';
import { loadLinkSecret } from './link-secret.ts';
import { createLinkRoutes, type HttpRoute } from './link-routes.ts';
import { createLinkTokens, type LinkTokens } from './link-token.ts';
import type { Quarantine } from './store.ts';

/**
 * Full-stack mode: where a recipient's digest goes. A user, or a sub-address or alias leading to one user: that
 * user (one digest per mailbox, however many of its addresses a spam run hit); an alias of several users: the alias.
 * None for an address only the catch-all takes (a dictionary run would mail its owner a digest per made-up
 * address), one no user or alias has (any more), or an alias forwarding elsewhere (digests never leave the host).
 */
export function digestAddressOf(directory: Pick<UserDirectory, 'resolveExplicit'>): (recipient: string) => string | undefined {
  return (recipient) => {
    const r = directory.resolveExplicit(recipient);
    if (r.kind !== 'local' || r.remote.length || !r.mailboxes.length) return undefined;
    return r.mailboxes.length === 1 ? r.mailboxes[0] : recipient;
  };
}

/**
 * Front-of mode, where the next hop knows the users: a recipient's digest goes to the recipient, a sub-address's to
 * the address without it (mailhost.subaddress_delimiter: alice+a@ and alice+b@ share alice@'s digest, as they share
 * her mailbox at the next hop); '' for the delimiter gives each address its own.
 */
export function baseAddressOf(delimiter: string): (recipient: string) => string {
  return (recipient) => withoutSubaddress(recipient, delimiter) ?? recipient;
}

/** Where a recipient's digest goes in this mode: digestAddressOf with the directory (full-stack), else baseAddressOf. */
export function digestAddressFor(config: Config, directory: Pick<UserDirectory, 'resolveExplicit'> | undefined): (recipient: string) => string | undefined {
  return directory ? digestAddressOf(directory) : baseAddressOf(config.mailhost.subaddress_delimiter);
}

export interface DigestSetupDeps {
  loaded: LoadedConfig;
  /** Full-stack mode's users and aliases (digestAddressOf, and userOf for the list links); absent in front-of mode. */
  directory?: Pick<UserDirectory, 'resolveExplicit' | 'resolve' | 'isLocalDomain'>;
  quarantine: Quarantine;
  /** The running config's local_domains (a reload changes them); default: the ones of `loaded`. */
  localDomains?: () => readonly string[];
  sink: MessageSink;
  sign?: NoticeSigner;
  hostname: string;
  clock: Clock;
  registry: Registry;
  log: Logger;
}

export interface QuarantineDigest {
  runner: DigestRunner;
  routes: Record<string, HttpRoute>;
  /**
   * On reload: the link secret read again (made anew when it was deleted), so replacing or deleting it voids the
   * links sent without a restart. A file that cannot be used keeps the running secret (logged).
   */
  reloadSecret(): void;
}

export async function openQuarantineDigest(deps: DigestSetupDeps): Promise<QuarantineDigest | undefined> {
  createDigestMetrics(deps.registry);
  const { config, dataDir } = deps.loaded;
  const cfg = config.quarantine.digest;
  if (!cfg.enabled) return undefined;
  const log = deps.log.child({ component: 'quarantine-digest' });
  if (cfg.base_url && !config.http.enabled) log.warn('quarantine.digest.base_url is set but http.enabled is false: the links in the digests will not answer');
  if (!cfg.base_url) log.info('quarantine.digest.base_url is not set: digests carry no release or delete links');
  let secret = loadLinkSecret(dataDir, true) ?? Buffer.alloc(0);
  let current = createLinkTokens(secret);
  const tokens: LinkTokens = { sign: (claim) => current.sign(claim), verify: (token, now, action) => current.verify(token, now, action) };
  const directory = deps.directory;
  // the user a recipient reaches, exactly as the user_lists check finds the lists it applies
  // with the user_lists check disabled the lists decide nothing: "always allow" and "block" links would promise what
  // does not happen
  const listsChecked = !config.checks.disabled.includes('user_lists');
  if (directory && cfg.list_links && !listsChecked) log.info('the user_lists check is in checks.disabled: digests carry no sender list links');
  const listUser = directory && cfg.list_links && listsChecked ? (recipient: string): string | undefined => userOf(directory, recipient)?.toLowerCase() : undefined;
  const runner = await createDigestRunner({
    dir: deps.quarantine.dir,
    stateFile: digestStateFile(dataDir),
    config: cfg,
    maxAgeMs: config.quarantine.max_age,
    localDomains: deps.localDomains ?? config.local_domains,
    hostname: deps.hostname,
    sink: deps.sink,
    ...(deps.sign ? { sign: deps.sign } : {}),
    digestAddress: digestAddressFor(config, deps.directory),
    tokens,
    ...(listUser ? { listUser } : {}),
    settledBefore: () => deps.quarantine.settledBefore(),
    clock: deps.clock,
    registry: deps.registry,
    log,
    fsync: config.queue.fsync,
  });
  const routes = createLinkRoutes({ tokens, quarantine: deps.quarantine, sink: deps.sink, learn: cfg.learn_on_release, clock: deps.clock, registry: deps.registry, log, ...(listUser ? { lists: { file: userListsPath(dataDir), userOf: listUser } } : {}) });
  const reloadSecret = (): void => {
    try {
      const next = loadLinkSecret(dataDir, true) ?? Buffer.alloc(0);
      if (next.equals(secret)) return;
      current = createLinkTokens(next);
      secret = next;
      log.info('quarantine link secret reloaded: the links sent before are void');
    } catch (err) {
      log.error('quarantine link secret not reloaded, keeping the running one', { error: (err as Error).message });
    }
  };
  return { runner, routes, reloadSecret };
}
