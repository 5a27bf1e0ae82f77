// MailboxStore over Maildir++ (<root>/<domain>/<local>/Maildir), Dovecot-compatible uidlist/keywords, per-folder mutex.
import { join } from 'node:path';
import { systemClock, type Clock } from '../util/clock.ts';
import { MailboxError, type FlagOutcome, type MailboxChange, type MailboxInfo, type MailboxStatus, type MailboxStore, type MessageMeta } from './mailbox-store.ts';
import { cachedEmailIds, saveDateOf } from './maildir-ids.ts';
import { claimsOf, giveMailboxId, resolveMailboxId } from './maildir-mailbox-id.ts';
import { DEFAULT_FOLDERS, folderExists, folderNames as listFolderNames, readSubscriptions as readSubs, SPECIAL, writeSubscriptions as writeSubs } from './maildir-mailboxes.ts';
import { toCrlf } from './maildir-crlf.ts';
import { readMessageFile, SYNC_READ_MAX } from './maildir-read.ts';
import { makeMaildir } from './maildir-files.ts';
import { BackgroundJobs } from './maildir-background.ts';
import { mailboxAdmin } from './maildir-admin.ts';
import { cachedHeaderFields, readHead } from './maildir-headers.ts';
import { stageMessage } from './maildir-stage.ts';
import { commitAll, stageAll } from './maildir-append-all.ts';
import { MaildirFolder } from './maildir-folder.ts';
import type { Entry } from './maildir-index.ts';
import { folderPath, normalizeMailbox, userMaildir } from './maildir-names.ts';
import { KeyedMutex } from './mutex.ts';
import { UIDVALIDITY_FILE, UidValidityMark } from './uidvalidity-mark.ts';

export interface MaildirStoreOptions {
  root: string;
  /** fsync message files and directories on delivery (default true). */
  fsync?: boolean;
  clock?: Clock;
  /** Most folders (INBOX included) and most subscriptions one user may make (NO [LIMIT]); undefined: no limit. */
  maxMailboxes?: number;
  /** Message files up to this many bytes are read synchronously (maildir-read.ts; default 64 KiB); 0: all in the thread pool. */
  syncReadMax?: number;
}


/** Adds Maildir-specific helpers to the shared interface. */
export interface MaildirStore extends MailboxStore {
  /** The Maildir directory of a user (for tools and tests). */
  maildirOf(user: string): string;
  /** Metadata of one message, or undefined once expunged. */
  meta(user: string, mailbox: string, uid: number): Promise<MessageMeta | undefined>;
  /** Finishes background work now (new/ → cur/ moves, racy re-scans): before handing the Maildir to another program, tests. */
  settle(): Promise<void>;
  /** Always there for a Maildir (MailboxStore.readHeader). */
  readHeader(user: string, mailbox: string, uid: number): Promise<Buffer>;
}

