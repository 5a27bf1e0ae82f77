// Hot reload on change: watches the rules directories and calls onChange once their *.yaml files have been
// quiet for a moment (editors save in bursts: temp file, rename, chmod) and differ from what was last
// loaded — a reload already done by SIGHUP for the same edit is not repeated. Files the rules read (list files
// of the `lists:` section) are watched the same way. The config file itself still reloads on SIGHUP (it also
// names certificates and listeners).
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, realpathSync, statSync, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { MAX_LIST_FILE_BYTES } from '../lists/list-file.ts';
import { readBounded } from '../util/read-bounded.ts';
import { silentLogger, type Logger } from '../util/logger.ts';

export interface RulesWatcher {
  /**
   * Watches these directories (call after every reload): re-attaches when the list changed or when a
   * directory was replaced (`mv rules rules.old && mv rules.new rules`), since a watch follows the inode.
   */
  update(rulesDirs: readonly string[], files?: readonly string[]): void;
  /** Records the rules files as they are now as loaded (call when a reload reads them, whatever the outcome). */
  noteLoaded(): void;
  close(): void;
}

export interface RulesWatcherOptions {
  onChange: () => void;
  /** Quiet time after the last event before onChange runs (ms). */
  debounceMs?: number;
  log?: Logger;
  /** Other files the rules read (Ruleset.reads): a change to one reloads too. */
  files?: readonly string[];
}

const RULE_FILE = /\.ya?ml$/;

/** Digest of the names and contents of the rules files in `dirs` and of `files` (unreadable entries count by name). */
export function rulesFingerprint(dirs: readonly string[], files: readonly string[] = []): string {
  const h = createHash('sha256');
  for (const file of files) {
    h.update(`\0${file}\0`);
    try {
      // as the loader reads them: a pipe would block, a device never end, and past the bound a file is refused
      // anyway (its size still counts)
      const st = statSync(file);
      if (st.isFile()) h.update(`${st.size}\0`).update(readBounded(file, MAX_LIST_FILE_BYTES + 1));
      else h.update('\0not a file\0');
    } catch {
      h.update('\0unreadable\0');
    }
  }
  for (const dir of dirs) {
    let names: string[];
    try {
      names = readdirSync(dir).filter((n) => RULE_FILE.test(n)).sort();
    } catch {
      h.update(`\0missing ${dir}\0`);
      continue;
    }
    for (const name of names) {
      h.update(`\0${path.join(dir, name)}\0`);
      try {
        h.update(readFileSync(path.join(dir, name)));
      } catch {
        h.update('\0unreadable\0');
      }
    }
  }
  return h.digest('hex');
}

/** Which directory a path names now: device and inode, so a replaced directory is told apart. */
function identity(dir: string): string {
  try {
    const st = statSync(dir);
    return `${st.dev}:${st.ino}`;
  } catch {
    return 'missing';
  }
}

/** The file a symbolic link `file` (or one of its directories) leads to, when it is another. */
function linkTarget(file: string): string[] {
  try {
    const real = realpathSync(file);
    return real === path.resolve(file) ? [] : [real];
  } catch {
    return [];
  }
}

export function watchRules(rulesDirs: readonly string[], opts: RulesWatcherOptions): RulesWatcher {
  const log = opts.log ?? silentLogger;
  const debounceMs = opts.debounceMs ?? 250;
  let dirs = [...rulesDirs];
  let files = [...(opts.files ?? [])];
  let loaded = rulesFingerprint(dirs, files);
  let watchers: FSWatcher[] = [];
  /** identity() of each of `dirs` when its watch was attached. */
  let watched: string[] = [];
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const settle = (): void => {
    timer = undefined;
    if (closed) return;
    const now = rulesFingerprint(dirs, files);
    if (now === loaded) return;
    loaded = now;
    opts.onChange();
  };
  const changed = (): void => {
    if (closed) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(settle, debounceMs);
    timer.unref();
  };
  /**
   * The other files as named and, for a symbolic link, the file it leads to: a watch on the link's directory
   * does not see the target edited (a list file kept elsewhere and linked into the rules directory).
   */
  const followed = (): string[] => [...new Set(files.flatMap((f) => [f, ...linkTarget(f)]))];
  /** Every directory watched: the rules directories, then those of the other files. */
  const targets = (): string[] => [...dirs, ...followed().map((f) => path.dirname(f))];
  const start = (): void => {
    for (const w of watchers) w.close();
    watchers = [];
    watched = targets().map(identity);
    const rulesDirs = new Set(dirs.map((d) => path.resolve(d)));
    const others = followed();
    for (const dir of new Set(targets().map((d) => path.resolve(d)))) {
      // a file is watched through its directory: an editor saving by rename replaces the file's inode
      const names = new Set(others.filter((f) => path.resolve(path.dirname(f)) === dir).map((f) => path.basename(f)));
      try {
        const w = watch(dir, { persistent: false }, (_event, name) => {
          // some platforms do not say which file changed: take it as a change
          if (name === null || (rulesDirs.has(dir) && RULE_FILE.test(String(name))) || names.has(String(name))) changed();
        });
        w.on('error', (err) => log.warn('rules watcher stopped; changes in this directory need SIGHUP', { dir, error: err.message }));
        watchers.push(w);
      } catch (err) {
        log.warn('cannot watch for rule changes; SIGHUP still reloads', { dir, error: (err as Error).message });
      }
    }
  };

  start();
  return {
    update(next, nextFiles = files) {
      if (closed) return;
      const before = targets();
      const sameFiles = nextFiles.length === files.length && nextFiles.every((f, i) => f === files[i]);
      const same = sameFiles && next.length === dirs.length && next.every((d, i) => d === dirs[i]) && before.every((d, i) => identity(d) === watched[i]);
      dirs = [...next];
      files = [...nextFiles];
      if (same) return;
      loaded = rulesFingerprint(dirs, files);
      start();
    },
    noteLoaded() {
      loaded = rulesFingerprint(dirs, files);
    },
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      for (const w of watchers) w.close();
      watchers = [];
    },
  };
}
