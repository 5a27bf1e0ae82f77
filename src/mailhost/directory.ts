// The user directory: users and aliases from config plus the data-dir files, recipient resolution and password checks.
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/schema.ts';
import { aliasesSection } from '../config/sections/mailhost.ts';
import { formatIssues, parseYamlFile } from '../config/yaml-errors.ts';
import type { Logger } from '../util/logger.ts';
import { buildAliasTable, expandAddress, splitAddress, type AliasParse, type AliasTable, type ExpansionContext } from './aliases.ts';
import { verifiedPasswords } from './auth-cache.ts';
import type { Authenticator, RecipientDirectory, RecipientResolution } from './types.ts';
import type { UserEntryConfig } from '../config/sections/mailhost.ts';
import { checkUserName, readDirectoryFile, readUsersFile, toRecord, type UserRecord } from './users.ts';

export type DirectoryConfig = Pick<Config, 'local_domains' | 'users' | 'aliases' | 'mailhost'>;

export interface UserDirectory extends RecipientDirectory, Authenticator {
  /**
   * Re-reads the users and aliases files (with the config's sections and local domains of the last config start or
   * reload put in place); on error keeps the previous snapshot and says why.
   */
  reload(): { ok: true } | { ok: false; problems: string[] };
  /**
   * A config reload: builds the directory the new config's local_domains, users and aliases sections and the files
   * make, swapping nothing. `sectionProblems`: what is wrong in the config's own sections; `problems`: those and the
   * files'. commit() makes it the running directory, its sections the ones the files are re-read with from then on.
   */
  prepare(next: Pick<DirectoryConfig, 'users' | 'aliases' | 'local_domains'>): PreparedDirectory;
  lookup(user: string): UserRecord | undefined;
  /** All users, sorted by name. */
  users(): UserRecord[];
  /** Quota in bytes for a user (own or default), undefined for none. */
  quotaOf(user: string): number | undefined;
  /** As resolve, without the catch-all: where the address leads as a user, sub-address or alias of its own. */
  resolveExplicit(address: string): RecipientResolution;
  /**
   * The address itself (not cut at the sub-address delimiter) is a user or an alias: the mail host takes it as it is,
   * so `mary-ann@` is no sub-address of `mary@` when mary-ann@ is a user of its own.
   */
  hasOwnEntry(address: string): boolean;
  /** Stops watching the files. */
  close(): void;
}

/** A directory built for a config reload, not yet running (UserDirectory.prepare). */
export interface PreparedDirectory {
  problems: string[];
  sectionProblems: string[];
  /**
   * commit() can put it in place: no problems, or problems in the users or aliases file only while the local domains
   * stay the running ones: the config's sections then apply with the files' contents of the running directory (their
   * last good ones), until a fixed file is read again.
   */
  committable: boolean;
  /** Throws when not committable. */
  commit(): void;
}

/** The local domains the directory takes users and aliases at (a reload of the config may change them). */
interface Domains {
  set: ReadonlySet<string>;
  /** The first local domain: unqualified names and the default postmaster are at it. */
  primary: string;
}

interface Snapshot extends Domains {
  users: ReadonlyMap<string, UserRecord>;
  aliases: AliasTable;
}

/** What the users and aliases files held, as read and validated (a missing file: empty). */
interface FileContents {
  users: Record<string, UserEntryConfig>;
  aliases: Record<string, string | string[]>;
}

const normalDomain = (d: string): string => d.toLowerCase().replace(/\.$/, '');

function domainsOf(localDomains: readonly string[]): Domains {
  return { set: new Set(localDomains.map(normalDomain)), primary: localDomains[0] ?? 'localhost' };
}

export interface UserDirectoryOptions {
  config: DirectoryConfig;
  dataDir: string;
  log: Logger;
  /** The config file the users and aliases sections came from, named in their problems. */
  configFile?: string;
}

