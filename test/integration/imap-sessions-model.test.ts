// Several sessions on one mailbox, driven at random (fixed seed) with STORE, EXPUNGE, APPEND, COPY, MOVE, FETCH,
// SEARCH and IDLE while delivery and another program (rm, flag renames, POP3-style expunges) change the Maildir.
// Each session keeps a client's model from the untagged responses alone; at quiet points every model must match
// the store: sequence numbers, UIDs and flags (RFC 3501 §5.2, §7.4.1). EXPUNGE never comes during FETCH, STORE or
// SEARCH, and no command fails with a server error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { sample, startImap } from './imap-harness.ts';
import { loggedIn, type Raw } from './imap-raw.ts';

const USER = 'alice@example.org';
const ROUNDS = 150;

/** mulberry32: a small seeded generator, so a failure replays with the same operations. */
function generator(seed: number): (n: number) => number {
  let s = seed;
  return (n) => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) % n;
  };
}

const flagText = (flags: Iterable<string>): string => [...flags].filter((f) => f !== '\\Recent').sort().join(' ');

/** What a client knows of the selected mailbox: UIDs by sequence number (null: not fetched yet) and flags by UID. */
class ClientModel {
  readonly uids: (number | null)[] = [];
  readonly flags = new Map<number, string>();
  private readonly log: string[] = [];
  private serial = 0;

  constructor(
    readonly name: string,
    readonly raw: Raw,
  ) {}

  /** Applies the untagged responses of one command (or of an IDLE); checks what must hold at once. */
  apply(text: string, command: string): void {
    this.log.push(`>> ${command.split('\r\n')[0] ?? ''}\n${text}`);
    if (this.log.length > 40) this.log.shift();
    const noExpunge = /^\S+ (FETCH|STORE|SEARCH) /.test(command);
    for (const line of text.split('\r\n')) {
      assert.doesNotMatch(line, /SERVERBUG|^\S+ BAD /, `${this.name}: ${command.split('\r\n')[0] ?? ''}`);
      const exists = /^\* (\d+) EXISTS$/.exec(line);
      if (exists) {
        const n = Number(exists[1]);
        assert.ok(n >= this.uids.length, `${this.name}: EXISTS ${n} below ${this.uids.length} without EXPUNGE\n${this.history()}`);
        while (this.uids.length < n) this.uids.push(null);
        continue;
      }
      const expunge = /^\* (\d+) EXPUNGE$/.exec(line);
      if (expunge) {
        assert.ok(!noExpunge, `${this.name}: EXPUNGE during ${command} (RFC 3501 §7.4.1)\n${this.history()}`);
        const n = Number(expunge[1]);
        assert.ok(n >= 1 && n <= this.uids.length, `${this.name}: EXPUNGE ${n} of ${this.uids.length}\n${this.history()}`);
        const [gone] = this.uids.splice(n - 1, 1);
        if (gone) this.flags.delete(gone);
        continue;
      }
      const fetch = /^\* (\d+) FETCH \((.*)\)$/.exec(line);
      if (!fetch) continue;
      const n = Number(fetch[1]);
      const items = fetch[2] ?? '';
      assert.ok(n >= 1 && n <= this.uids.length, `${this.name}: FETCH ${n} of ${this.uids.length}\n${this.history()}`);
      const uid = /UID (\d+)/.exec(items);
      if (uid) {
        const had = this.uids[n - 1];
        assert.ok(had === null || had === Number(uid[1]), `${this.name}: message ${n} was UID ${had}, now UID ${uid[1]}\n${this.history()}`);
        this.uids[n - 1] = Number(uid[1]);
      }
      const flags = /FLAGS \(([^)]*)\)/.exec(items);
      const known = this.uids[n - 1];
      if (flags && known) this.flags.set(known, flagText((flags[1] ?? '').split(' ').filter(Boolean)));
    }
  }

  async cmd(line: string): Promise<string> {
    const tag = `${this.name}x${++this.serial}`;
    const out = await this.raw.cmd(tag, line);
    this.apply(out, `${tag} ${line}`);
    // a silent change the client made itself: it knows the result without being told (when it knew the flags)
    const silent = /^STORE (\d+) ([+-])FLAGS\.SILENT \((\S+)\)$/.exec(line);
    const uid = silent ? this.uids[Number(silent[1]) - 1] : undefined;
    if (silent && uid && this.flags.has(uid) && new RegExp(`^${tag} OK`, 'm').test(out)) {
      const set = new Set((this.flags.get(uid) ?? '').split(' ').filter(Boolean));
      if (silent[2] === '+') set.add(silent[3] ?? '');
      else set.delete(silent[3] ?? '');
      this.flags.set(uid, flagText(set));
    }
    return out;
  }

  history(): string {
    return this.log.join('');
  }
}

