// Hostile-input benchmark: the inputs that once made a parser, a regex or a hash table go quadratic
// (big rules and users files, hostile subjects, MIME, addresses, Message-IDs, dotted words, prvs tags),
// each timed at full size beside the same operation on a quarter-size input in the same run. The ratio
// is the figure: about 4 for linear work, about 16 for quadratic. Prints only; never fails on time.
// The unit tests check the results on these inputs; speed is measured here, not asserted there.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { runOffline } from '../../src/bayes/cli-support.ts';
import { parsePrvs } from '../../src/batv/prvs.ts';
import { createContentChecks } from '../../src/checks/content-checks.ts';
import { SHIPPED_RULES_DIR } from '../../src/config/load.ts';
import { withContentSymbols } from '../../src/content/engine.ts';
import { normalizedWords } from '../../src/fuzzy/digest.ts';
import { baseSubject, compareText } from '../../src/imap/base-subject.ts';
import { headerKeys, messageKeys, type MessageKeys } from '../../src/imap/message-keys.ts';
import { parseMime } from '../../src/imap/mime.ts';
import { formatThreads, referencesThreads } from '../../src/imap/thread.ts';
import { readUsersFile } from '../../src/mailhost/users.ts';
import { parseMail } from '../../src/mime/parse.ts';
import { loadRuleset } from '../../src/scoring/ruleset.ts';
import { compileSieve } from '../../src/sieve/compile.ts';
import { executeSieve } from '../../src/sieve/execute.ts';
import { sieveMessage } from '../../src/sieve/message.ts';
import { parseAddress } from '../../src/smtp/address.ts';

/** Fast operations are repeated until this much time has passed, so that their mean is steady. */
const MIN_SAMPLE_MS = 200;

interface Case {
  name: string;
  /** What the ratio should be, where not about 4. */
  expect?: string;
  /** Builds the operation for an input of the given scale (1 = the size the unit tests use). */
  prepare: (scale: number) => () => unknown;
}

/**
 * Mean milliseconds per run. A slow operation runs once (that one run is the figure, and keeps the bench
 * short); a fast one's first run only warms it up, then it repeats for MIN_SAMPLE_MS.
 */
async function timeIt(op: () => unknown): Promise<number> {
  const first = performance.now();
  await op();
  const once = performance.now() - first;
  if (once >= MIN_SAMPLE_MS) return once;
  let runs = 0;
  const started = performance.now();
  do {
    await op();
    runs++;
  } while (performance.now() - started < MIN_SAMPLE_MS);
  return (performance.now() - started) / runs;
}

function report(name: string, quarter: number, full: number, expect?: string): void {
  const ms = (n: number): string => (n < 10 ? n.toFixed(2) : n.toFixed(0));
  console.log(`hostile bench: ${name.padEnd(50)} 1/4 size ${ms(quarter).padStart(7)} ms, full ${ms(full).padStart(7)} ms, ratio ${(full / quarter).toFixed(1)}${expect ? ` (${expect})` : ''}`);
}