export function createMaildirStore(opts: MaildirStoreOptions): MaildirStore {
  const fsync = opts.fsync ?? true;
  const clock = opts.clock ?? systemClock;
  const syncReadMax = opts.syncReadMax ?? SYNC_READ_MAX;
  const folders = new Map<string, MaildirFolder>();
  const mutex = new KeyedMutex();
  const watchers = new Map<string, Set<(c: MailboxChange) => void>>();
  const validity = new UidValidityMark(join(opts.root, UIDVALIDITY_FILE), clock, fsync);
  const newValidity = (): number => validity.next();

  const wkey = (user: string, mailbox: string): string => `${user.toLowerCase()}\u0000${mailbox}`;
  const emit = (user: string, mailbox: string, changes: readonly MailboxChange[]): void => {
    const set = watchers.get(wkey(user, mailbox));
    if (!set) return;
    for (const change of changes) for (const l of [...set]) l(change);
  };

  const jobs = new BackgroundJobs(
    (user, name, fn, mode) => withFolder(user, name, (f) => fn(f), mode),
    (f) => folders.get(f.path) === f,
  );

  /** Runs fn on a synced folder under its mutex; changes found on disk are announced first. */
  async function withFolder<T>(user: string, mailbox: string, fn: (f: MaildirFolder, name: string) => Promise<T>, mode: 'client' | 'background' | 'verify' = 'client'): Promise<T> {
    const name = normalizeMailbox(mailbox);
    const path = folderPath(userMaildir(opts.root, user), name);
    return mutex.run(path, async () => {
      let f = folders.get(path);
      if (!f) {
        f = new MaildirFolder(path, fsync, newValidity);
        folders.set(path, f);
        jobs.sweepTmp(path);
      }
      if (mode === 'client') f.lastUse = Date.now();
      try {
        const external = await f.sync(mode === 'verify');
        if (external.length > 0) emit(user, name, external);
      } catch (err) {
        folders.delete(path);
        throw err;
      }
      try {
        return await fn(f, name);
      } finally {
        if (f.found.length > 0) emit(user, name, f.found.splice(0));
        if (f.needsVerify) jobs.verify(user, name, f);
      }
    });
  }

  /**
   * Runs fn with two folders locked (one lock when they are the same). The locks are taken in path order, and
   * nothing else holds two folder locks, so two copies in opposite directions cannot deadlock.
   */
  async function withPair<T>(user: string, a: string, b: string, fn: (fa: MaildirFolder, fb: MaildirFolder, nameA: string, nameB: string) => Promise<T>): Promise<T> {
    const md = userMaildir(opts.root, user);
    const [pa, pb] = [folderPath(md, normalizeMailbox(a)), folderPath(md, normalizeMailbox(b))];
    if (pa === pb) return withFolder(user, a, (f, name) => fn(f, f, name, name));
    const [first, second] = pa < pb ? [a, b] : [b, a];
    return withFolder(user, first, (f1, n1) => withFolder(user, second, (f2, n2) => (pa < pb ? fn(f1, f2, n1, n2) : fn(f2, f1, n2, n1))));
  }

  /**
   * Folder paths of (user, mailbox) names that were valid, for the lock-free readers: checking and joining the names
   * (two regexes on the user, one per mailbox level, path.join) was some 5 µs of each message read. Bounded: cleared
   * when full. Names that are refused throw before they are kept.
   */
  const pathMemo = new Map<string, string>();
  function memoFolderPath(user: string, mailbox: string): string {
    const key = `${user}\u0000${mailbox}`;
    let path = pathMemo.get(key);
    if (path === undefined) {
      path = folderPath(userMaildir(opts.root, user), normalizeMailbox(mailbox));
      if (pathMemo.size >= 4096) pathMemo.clear();
      pathMemo.set(key, path);
    }
    return path;
  }

  /** The folder object when it has been loaded before (lock-free readers use its index). */
  function loadedFolder(user: string, mailbox: string): MaildirFolder | undefined {
    const f = folders.get(memoFolderPath(user, mailbox));
    if (!f?.loaded) return undefined;
    f.lastUse = Date.now();
    return f;
  }

  /** Group commit: whoever finds no commit running takes every staged append so far in one locked batch. */
  function groupCommit(user: string, name: string, f: MaildirFolder): void {
    if (f.committing) return;
    f.committing = true;
    const batch = f.pending.splice(0);
    withFolder(user, name, async (g) => {
      if (g !== f) throw new MailboxError('NONEXISTENT', 'mailbox was removed during delivery');
      return f.commitStaged(batch.map((b) => b.staged));
    }).then(
      (results) => {
        const uids = results.filter((r): r is number => typeof r === 'number');
        if (uids.length > 0) emit(user, name, [{ kind: 'append', uids }]);
        batch.forEach((b, i) => b.done(results[i] ?? new Error('append not committed')));
      },
      (err: Error) => batch.forEach((b) => b.done(err)),
    ).finally(() => {
      f.committing = false;
      if (f.pending.length > 0) groupCommit(user, name, f);
    });
  }

  /** \Recent claimed under the folder lock; a large backlog (first SELECT of a bulk-filled folder) moves to cur/ later, when the folder is quiet. */
  async function claim(user: string, name: string, f: MaildirFolder): Promise<number[]> {
    const claimed = await f.claimRecent();
    jobs.moves(user, name, f);
    return claimed;
  }

  /** The folder with INTERNALDATE read (maildir-dates.ts) for these messages or all, for callers that look at dates. */
  const dated = async (f: MaildirFolder, uids?: readonly number[]): Promise<MaildirFolder> => {
    await f.resolveDates(uids);
    return f;
  };

  const exists = (user: string, name: string): Promise<boolean> => folderExists(opts.root, user, name);
  const folderNames = (user: string): Promise<string[]> => listFolderNames(opts.root, user);
  const readSubscriptions = (user: string): Promise<Set<string>> => readSubs(opts.root, user);
  const writeSubscriptions = (user: string, set: ReadonlySet<string>): Promise<void> => writeSubs(opts.root, user, set, fsync);

  /**
   * The folder's MAILBOXID (RFC 8474 §4), under its mutex: read once per load from its file, made at first need
   * (maildir-mailbox-id.ts). Undefined when it can be neither read nor stored (a read-only Maildir): no id rather
   * than one that may be another folder's.
   */
  async function mailboxIdOf(user: string, f: MaildirFolder, claims = claimsFor(user)): Promise<string | undefined> {
    if (f.mailboxId?.of === f.uidValidity) return f.mailboxId.id;
    const id = await resolveMailboxId(f.path, f.uidValidity, claims, fsync).catch(() => undefined);
    if (id !== undefined) f.mailboxId = { id, of: f.uidValidity };
    if (id !== undefined) claimCache.get(user)?.claims.set(f.path, id); // what the folder claims from now on
    return id;
  }
  /**
   * The last claims read per user, kept while the user's folder names stay the same: a STATUS of each folder of a
   * Maildir from before the id files (a client with its folder list cached) then reads every folder's claim once,
   * not once per STATUS (1,000 folders: a million file reads), nor at every STATUS of a read-only Maildir. A folder
   * added, removed or renamed changes the names and the claims are read anew; a claim this store writes is updated.
   */
  const claimCache = new Map<string, { names: string; claims: Map<string, string | undefined> }>();
  const CLAIM_CACHE_USERS = 1000;
  /** The ids the user's folders claim (maildir-mailbox-id.ts), read at most once through the function returned. */
  function claimsFor(user: string): () => Promise<ReadonlyMap<string, string | undefined>> {
    let read: Promise<ReadonlyMap<string, string | undefined>> | undefined;
    const md = userMaildir(opts.root, user);
    const readClaims = async (): Promise<ReadonlyMap<string, string | undefined>> => {
      const names = await folderNames(user);
      const key = names.join('\n');
      const hit = claimCache.get(user);
      if (hit?.names === key) return hit.claims;
      const claims = new Map(await claimsOf(names.map((n) => folderPath(md, n))));
      claimCache.delete(user);
      const oldest = claimCache.size >= CLAIM_CACHE_USERS ? claimCache.keys().next().value : undefined;
      if (oldest !== undefined) claimCache.delete(oldest);
      claimCache.set(user, { names: key, claims });
      return claims;
    };
    return () => (read ??= readClaims());
  }
  const withId = (id: string | undefined): { mailboxId?: string } => (id === undefined ? {} : { mailboxId: id });

  const forget = (prefix: string): void => {
    for (const key of [...folders.keys()]) if (key === prefix || key.startsWith(prefix + '.')) folders.delete(key);
  };

  const store: MaildirStore = {
    maildirOf: (user) => userMaildir(opts.root, user),

    async ensureUser(user) {
      const md = userMaildir(opts.root, user);
      const fresh = !(await exists(user, 'INBOX'));
      await makeMaildir(md, false);
      for (const name of DEFAULT_FOLDERS) await makeMaildir(folderPath(md, name), true);
      // a Maildir made now gets random MAILBOXIDs at once; an existing one's folders keep theirs (maildir-mailbox-id.ts)
      if (fresh) for (const dir of [md, ...DEFAULT_FOLDERS.map((n) => folderPath(md, n))]) await giveMailboxId(dir, fsync);
      if (fresh) await writeSubscriptions(user, new Set(['INBOX', ...DEFAULT_FOLDERS, ...(await readSubscriptions(user))]));
    },

    async listMailboxes(user) {
      const names = await folderNames(user);
      const subs = await readSubscriptions(user);
      const out: MailboxInfo[] = [];
      const claims = claimsFor(user); // one read of the folders' ids for the whole listing, not one per folder
      for (const name of names) {
        const st = await withFolder(user, name, async (f) => ({ uidValidity: f.uidValidity, uidNext: f.nextUid, ...withId(await mailboxIdOf(user, f, claims)) })).catch(() => undefined);
        if (!st) continue;
        const special = SPECIAL[name];
        out.push({
          name,
          ...st,
          ...(special ? { specialUse: special } : {}),
          subscribed: subs.has(name),
          hasChildren: names.some((n) => n.startsWith(name + '/')),
        });
      }
      return out;
    },

    // directory names only (maildir-mailboxes.ts): no folder is loaded, synced or written to
    mailboxNames: async (user) => (await folderNames(user)).map((name) => (SPECIAL[name] ? { name, specialUse: SPECIAL[name] } : { name })),

    createMailbox: (user, mailbox) => admin.create(user, mailbox),
    specialUseOf: (name) => SPECIAL[name],
    deleteMailbox: (user, mailbox) => admin.remove(user, mailbox),
    renameMailbox: (user, from, to) => admin.rename(user, from, to),
    setSubscribed: (user, mailbox, subscribed) => admin.subscribe(user, mailbox, subscribed),
    listSubscriptions: async (user) => [...(await readSubscriptions(user))].sort(),

    async status(user, mailbox) {
      // the folder alone: no listing of the user's folders (see MailboxStatus)
      return withFolder(user, mailbox, async (f, name): Promise<MailboxStatus> => {
        const list = f.list();
        const special = SPECIAL[name];
        return {
          name,
          uidValidity: f.uidValidity,
          uidNext: f.nextUid,
          ...withId(await mailboxIdOf(user, f)),
          ...(special ? { specialUse: special } : {}),
          messages: list.length,
          unseen: list.filter((m) => !m.flags.includes('\\Seen')).length,
          deleted: list.filter((m) => m.flags.includes('\\Deleted')).length,
          recent: list.filter((m) => m.recent).length,
          size: list.reduce((sum, m) => sum + m.size, 0),
          highestModseq: f.highestModseq,
        };
      });
    },

    list: (user, mailbox, o) =>
      withFolder(user, mailbox, async (f) => {
        if (o?.uidValidity !== undefined && f.uidValidity !== o.uidValidity) throw new MailboxError('NONEXISTENT', 'mailbox was replaced (new UIDVALIDITY)');
        return (o?.dates === false ? f : await dated(f)).list();
      }),

    meta: (user, mailbox, uid) => withFolder(user, mailbox, async (f) => (await dated(f, [uid])).get(uid)),

    async read(user, mailbox, uid) {
      // No mutex: the index says where the file is; a concurrent rename (flag change, new → cur) is retried after a resync.
      let f = loadedFolder(user, mailbox) ?? (await withFolder(user, mailbox, async (g) => g));
      let file = f.fileOf(uid);
      for (let attempt = 0; attempt < 3; attempt++) {
        if (file === undefined) {
          // after a miss the stamps are not trusted: another program may have removed or renamed the file within
          // one timestamp tick; what the re-scan finds reaches the watching sessions
          f = await withFolder(user, mailbox, async (g) => {
            if (attempt > 0) await g.rescan();
            return g;
          });
          file = f.filePath(uid);
        }
        const raw = await readMessageFile(file, syncReadMax);
        if (raw) return raw;
        const moved = f.fileOf(uid);
        file = moved !== file ? moved : undefined;
      }
      throw new MailboxError('NONEXISTENT', `message UID ${uid} vanished`);
    },

    async readHeader(user, mailbox, uid) {
      const f = loadedFolder(user, mailbox) ?? (await withFolder(user, mailbox, async (g) => g));
      const file = f.fileOf(uid);
      // a file renamed meanwhile (a flag change) or not indexed yet: read() finds it
      if (file !== undefined) {
        try {
          return await readHead(file, toCrlf);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
      }
      return store.read(user, mailbox, uid);
    },

    async headerFields(user, mailbox, uids, query) {
      const f = loadedFolder(user, mailbox) ?? (await withFolder(user, mailbox, async (g) => g));
      return cachedHeaderFields(f, uids, toCrlf, query);
    },

    async append(user, mailbox, raw, o) {
      const data = toCrlf(raw);
      const name = normalizeMailbox(mailbox);
      const f = loadedFolder(user, name) ?? (await withFolder(user, name, async (g) => g));
      const staged = await stageMessage(f.path, fsync, data, o?.flags ?? [], o?.internalDate, clock.now());
      const res = await new Promise<number | Error>((done) => {
        f.pending.push({ staged, done });
        groupCommit(user, name, f);
      });
      if (res instanceof Error) throw res;
      return { uid: res, uidValidity: f.uidValidity };
    },

    async appendAll(user, mailbox, messages) {
      const name = normalizeMailbox(mailbox);
      const f = loadedFolder(user, name) ?? (await withFolder(user, name, async (g) => g));
      const staged = await stageAll(f.path, fsync, messages.map((m) => ({ ...m, raw: toCrlf(m.raw) })), () => clock.now());
      const res = await withFolder(user, name, async (g, n) => {
        if (g !== f) throw new MailboxError('NONEXISTENT', 'mailbox was removed during delivery');
        return { uids: await commitAll(g, staged, fsync), name: n };
      });
      if (res.uids.length > 0) emit(user, res.name, [{ kind: 'append', uids: res.uids }]);
      return { uidValidity: f.uidValidity, uids: res.uids };
    },

    async setFlags(user, mailbox, uid, flags) {
      const res = await withFolder(user, mailbox, async (f, name) => ({ flags: await f.setFlags(uid, flags), name }));
      emit(user, res.name, [{ kind: 'flags', uid, flags: res.flags }]);
    },

    async updateFlags(user, mailbox, uid, change) {
      const [res] = await store.storeFlags(user, mailbox, [uid], change);
      return res?.kind === 'done' ? res.flags : undefined;
    },

    async storeFlags(user, mailbox, uids, change, o) {
      const res = await withFolder(user, mailbox, async (f, name) => ({ done: await f.updateFlags(uids, change, o?.unchangedSince), name }));
      // other sessions hear of a change only (a STORE that changes nothing must not make them all re-sync)
      const changes: MailboxChange[] = [];
      const out = res.done.map((done, i): FlagOutcome => {
        if (done === undefined) return { kind: 'gone' };
        if (done === 'modified') return { kind: 'modified' };
        if (done.changed) changes.push({ kind: 'flags', uid: uids[i] as number, flags: done.flags });
        return { kind: 'done', flags: done.flags, changed: done.changed, modseq: done.modseq };
      });
      if (changes.length > 0) emit(user, res.name, changes);
      return out;
    },

    async expunge(user, mailbox, uids) {
      const res = await withFolder(user, mailbox, async (f, name) => ({ done: await f.expunge(uids), name }));
      if (res.done.length > 0) emit(user, res.name, [{ kind: 'expunge', uids: res.done }]);
    },

    async copy(user, from, uids, to) {
      // Both folders stay locked from resolving the source files to the commit: a STORE, EXPUNGE or new/ → cur/
      // move in another session cannot rename a source file in between (RFC 3501 §6.4.7: all or nothing).
      const res = await withPair(user, from, to, async (src, dst, _fromName, toName) => {
        const added: Entry[] = [];
        const copied: number[] = [];
        try {
          await src.resolveDates(uids);
          await src.cache.ensure();
          for (const uid of uids) {
            // Bounded: a file another program renamed or removed is looked for again after a re-scan, twice at most.
            for (let attempt = 0; ; attempt++) {
              const meta = src.get(uid);
              if (!meta) break; // expunged by another program: nothing to copy (RFC 3501 §6.4.8 ignores such UIDs)
              const key = src.keyOf(uid);
              try {
                added.push(await dst.addCopy(src.filePath(uid), meta, src.uidValidity, clock.now(), key === undefined ? undefined : src.cache.get(key)));
                copied.push(uid);
                break;
              } catch (err) {
                if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 2) throw err;
                await src.rescan(); // what it finds is announced when the folder is let go
                await src.resolveDates([uid]);
              }
            }
          }
          await dst.commit();
        } catch (err) {
          await dst.discard(added);
          throw err;
        }
        // numbered by the commit, under the uid list's lock: COPYUID answers the UIDs stored (RFC 4315 §3)
        return { uidValidity: dst.uidValidity, uids: added.map((e) => e.uid), from: copied, toName };
      });
      if (res.uids.length > 0) emit(user, res.toName, [{ kind: 'append', uids: res.uids }]);
      return { uidValidity: res.uidValidity, uids: res.uids, from: res.from };
    },

    claimRecent: (user, mailbox) => withFolder(user, mailbox, async (f, name) => claim(user, name, f)),

    open: (user, mailbox, o) =>
      withFolder(user, mailbox, async (f, name) => {
        const claimed = o.claimRecent ? await claim(user, name, f) : undefined;
        const messages = f.list();
        const recent = claimed ?? messages.filter((m) => m.recent).map((m) => m.uid);
        const vanished = o.expungedSince === undefined ? undefined : f.expungedSince(o.expungedSince);
        return { messages, uidValidity: f.uidValidity, uidNext: f.nextUid, recent, highestModseq: f.highestModseq, ...withId(await mailboxIdOf(user, f)), ...(vanished ? { vanished } : {}) };
      }),

    expungedSince: (user, mailbox, modseq) => withFolder(user, mailbox, async (f) => f.expungedSince(modseq)),

    settle: () => jobs.settle(),

    objectIds: {
      emailId: cachedEmailIds(),
      saveDate: (meta) => (meta.key === undefined ? undefined : saveDateOf(meta.key, clock.now())),
    },

    async usage(user) {
      let total = 0;
      for (const name of await folderNames(user)) {
        const list = await store.list(user, name, { dates: false }).catch(() => []);
        for (const m of list) total += m.size;
      }
      return total;
    },

    watch(user, mailbox, listener) {
      const key = wkey(user, normalizeMailbox(mailbox));
      let set = watchers.get(key);
      if (!set) watchers.set(key, (set = new Set()));
      set.add(listener);
      return () => {
        set.delete(listener);
        if (set.size === 0) watchers.delete(key);
      };
    },
  };
  const admin = mailboxAdmin({
    root: opts.root, fsync, clock, mutex, store,
    dropFolder: (path) => folders.delete(path),
    forget,
    expunged: (user, name) => emit(user, name, [{ kind: 'expunge', uids: [] }]),
    ...(opts.maxMailboxes !== undefined ? { maxMailboxes: opts.maxMailboxes } : {}),
  });
  return store;
}

export { toCrlf } from './maildir-crlf.ts';