test('sessions, delivery and another program at random: every session\'s sequence numbers, UIDs and flags match the store', { timeout: 120_000 }, async (t) => {
  const rnd = generator(20261206);
  const h = await startImap(t);
  await h.store.ensureUser(USER);
  await h.store.createMailbox(USER, 'Box');
  for (let i = 0; i < 8; i++) await h.store.append(USER, 'INBOX', Buffer.from(sample(`m${i}`)));
  const cur = join(h.store.maildirOf(USER), 'cur');
  const sessions: ClientModel[] = [];
  for (let i = 0; i < 4; i++) {
    const m = new ClientModel(`S${i}`, await loggedIn(h, t));
    await m.cmd(i === 2 ? 'EXAMINE INBOX' : 'SELECT INBOX');
    await m.cmd('FETCH 1:* (UID FLAGS)');
    sessions.push(m);
  }
  const [s0, s1, s2, idler] = sessions as [ClientModel, ClientModel, ClientModel, ClientModel];
  const flags = ['\\Seen', '\\Flagged', '\\Deleted', '$label'];
  const anyFile = async (): Promise<string | undefined> => {
    const files = await readdir(cur);
    return files[rnd(Math.max(1, files.length))];
  };
  // another program, or POP3 / delivery through the store
  const elsewhere = async (): Promise<unknown> => {
    const list = await h.store.list(USER, 'INBOX');
    const pick = list[rnd(Math.max(1, list.length))];
    switch (rnd(8)) {
      case 0: {
        const f = await anyFile();
        return f === undefined ? undefined : rm(join(cur, f), { force: true });
      }
      case 1:
        return pick && h.store.expunge(USER, 'INBOX', [pick.uid]);
      case 2:
        return pick && h.store.updateFlags(USER, 'INBOX', pick.uid, { add: ['\\Seen'] });
      case 3: {
        const f = await anyFile();
        return f?.endsWith(':2,') ? rename(join(cur, f), join(cur, `${f}F`)).catch(() => undefined) : undefined;
      }
      default:
        return undefined;
    }
  };
  const client = (m: ClientModel, round: number): Promise<unknown> => {
    const n = m.uids.length;
    const seq = `${1 + rnd(Math.max(1, n))}`;
    const flag = flags[rnd(flags.length)] ?? '\\Seen';
    const k = rnd(12);
    if (n > 0 && k === 0) return m.cmd(`STORE ${seq} +FLAGS${rnd(2) ? '.SILENT' : ''} (${flag})`);
    if (n > 0 && k === 1) return m.cmd(`STORE ${seq} -FLAGS${rnd(2) ? '.SILENT' : ''} (${flag})`);
    if (k === 2) return m.cmd('EXPUNGE');
    if (k === 3 || n < 6) {
      const msg = sample(`a${round}`);
      return m.cmd(`APPEND INBOX ${rnd(2) ? '(\\Deleted) ' : ''}{${msg.length}+}\r\n${msg}`);
    }
    if (n > 0 && k === 4) return m.cmd(`MOVE ${seq} Box`);
    if (n > 0 && k === 5) return m.cmd('FETCH 1:* (UID)');
    if (k === 6) return m.cmd('UID FETCH 1:* (UID)');
    if (k === 7) return m.cmd('SEARCH UNSEEN');
    if (n > 0 && k === 8) return m.cmd(`COPY ${seq} INBOX`);
    if (k === 9 || n < 10) return h.store.append(USER, 'INBOX', Buffer.from(sample(`d${round}`)));
    if (n > 0 && k === 10) return m.cmd(`UID STORE ${m.uids[rnd(n)] ?? 1} +FLAGS (\\Deleted)`);
    return m.cmd('NOOP');
  };
  for (let round = 0; round < ROUNDS; round++) {
    const idling = round % 3 === 0;
    if (idling) {
      idler.raw.write(`I${round} IDLE\r\n`);
      await idler.raw.until((text) => text.includes('+ idling\r\n'));
    }
    await Promise.all([elsewhere(), client(s0, round), client(s1, round), client(s2, round)]);
    if (idling) idler.apply(await idler.raw.send(`I${round}`, 'DONE\r\n'), `I${round} IDLE`);
    if (round % 10 !== 9) continue;
    // a quiet point: the store's own re-scans done, every session told, new messages fetched
    await h.store.settle();
    for (const m of sessions) await m.cmd('NOOP');
    for (const m of sessions) {
      const unknown = m.uids.flatMap((u, i) => (u === null || !m.flags.has(u) ? [i + 1] : []));
      if (unknown.length > 0) await m.cmd(`FETCH ${unknown.join(',')} (UID FLAGS)`);
    }
    const list = await h.store.list(USER, 'INBOX');
    for (const m of sessions) {
      assert.deepEqual(m.uids, list.map((x) => x.uid), `${m.name}: view after round ${round}\n${m.history()}`);
      for (const x of list) assert.equal(m.flags.get(x.uid), flagText(x.flags), `${m.name}: flags of UID ${x.uid} after round ${round}\n${m.history()}`);
    }
  }
});
