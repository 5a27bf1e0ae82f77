// A user's named Sieve scripts (RFC 5804 storage): each under <home>/sieve/scripts/<hex of the name>.sieve, the
// active one's name in sieve/active.name and its text copied to sieve/active.sieve, the file delivery runs.
// Every write is atomic (temp file, fsync, rename; 0600); names are checked (RFC 5804 §1.6) before any path.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomicSync } from '../util/atomic-file.ts';
import { userHome } from './mail-root.ts';
import { sieveScriptFile } from './sieve-scripts.ts';

/** The name `spamgate users sieve set` stores its script under, and a script set before names existed is adopted as. */
export const CLI_SCRIPT = 'spamgate-cli';

/** Octets of a name: its hex form plus ".sieve" stays within the 255 of a file name. */
export const MAX_NAME_OCTETS = 120;

/** RFC 5804 §1.6: no control characters (C0, DEL, C1), no line or paragraph separators, not empty. */
const FORBIDDEN = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

export function checkScriptName(name: string): { ok: true } | { ok: false; reason: string } {
  if (name === '') return { ok: false, reason: 'empty script name' };
  if (FORBIDDEN.test(name)) return { ok: false, reason: 'script name with a control character' };
  if (Buffer.byteLength(name, 'utf8') > MAX_NAME_OCTETS) return { ok: false, reason: `script name longer than ${MAX_NAME_OCTETS} octets` };
  return { ok: true };
}

export interface ScriptEntry {
  name: string;
  active: boolean;
  bytes: number;
}

export type StoreResult = 'ok' | 'nonexistent' | 'alreadyexists' | 'active';

export interface SieveStore {
  list(user: string): ScriptEntry[];
  get(user: string, name: string): string | undefined;
  /** Creates or replaces; the active script's copy for delivery is replaced too. */
  put(user: string, name: string, text: string): void;
  /** '' deactivates (RFC 5804 §2.8). */
  setActive(user: string, name: string): StoreResult;
  remove(user: string, name: string): StoreResult;
  rename(user: string, from: string, to: string): StoreResult;
  activeName(user: string): string | undefined;
  /**
   * A script set before named scripts existed (active.sieve with no active.name): kept as `name` and marked
   * active, so LISTSCRIPTS shows what delivery runs. Does nothing otherwise.
   */
  adoptUnnamed(user: string, name: string): void;
}

const enoent = (err: unknown): boolean => (err as NodeJS.ErrnoException).code === 'ENOENT';

export function createSieveStore(dataDir: string): SieveStore {
  const sieveDir = (user: string): string => path.join(userHome(dataDir, user), 'sieve');
  const scriptsDir = (user: string): string => path.join(sieveDir(user), 'scripts');
  const marker = (user: string): string => path.join(sieveDir(user), 'active.name');
  const fileOf = (user: string, name: string): string => {
    const check = checkScriptName(name);
    if (!check.ok) throw new Error(check.reason); // callers check first; this guards the path
    return path.join(scriptsDir(user), `${Buffer.from(name, 'utf8').toString('hex')}.sieve`);
  };
  const write = (file: string, text: string): void => {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    writeFileAtomicSync(file, text, { mode: 0o600 });
  };
  const read = (file: string): string | undefined => {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      if (enoent(err)) return undefined;
      throw err;
    }
  };
  const activeName = (user: string): string | undefined => {
    const name = read(marker(user));
    return name !== undefined && checkScriptName(name).ok ? name : undefined;
  };
  const exists = (user: string, name: string): boolean => read(fileOf(user, name)) !== undefined;

  return {
    activeName,
    adoptUnnamed(user, name) {
      if (read(marker(user)) !== undefined) return;
      const text = read(sieveScriptFile(dataDir, user));
      if (text === undefined || exists(user, name)) return;
      write(fileOf(user, name), text);
      write(marker(user), name);
    },
    list(user) {
      let files: string[];
      try {
        files = readdirSync(scriptsDir(user));
      } catch (err) {
        if (enoent(err)) return [];
        throw err;
      }
      const active = activeName(user);
      const out: ScriptEntry[] = [];
      for (const f of files) {
        const m = /^((?:[0-9a-f]{2})+)\.sieve$/.exec(f);
        if (!m?.[1]) continue; // temp files and strays
        const name = Buffer.from(m[1], 'hex').toString('utf8');
        if (!checkScriptName(name).ok) continue;
        out.push({ name, active: name === active, bytes: statSync(path.join(scriptsDir(user), f)).size });
      }
      return out.sort((a, b) => (a.name < b.name ? -1 : 1));
    },
    get: (user, name) => read(fileOf(user, name)),
    put(user, name, text) {
      write(fileOf(user, name), text);
      if (activeName(user) === name) write(sieveScriptFile(dataDir, user), text);
    },
    setActive(user, name) {
      if (name === '') {
        // delivery stops first, then the marker goes
        rmSync(sieveScriptFile(dataDir, user), { force: true });
        rmSync(marker(user), { force: true });
        return 'ok';
      }
      const text = read(fileOf(user, name));
      if (text === undefined) return 'nonexistent';
      write(sieveScriptFile(dataDir, user), text);
      write(marker(user), name);
      return 'ok';
    },
    remove(user, name) {
      if (!exists(user, name)) return 'nonexistent';
      // RFC 5804 §2.10: the active script MUST NOT be deleted
      if (activeName(user) === name) return 'active';
      rmSync(fileOf(user, name));
      return 'ok';
    },
    rename(user, from, to) {
      if (!exists(user, from)) return 'nonexistent';
      if (exists(user, to)) return 'alreadyexists';
      const wasActive = activeName(user) === from;
      renameSync(fileOf(user, from), fileOf(user, to));
      if (wasActive) write(marker(user), to);
      return 'ok';
    },
  };
}
