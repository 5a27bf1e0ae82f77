// Per-folder cache file (spamgate.cache): INTERNALDATE and cached header fields by Maildir base name, like dovecot.index.cache.
// An append-only log of JSON lines, last line per key wins; torn or foreign lines are skipped, and entries are
// validated by file name, so a lost or stale cache only costs re-reading files. Rewritten atomically when mostly dead.
import { isAscii } from 'node:buffer';
import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FieldQuery, HeaderField } from './mailbox-store.ts';
import { writeFileAtomic } from './maildir-files.ts';
import { readRegular } from '../util/read-regular.ts';

export interface CacheEntry {
  date: number;
  fields?: readonly HeaderField[];
}

const FILE = 'spamgate.cache';
/** SGCACHE2: lines hold References too; an SGCACHE1 file (without them) is ignored and rewritten, as a lost cache. */
const MAGIC = 'SGCACHE2';

/** An entry recorded at run time (or a line the quick path does not take): the JSON line when it carries fields. */
interface Slot {
  date: number;
  line: string | undefined;
}

/**
 * The log as read stays one string, and each key maps to where its last line starts (negated, -1 - start, for a
 * line without fields): no object per line for the garbage collector to carry, lines are cut out and parsed at each
 * use. Entries recorded since, and odd lines, are slots; the two maps never share a key.
 */
export class FolderCache {
  private text = '';
  private readonly at = new Map<string, number>();
  private readonly slots = new Map<string, Slot>();
  private lines = 0;
  /** The file read ended inside a line (a crash mid-append). */
  private torn = false;
  private pending: string[] = [];
  private tail: Promise<void> = Promise.resolve();
  private ready: Promise<void> | undefined;
  private done = false;
  /** The file as read holds no 8-bit text and no encoded word. */
  private plainFile = true;
  /** The text fields() last looked for, and the file lines that hold it. */
  private mentionsText: string | undefined;
  private mentionsLines: ReadonlySet<number> = new Set();
  private patternText: string | undefined;
  private pattern = /(?:)/;
  /** The field fields() last cut out, and the text that opens it in a line. */
  private pickName = '';
  private pickOpen = '';
  /** Set when the folder was indexed without the cache (snapshot or scan): keys it does not list are dropped on load. */
  retainOnLoad: (() => ReadonlyMap<string, string>) | undefined;

  constructor(private readonly dir: string) {}

  get(key: string): CacheEntry | undefined {
    const slot = this.slots.get(key);
    if (slot) return (slot.line === undefined ? undefined : parseLine(slot.line)?.[1]) ?? { date: slot.date };
    const at = this.at.get(key);
    if (at === undefined) return undefined;
    return parseLine(this.lineAt(at))?.[1];
  }

  /**
   * The cached fields of a key (every occurrence, in order), narrowed by the query; undefined when none are cached.
   * A line that does not mention the query's text gives none, unparsed and with nothing allocated (that text is never
   * escaped in JSON, so a value holding it holds it in the line as it is). One named field is cut out of the line
   * without parsing it when its values need no unescaping.
   */
  fields(key: string, query?: FieldQuery): readonly HeaderField[] | undefined {
    const at = this.at.get(key);
    if (at !== undefined && at < 0) return undefined; // a line without fields
    // A line of the file is looked up among those the whole file's search found (nothing cut out or scanned here).
    if (at !== undefined && query?.mentions !== undefined && !this.fileLinesMentioning(query.mentions).has(at)) return NONE;
    const line = at !== undefined ? this.lineAt(at) : this.slots.get(key)?.line;
    if (line === undefined) return undefined;
    if (at === undefined && query?.mentions !== undefined && !this.mentionsPattern(query.mentions).test(line) && !EIGHT_BIT_OR_ENCODED.test(line)) return NONE;
    const only = query?.only;
    if (only !== undefined) {
      if (only !== this.pickName) this.pickOpen = '["' + (this.pickName = only) + '","';
      const picked = pickField(line, only, this.pickOpen);
      if (picked) return picked;
    }
    const fields = parseLine(line)?.[1].fields;
    return only === undefined || !fields ? fields : fields.filter((f) => f[0] === only);
  }