function syncCases(work: string): Case[] {
  const keysOf = (n: number): MessageKeys[] => {
    const long = 'x'.repeat(20_000);
    return Array.from({ length: n }, (_, i) => {
      const tail = String(i).padStart(5, '0');
      const keys = headerKeys([['message-id', `<${long}${tail}@x>`], ['subject', `${long}${tail}`]]);
      return messageKeys(i + 1, { uid: i + 1, size: 1, internalDate: i, flags: [], modseq: 1, recent: false } as never, keys);
    });
  };
  const chain = (n: number): MessageKeys[] =>
    Array.from({ length: n }, (_, i) => ({
      seq: i + 1, uid: i + 1, sent: i + 1, date: i + 1, arrival: 0, size: 0, subject: 'X', replyOrForward: false,
      from: '', to: '', cc: '', messageId: `m${i}`, references: i === 0 ? [] : [`m${i - 1}`],
    }));
  return [
    {
      name: 'rules file, 40,000 symbols (3 MB)',
      prepare: (scale) => {
        const dir = mkdtempSync(path.join(work, 'rules-'));
        const lines = ['symbols:'];
        for (let i = 0; i < 40_000 * scale; i++) lines.push(`  LOCAL_${i}: { weight: 1, description: filler text filler text ${i} }`);
        writeFileSync(path.join(dir, 'big.yaml'), lines.join('\n') + '\n');
        return () => loadRuleset([SHIPPED_RULES_DIR, dir]);
      },
    },
    {
      name: 'users file, 20,000 users',
      prepare: (scale) => {
        const file = path.join(mkdtempSync(path.join(work, 'users-')), 'users.yaml');
        const users: string[] = [];
        for (let i = 0; i < 20_000 * scale; i++) users.push(`user${i}@localhost:\n  password: $scrypt$16384$8$1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2g=`);
        writeFileSync(file, users.join('\n') + '\n');
        return () => readUsersFile(file);
      },
    },
    {
      name: 'MIME: delimiter-like line past the size cut',
      prepare: (scale) => {
        const filler = 'hello world\r\n'.repeat(Math.ceil((600 * 1024) / 13));
        const raw = Buffer.from(`Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n${filler}--${' '.repeat(100_000 * scale)}x\r\n--b--\r\n`, 'latin1');
        return () => parseMail(raw);
      },
    },
    {
      name: 'IMAP MIME: 499 parts, 4 MB without blank lines',
      prepare: (scale) => {
        let parts = 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n';
        for (let i = 0; i < 499; i++) parts += '--b\r\nX: y\r\n';
        const raw = Buffer.from(`${parts}--b\r\nX${'\r\na'.repeat(2_000_000 * scale)}\r\n`, 'latin1');
        return () => parseMime(raw);
      },
    },
    {
      name: 'address: 16,000 dots after the domain',
      prepare: (scale) => {
        const address = `a@b${'.'.repeat(16_000 * scale)}x`;
        return () => parseAddress(address);
      },
    },
    {
      name: 'base subject: Re:, [fwd: ], (fwd) by thousands',
      prepare: (scale) => {
        const s = (n: number): string => 'Re: '.repeat(50_000 * n) + '[fwd: '.repeat(20_000 * n) + 'x' + ']'.repeat(20_000 * n) + ' (fwd)'.repeat(20_000 * n);
        const long = s(scale);
        const brackets = '['.repeat(100_000 * scale);
        const blobs = '[a] '.repeat(50_000 * scale) + 'x';
        return () => [baseSubject(long), baseSubject(brackets), baseSubject(blobs)];
      },
    },
    {
      name: 'collation: 10 MB subjects differing at the end',
      prepare: (scale) => {
        const a = 'A'.repeat(10_000_000 * scale) + 'b';
        const b = 'A'.repeat(10_000_000 * scale) + 'c';
        return () => compareText(a, b);
      },
    },
    {
      name: 'THREAD REFERENCES: a chain 20,000 deep',
      prepare: (scale) => {
        const set = chain(20_000 * scale);
        return () => formatThreads(referencesThreads(set), (m) => m.seq);
      },
    },
    {
      name: 'THREAD REFERENCES: 1,500 long Message-IDs',
      prepare: (scale) => {
        const set = keysOf(1500 * scale);
        return () => formatThreads(referencesThreads(set), (m) => m.seq);
      },
    },
    {
      name: 'fuzzy words: 40,000 dotted words, no @',
      prepare: (scale) => {
        const text = 'a.'.repeat(40_000 * scale);
        return () => normalizedWords(text);
      },
    },
    {
      name: 'prvs: 1,000 tags with a long "=a" local part',
      prepare: (scale) => {
        const tags = Array.from({ length: 1000 }, () => `prvs=3123abcdef=${'=a'.repeat(100 * scale)}@example.org`);
        return () => tags.map(parsePrvs);
      },
    },
    {
      name: 'Sieve body: 200 :content lists of a 1 MiB message',
      expect: 'under 4: one decode shared by every list; 4 if each list decoded anew',
      prepare: (scale) => {
        const part = Buffer.alloc(9000, 'A').toString('base64');
        const parts = Array.from({ length: 100 }, () => `--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n${part}\r\n`).join('');
        const big = Buffer.from(`From: a@b.example\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n${parts}--b--\r\n`);
        const tests = Array.from({ length: 200 * scale }, (_, i) => `if body :content "type${i}" :contains "zz" { stop; }`).join('\n');
        const r = compileSieve(`require "body";\n${tests}\nif body :text :contains "AAAA" { discard; }`);
        if (!r.ok) throw new Error('sieve bench script does not compile');
        return () => executeSieve(r.script, sieveMessage(big, { from: 'a@b.example', to: 'alice@corp.example' }));
      },
    },
    {
      name: 'Sieve :matches "*a*a…" on a 4000-char subject',
      expect: '10 matches, then 40 cut by the step bound after about 27',
      prepare: (scale) => {
        const raw = Buffer.from('From: a@b.example\r\nSubject: ' + 'a'.repeat(4000) + '\r\n\r\nbody\r\n');
        const key = '*a'.repeat(450) + '*';
        let body = '';
        for (let i = 0; i < 40 * scale; i++) body += `if header :matches "subject" "${key}" { set "x${i}" "\${1}"; }\n`;
        const r = compileSieve('require "variables";\n' + body);
        if (!r.ok) throw new Error('sieve bench script does not compile');
        return () => executeSieve(r.script, sieveMessage(raw, { from: '', to: 'alice@corp.example' }));
      },
    },
  ];
}