export function createUserDirectory({ config, dataDir, log, configFile }: UserDirectoryOptions): UserDirectory {
  const configLabel = configFile ?? '(config)';
  const mh = config.mailhost;
  const usersFile = path.resolve(dataDir, mh.users_file);
  const aliasesFile = path.resolve(dataDir, mh.aliases_file);
  const passwords = verifiedPasswords(mh.auth_cache_ttl);

  // the config's own users and aliases: the ones of the last config loaded (start or reload)
  let sections: Pick<DirectoryConfig, 'users' | 'aliases'> = { users: config.users, aliases: config.aliases };

  /** The config's own users and aliases, and what is wrong with them. */
  const fromSections = (from: Pick<DirectoryConfig, 'users' | 'aliases'>, domains: Domains): { users: Map<string, UserRecord>; aliases: AliasParse; problems: string[] } => {
    const isLocalDomain = (d: string): boolean => domains.set.has(normalDomain(d));
    const problems: string[] = [];
    const users = new Map<string, UserRecord>();
    for (const [rawName, entry] of Object.entries(from.users)) {
      const check = checkUserName(rawName, isLocalDomain);
      if (!check.ok) problems.push(`${configLabel}: users.${rawName}: ${check.reason}`);
      else users.set(check.name, toRecord(check.name, entry, 'config'));
    }
    const aliases = buildAliasTable(from.aliases, isLocalDomain, configLabel);
    problems.push(...aliases.problems);
    return { users, aliases, problems };
  };

  /** Both files read again: what they hold (a broken one: empty) and their problems. */
  const readFiles = (): { files: FileContents; problems: string[] } => {
    const problems: string[] = [];
    const users = readUsersFile(usersFile);
    if (!users.ok) problems.push(...users.problems);
    const aliases = readAliasesFile(aliasesFile);
    if (!aliases.ok) problems.push(...aliases.problems);
    return { files: { users: users.ok ? users.entries : {}, aliases: aliases.ok ? aliases.entries : {} }, problems };
  };

  /** The directory of the sections and the files (read now, or the contents given: the running ones). */
  const load = (from: Pick<DirectoryConfig, 'users' | 'aliases'>, domains: Domains, given?: FileContents): { snapshot: Snapshot; files: FileContents; problems: string[]; sectionProblems: string[] } => {
    const isLocalDomain = (d: string): boolean => domains.set.has(normalDomain(d));
    const own = fromSections(from, domains);
    const read = given ? { files: given, problems: [] } : readFiles();
    const problems: string[] = [...own.problems, ...read.problems];
    const users = own.users;
    for (const [rawName, entry] of Object.entries(read.files.users)) {
      const check = checkUserName(rawName, isLocalDomain);
      if (!check.ok) problems.push(`${usersFile}: ${rawName}: ${check.reason}`);
      else if (users.has(check.name)) log.warn('user defined in both config and users file; the config wins', { user: check.name });
      else users.set(check.name, toRecord(check.name, entry, 'file'));
    }
    const aliases = new Map(own.aliases.table);
    const built = buildAliasTable(read.files.aliases, isLocalDomain, aliasesFile);
    problems.push(...built.problems);
    for (const [k, v] of built.table) if (!aliases.has(k)) aliases.set(k, v);
    return { snapshot: { ...domains, users, aliases }, files: read.files, problems, sectionProblems: own.problems };
  };

  const first = load(sections, domainsOf(config.local_domains));
  if (first.problems.length) throw new Error(`user directory: ${first.problems.join('; ')}`);
  let snap = first.snapshot;
  // the files' contents of the running directory: their last good ones, kept by a config reload that finds a file broken
  let files = first.files;

  const isLocalDomain = (d: string): boolean => snap.set.has(normalDomain(d));
  const ctx = (): ExpansionContext => {
    const primaryDomain = snap.primary;
    const c: ExpansionContext = {
      hasUser: (n) => snap.users.has(n),
      aliases: snap.aliases,
      isLocalDomain,
      primaryDomain,
      delimiter: mh.subaddress_delimiter,
      maxDepth: mh.max_alias_depth,
    };
    const pm = postmasterTarget(snap, mh.postmaster, primaryDomain);
    if (pm !== undefined) c.postmaster = pm;
    return c;
  };

  const reload = (): { ok: true } | { ok: false; problems: string[] } => {
    const next = load(sections, snap);
    if (next.problems.length) {
      log.warn('user directory reload failed; keeping the previous users and aliases', { problems: next.problems });
      return { ok: false, problems: next.problems };
    }
    snap = next.snapshot;
    files = next.files;
    log.info('user directory loaded', { users: snap.users.size, aliases: snap.aliases.size });
    return { ok: true };
  };

  const prepare = (given: Pick<DirectoryConfig, 'users' | 'aliases' | 'local_domains'>): PreparedDirectory => {
    const from = { users: given.users, aliases: given.aliases };
    const domains = domainsOf(given.local_domains);
    const next = load(from, domains);
    // only the files are broken, at the running domains: the sections apply with the files' running contents
    const sameDomains = domains.primary === snap.primary && domains.set.size === snap.set.size && [...domains.set].every((d) => snap.set.has(d));
    const kept = next.problems.length && !next.sectionProblems.length && sameDomains ? load(from, domains, files) : undefined;
    const use = next.problems.length ? (kept && !kept.problems.length ? kept : undefined) : next;
    return {
      problems: next.problems,
      sectionProblems: next.sectionProblems,
      committable: use !== undefined,
      commit: () => {
        if (!use) throw new Error(`user directory: ${next.problems.join('; ')}`);
        sections = from;
        snap = use.snapshot;
        files = use.files;
        log.info('user directory loaded', { users: snap.users.size, aliases: snap.aliases.size, domains: snap.set.size, ...(use === kept ? { files: 'last good kept' } : {}) });
      },
    };
  };

  let watcher: FSWatcher | undefined;
  let timer: NodeJS.Timeout | undefined;
  if (mh.watch_files) {
    const names = new Set([path.basename(usersFile), path.basename(aliasesFile)]);
    try {
      watcher = watch(dataDir, { persistent: false }, (_event, name) => {
        if (name !== null && !names.has(name.toString())) return;
        clearTimeout(timer);
        timer = setTimeout(() => reload(), 50);
      });
      watcher.on('error', (err) => log.warn('cannot watch the data directory for user changes', { err }));
    } catch (err) {
      log.debug('not watching the data directory (missing?); reload() re-reads it', { dataDir, err });
    }
  }

  return {
    isLocalDomain,
    resolve(address: string): RecipientResolution {
      const { resolution, dangling } = expandAddress(address, ctx());
      if (dangling.length) log.warn('alias targets lead nowhere; skipped', { address, dangling });
      return resolution;
    },
    resolveExplicit(address: string): RecipientResolution {
      return expandAddress(address, ctx(), { allowCatchAll: false }).resolution;
    },
    hasOwnEntry(address: string): boolean {
      const a = splitAddress(address, snap.primary);
      if (!a) return false;
      const key = `${a.local}@${a.domain}`;
      return snap.users.has(key) || snap.aliases.has(key);
    },
    async authenticate(user: string, password: string): Promise<string | undefined> {
      const name = user.trim().toLowerCase();
      const rec = snap.users.get(name);
      const ok = await passwords.verify(password, rec?.passwordHash);
      return ok && rec ? rec.name : undefined;
    },
    userNamed(user: string): string | undefined {
      return snap.users.get(user.trim().toLowerCase())?.name;
    },
    ownsAddress(user: string, address: string): boolean {
      const name = user.trim().toLowerCase();
      if (!snap.users.has(name)) return false;
      const a = splitAddress(address, snap.primary);
      if (!a) return false;
      if (`${a.local}@${a.domain}` === name) return true;
      // Explicit aliases and sub-addresses that reach the user; a catch-all does not make every address theirs.
      const { resolution } = expandAddress(address, ctx(), { allowCatchAll: false });
      return resolution.kind === 'local' && resolution.mailboxes.includes(name);
    },
    reload,
    prepare,
    lookup: (user) => snap.users.get(user.trim().toLowerCase()),
    users: () => [...snap.users.values()].sort((a, b) => a.name.localeCompare(b.name)),
    quotaOf: (user) => {
      const own = snap.users.get(user.trim().toLowerCase())?.quota;
      // 'none': the user's own "no limit", which mailhost.default_quota does not override
      return own === 'none' ? undefined : (own ?? mh.default_quota);
    },
    close() {
      clearTimeout(timer);
      watcher?.close();
    },
  };
}

/** The configured postmaster, else postmaster@<primary domain> if such a user exists, else the first user by name. */
function postmasterTarget(snap: Snapshot, configured: string | undefined, primaryDomain: string): string | undefined {
  if (configured) return configured.toLowerCase();
  const named = `postmaster@${primaryDomain}`;
  if (snap.users.has(named)) return named;
  const first = [...snap.users.keys()].sort()[0];
  return first;
}

type AliasesFileResult = { ok: true; entries: Record<string, string | string[]> } | { ok: false; problems: string[] };

function readAliasesFile(file: string): AliasesFileResult {
  const read = readDirectoryFile(file, 'aliases file');
  if (read === undefined) return { ok: true, entries: {} };
  if (typeof read !== 'string') return { ok: false, problems: read.problems };
  const text = read;
  const parsed = parseYamlFile(file, text);
  if (parsed.syntaxErrors.length) return { ok: false, problems: parsed.syntaxErrors };
  const result = aliasesSection.safeParse(parsed.value ?? {});
  if (!result.success) return { ok: false, problems: formatIssues(parsed, result.error.issues) };
  return { ok: true, entries: result.data };
}