  /**
   * Starts of the file's lines that hold the text (ASCII case-insensitively), 8-bit text or an encoded word: one
   * native search over the whole file, kept for the next call with the same text (the file's text never changes).
   */
  private fileLinesMentioning(text: string): ReadonlySet<number> {
    if (text === this.mentionsText) return this.mentionsLines;
    const lines = new Set<number>();
    const all = this.text;
    const scan = (re: RegExp): void => {
      for (let m = re.exec(all); m; m = re.exec(all)) {
        lines.add(all.lastIndexOf('\n', m.index) + 1);
        const end = all.indexOf('\n', m.index);
        if (end < 0) break;
        re.lastIndex = end; // one hit per line is enough
      }
    };
    scan(new RegExp(this.mentionsPattern(text).source, 'gi'));
    if (!this.plainFile) scan(new RegExp(EIGHT_BIT_OR_ENCODED.source, 'g'));
    this.mentionsText = text;
    this.mentionsLines = lines;
    return lines;
  }

  /** The text as a case-insensitive pattern (kept for the next call with the same text). */
  private mentionsPattern(text: string): RegExp {
    if (text !== this.patternText) this.pattern = new RegExp((this.patternText = text).replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'i');
    return this.pattern;
  }

  /** INTERNALDATE alone, without parsing the cached fields. */
  dateOf(key: string): number | undefined {
    const at = this.at.get(key);
    if (at === undefined) return this.slots.get(key)?.date;
    const text = this.text;
    const from = (at >= 0 ? at : -1 - at) + key.length + 4; // after `["key",` (a quick line's key has no escapes)
    let n = 0;
    let plain = true;
    let i = from;
    for (let c = text.charCodeAt(i); c !== 44 /* , */ && c !== 93 /* ] */; c = text.charCodeAt(++i)) {
      if (c >= 48 && c <= 57) n = n * 10 + (c - 48);
      else plain = false; // a fraction (mtimeMs) or a sign: load() checked it is a number
    }
    return plain ? n : Number(text.slice(from, i));
  }

  private lineAt(at: number): string {
    const from = at >= 0 ? at : -1 - at;
    const end = this.text.indexOf('\n', from);
    return this.text.slice(from, end < 0 ? this.text.length : end);
  }

  /** True once the log has been read (dateOf() answers from it). */
  get loaded(): boolean {
    return this.done;
  }

  /** Loads the log once, on first need (a SELECT never waits for it); get() and dateOf() need it done. */
  ensure(): Promise<void> {
    this.ready ??= this.load(this.retainOnLoad?.()).then(() => {
      this.done = true;
    });
    return this.ready;
  }

  /**
   * Lines are only split into key and start here (in place); fields are parsed at use. Entries set meanwhile win.
   * With `live`, lines of other keys are skipped and keys are stored as live's own strings.
   */
  private async load(live: ReadonlyMap<string, string> | undefined): Promise<void> {
    const buf = await readRegular(join(this.dir, FILE)).catch(() => Buffer.alloc(0));
    const text = buf.toString('utf8');
    if (!text.startsWith(MAGIC + '\n')) return;
    this.text = text;
    this.plainFile = isAscii(buf) && !text.includes('=?');
    this.torn = !text.endsWith('\n'); // the next append starts a line of its own
    let pos = MAGIC.length + 1;
    while (pos < text.length) {
      let end = text.indexOf('\n', pos);
      if (end < 0) end = text.length;
      if (end > pos) {
        if (this.quickLine(text, pos, end, live)) this.lines++;
        else {
          const full = parseLine(text.slice(pos, end));
          // A torn last line after a crash, or a foreign one, is ignored.
          if (full) this.lines++;
          const key = full && (live ? live.get(full[0]) : full[0]);
          if (full && key !== undefined && !this.slots.has(key)) {
            this.at.delete(key);
            this.slots.set(key, { date: full[1].date, line: full[1].fields ? text.slice(pos, end) : undefined });
          }
        }
      }
      pos = end + 1;
    }
  }