/** The shipped content rules on each message that once made a regex backtrack or the HTML decoder go quadratic. */
const CONTENT: [string, (scale: number) => string][] = [
  ['rules: capitalised subject, 20,000 chars', (s) => `Subject: ${'A'.repeat(20_000 * s)}a\r\n\r\nx\r\n`],
  ['rules: 300,000 digits before an @', (s) => `From: <${'1'.repeat(300_000 * s)}>\r\n\r\nx\r\n`],
  ['rules: 20,000 Content-Type lines', (s) => `Subject: x\r\n\r\n${'content-type: text/plain\n'.repeat(20_000 * s)}`],
  ['rules: one line of 22,000 Content-Type fields', (s) => `Subject: x\r\n\r\n${'content-type:text/plain'.repeat(22_000 * s)}\r\n`],
  ['rules: 75,000 unclosed HTML comments', (s) => `Content-Type: text/html\r\n\r\n${'<!--'.repeat(75_000 * s)}`],
  ['rules: 40,000 unclosed scripts and styles', (s) => `Content-Type: text/html\r\n\r\n${'<script>'.repeat(40_000 * s)}${'<style>'.repeat(40_000 * s)}`],
];

export async function run(): Promise<void> {
  const work = mkdtempSync(path.join(tmpdir(), 'spamgate-bench-hostile-'));
  try {
    console.log('hostile bench: ratio full/quarter: about 4 linear, 16 quadratic; below 4 where a fixed cost or a size cut dominates');
    for (const c of syncCases(work)) {
      const quarter = await timeIt(c.prepare(0.25));
      const full = await timeIt(c.prepare(1));
      report(c.name, quarter, full, c.expect);
    }
    const checks = createContentChecks({ ruleset: withContentSymbols(loadRuleset([SHIPPED_RULES_DIR])) });
    const judge = (raw: string): (() => Promise<unknown>) => {
      const bytes = Buffer.from(raw, 'latin1');
      return () => runOffline(checks, bytes);
    };
    const plain = await timeIt(judge('Subject: hello\r\n\r\nx\r\n'));
    console.log(`hostile bench: reference: a two-line message through the shipped rules ${plain.toFixed(2)} ms`);
    for (const [name, build] of CONTENT) {
      const quarter = await timeIt(judge(build(0.25)));
      const full = await timeIt(judge(build(1)));
      report(name, quarter, full);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