  /** `["key",date]` or `["key",date,...]` with a plain key, taken without JSON.parse; false for anything else. */
  private quickLine(text: string, pos: number, end: number, live: ReadonlyMap<string, string> | undefined): boolean {
    if (text.charCodeAt(pos) !== 91 /* [ */ || text.charCodeAt(pos + 1) !== 34 /* " */ || text.charCodeAt(end - 1) !== 93 /* ] */) return false;
    const q = text.indexOf('"', pos + 2);
    if (q < 0 || q >= end || text.charCodeAt(q + 1) !== 44 /* , */) return false;
    let stop = q + 2;
    while (stop < end && text.charCodeAt(stop) !== 44 && text.charCodeAt(stop) !== 93) stop++;
    if (stop === q + 2 || !Number.isFinite(Number(text.slice(q + 2, stop)))) return false;
    const slice = text.slice(pos + 2, q);
    if (slice.includes('\\')) return false;
    const key = live ? live.get(slice) : slice;
    if (key === undefined || this.slots.has(key)) return true; // no such file, or recorded since: that entry wins
    this.at.set(key, text.charCodeAt(stop) === 44 ? pos : -1 - pos);
    return true;
  }

  /**
   * Forgets the entries of messages that are gone (expunged, or removed by another program): without it a
   * download-and-delete mailbox kept an entry per message it ever held, in memory and in the file, until a
   * restart. Their lines leave the file at the next rewrite, which flush() does once most lines are dead.
   */
  forget(keys: readonly string[]): void {
    for (const key of keys) {
      this.at.delete(key);
      this.slots.delete(key);
    }
  }

  /** Records an entry; written out by flush(). */
  set(key: string, entry: CacheEntry): void {
    const line = JSON.stringify(entry.fields ? [key, entry.date, entry.fields] : [key, entry.date]);
    this.at.delete(key);
    this.slots.set(key, { date: entry.date, line: entry.fields ? line : undefined });
    this.pending.push(line + '\n');
  }

  /** Records INTERNALDATE, keeping cached fields (needs ensure() done). */
  setDate(key: string, date: number): void {
    const prev = this.get(key);
    this.set(key, prev ? { ...prev, date } : { date });
  }

  /** Appends pending lines (or rewrites the file when most lines are dead); failures only cost a cache miss later. */
  flush(): Promise<void> {
    if (this.pending.length === 0) return this.tail;
    const body = this.pending.join('');
    const count = this.pending.length;
    this.pending = [];
    this.tail = this.tail.then(() => this.ensure()).then(async () => {
      const path = join(this.dir, FILE);
      const size = this.at.size + this.slots.size;
      this.lines += count;
      if (this.lines > 2 * size + 256 || this.lines === count) {
        const all = [MAGIC + '\n'];
        for (const at of this.at.values()) all.push(this.lineAt(at) + '\n');
        for (const [k, e] of this.slots) all.push((e.line ?? JSON.stringify([k, e.date])) + '\n');
        this.lines = size;
        await writeFileAtomic(path, all.join(''), false);
      } else {
        await appendFile(path, this.torn ? '\n' + body : body, { mode: 0o600 });
        this.torn = false;
      }
    }).catch(() => undefined);
    return this.tail;
  }
}

const NONE: readonly HeaderField[] = Object.freeze([]);
/** Text that might decode to anything: 8-bit bytes (as code units) or an RFC 2047 encoded word. */
const EIGHT_BIT_OR_ENCODED = /[\x80-\uffff]|=\?/;

/**
 * The `name` fields of a line as JSON.stringify wrote it, cut out without parsing: `["name","` can only be structure
 * there (a quote inside a value is escaped). Undefined when a value holds an escape (the caller parses the line).
 */
function pickField(line: string, name: string, open: string): HeaderField[] | undefined {
  const out: HeaderField[] = [];
  for (let at = line.indexOf(open); at >= 0; at = line.indexOf(open, at + open.length)) {
    const from = at + open.length;
    const to = line.indexOf('"', from);
    if (to < 0) return undefined;
    const value = line.slice(from, to);
    if (value.includes('\\')) return undefined;
    out.push([name, value]);
  }
  return out;
}

function isField(f: unknown): f is HeaderField {
  return Array.isArray(f) && f.length === 2 && typeof f[0] === 'string' && typeof f[1] === 'string';
}

function parseLine(line: string): [string, CacheEntry] | undefined {
  try {
    const v: unknown = JSON.parse(line);
    if (!Array.isArray(v) || typeof v[0] !== 'string' || typeof v[1] !== 'number') return undefined;
    const fields = Array.isArray(v[2]) ? (v[2] as unknown[]).filter(isField) : undefined;
    return [v[0], fields ? { date: v[1], fields } : { date: v[1] }];
  } catch {
    return undefined;
  }
}
