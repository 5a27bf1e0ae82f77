// THREAD algorithms (RFC 5256 §3) and the thread-list format, on crafted message sets; SORT criteria order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { baseSubject, asciiFold } from '../../../src/imap/base-subject.ts';
import { headerKeys, messageKeys, type MessageKeys } from '../../../src/imap/message-keys.ts';
import { Cursor } from '../../../src/imap/parser.ts';
import { parseSortCriteria, sortMessages } from '../../../src/imap/sort.ts';
import { formatThreads, orderedSubject, referencesThreads } from '../../../src/imap/thread.ts';

interface Spec {
  subject?: string;
  date?: number;
  id?: string;
  refs?: string[];
  from?: string;
  size?: number;
  arrival?: number;
}

function msgs(specs: Spec[]): MessageKeys[] {
  return specs.map((s, i) => {
    const b = baseSubject(s.subject ?? 'x');
    return {
      seq: i + 1,
      uid: (i + 1) * 10,
      sent: s.date ?? i + 1,
      date: s.date ?? i + 1,
      arrival: s.arrival ?? 0,
      size: s.size ?? 0,
      subject: asciiFold(b.text),
      replyOrForward: b.replyOrForward,
      from: s.from ?? '',
      to: '',
      cc: '',
      messageId: s.id,
      references: s.refs ?? [],
    };
  });
}

const refs = (specs: Spec[]): string => formatThreads(referencesThreads(msgs(specs)), (m) => m.seq);
const ordered = (specs: Spec[]): string => formatThreads(orderedSubject(msgs(specs)), (m) => m.seq);

test('REFERENCES: reply chains and branches', () => {
  assert.equal(refs([{ id: 'a' }, { id: 'b', refs: ['a'] }, { id: 'c', refs: ['a', 'b'] }]), '(1 2 3)');
  assert.equal(refs([{ id: 'a' }, { id: 'b', refs: ['a'] }, { id: 'c', refs: ['a'] }]), '(1 (2)(3))');
  // "* THREAD (2)(3 6 (4 23)(44 7 96))" shape: a chain, then two branches
  assert.equal(
    refs([{ id: 'r', subject: 'one' }, { id: 'a', subject: 'two' }, { id: 'b', refs: ['a'] }, { id: 'c', refs: ['a', 'b'] }, { id: 'd', refs: ['a', 'b', 'c'] }, { id: 'e', refs: ['a', 'b'] }, { id: 'f', refs: ['a', 'b', 'e'] }]),
    '(1)(2 3 (4 5)(6 7))',
  );
  // In-Reply-To order: the message arrives before its parent, the link is made all the same
  assert.equal(refs([{ id: 'b', refs: ['a'] }, { id: 'a' }]), '(2 1)');
});

test('REFERENCES: a missing parent is a dummy, pruned or kept as the RFC says (step 3)', () => {
  // one child of a missing message: the dummy goes, the child is promoted to the top
  assert.equal(refs([{ id: 'b', refs: ['x'] }]), '(1)');
  // two children of a missing message: the dummy stays at the top
  assert.equal(refs([{ id: 'b', refs: ['x'], subject: 'p' }, { id: 'c', refs: ['x'], subject: 'q' }]), '((1)(2))');
  // a missing message in the middle: its child moves up to the grandparent
  assert.equal(refs([{ id: 'a' }, { id: 'c', refs: ['a', 'm'] }]), '(1 2)');
  // References name two missing ancestors: both dummies go
  assert.equal(refs([{ id: 'a', subject: 's1' }, { id: 'c', refs: ['x', 'y'], subject: 's2' }]), '(1)(2)');
});

test('REFERENCES: threads of one base subject are joined (step 5)', () => {
  // a reply without references goes under the original
  assert.equal(refs([{ id: 'a', subject: 'hello' }, { id: 'b', subject: 'Re: hello' }]), '(1 2)');
  // two originals of one subject: a dummy above both
  assert.equal(refs([{ id: 'a', subject: 'hello' }, { id: 'b', subject: 'HELLO' }]), '((1)(2))');
  // the reply came first: the original still heads the thread
  assert.equal(refs([{ id: 'b', subject: 'Re: hello', date: 1 }, { id: 'a', subject: 'hello', date: 2 }]), '(2 1)');
  // a dummy's thread takes in a message of its subject
  assert.equal(refs([{ id: 'b', refs: ['x'], subject: 'Re: s' }, { id: 'c', refs: ['x'], subject: 'Re: s' }, { id: 'd', subject: 's' }]), '((1)(2)(3))');
  // empty subjects are not joined
  assert.equal(refs([{ id: 'a', subject: '' }, { id: 'b', subject: 'Re:' }]), '(1)(2)');
});

test('REFERENCES: loops are never made, duplicate and missing IDs get their own container', () => {
  assert.equal(refs([{ id: 'a', refs: ['b'] }, { id: 'b', refs: ['a'] }]), '(2 1)');
  assert.equal(refs([{ id: 'a', refs: ['a'] }]), '(1)');
  assert.equal(refs([{ id: 'a', refs: ['b', 'c', 'a'] }, { id: 'b', refs: ['c', 'a'] }, { id: 'c', refs: ['a', 'b'] }]).replace(/\d/g, 'n'), '(n n n)');
  assert.equal(refs([{ id: 'a', subject: 'p' }, { id: 'a', subject: 'q' }, { id: 'b', refs: ['a'], subject: 'r' }]), '(1 3)(2)');
  assert.equal(refs([{ subject: 'p' }, { subject: 'q' }]), '(1)(2)');
});

test('REFERENCES: siblings and threads by sent date, ties by sequence (step 6, §2.2)', () => {
  assert.equal(refs([{ id: 'a', subject: 'p', date: 50 }, { id: 'b', subject: 'q', date: 10 }, { id: 'c', subject: 'r', date: 10 }]), '(2)(3)(1)');
  assert.equal(refs([{ id: 'a', date: 1 }, { id: 'b', refs: ['a'], date: 9 }, { id: 'c', refs: ['a'], date: 5 }]), '(1 (3)(2))');
});

// The speed of THREAD on these sets is measured by `BENCH=hostile npm run bench` (test/bench/hostile-input.ts).
test('REFERENCES: a chain and a tree thousands deep do not overflow the stack', () => {
  const n = 20_000;
  const chain: Spec[] = [];
  for (let i = 0; i < n; i++) chain.push({ id: `m${i}`, refs: i === 0 ? [] : [`m${i - 1}`] });
  const out = refs(chain);
  assert.equal(out, `(${Array.from({ length: n }, (_, i) => i + 1).join(' ')})`);
  // each message has two replies in a deep comb: nesting as deep as the set
  const comb: Spec[] = [];
  for (let i = 0; i < n; i += 2) comb.push({ id: `c${i}`, refs: i === 0 ? [] : [`c${i - 2}`] }, { id: `l${i}`, refs: i === 0 ? [] : [`c${i - 2}`] });
  const text = refs(comb);
  assert.equal(text.split('(').length, text.split(')').length);
  assert.ok(text.startsWith('((1 (3 (5 (7 '), text.slice(0, 40));
  assert.equal(text.match(/\d+/g)?.length, n, 'every message once');
});

test('REFERENCES: long Message-IDs and base subjects of one length (V8 hashes such strings by length alone) are told apart', () => {
  const n = 1500;
  const long = 'x'.repeat(20_000);
  const set = Array.from({ length: n }, (_, i) => {
    const tail = String(i).padStart(5, '0');
    const keys = headerKeys([
      ['message-id', `<${long}${tail}@x>`],
      ['subject', `${long}${tail}`],
    ]);
    return messageKeys(i + 1, { uid: i + 1, size: 1, internalDate: i, flags: [], modseq: 1, recent: false } as never, keys);
  });
  const out = formatThreads(referencesThreads(set), (m) => m.seq);
  assert.ok(out === Array.from({ length: n }, (_, i) => `(${i + 1})`).join(''), out.slice(0, 80));
  // a long subject still gathers its threads (step 5)
  const two = [0, 1].map((i) => messageKeys(i + 1, { uid: i + 1, size: 1, internalDate: i, flags: [], modseq: 1, recent: false } as never, headerKeys([['subject', long]])));
  assert.equal(formatThreads(referencesThreads(two), (m) => m.seq), '((1)(2))');
});

test('ORDEREDSUBJECT: threads by base subject, the first by date at the top, the rest its children', () => {
  assert.equal(
    ordered([{ subject: 'a', date: 3 }, { subject: 'Re: a', date: 1 }, { subject: 'b', date: 2 }, { subject: '[list] a', date: 5 }, { subject: 'c', date: 9 }, { subject: 'Fwd: c', date: 8 }]),
    '(2 (1)(4))(3)(6 5)',
  );
  assert.equal(ordered([]), '');
});

test('SORT: keys, REVERSE, several keys, ties by sequence number', () => {
  const set = msgs([
    { subject: 'b', size: 30, from: 'zed', date: 5 },
    { subject: 'Re: a', size: 10, from: 'amy', date: 5 },
    { subject: 'a', size: 20, from: 'zed', date: 1 },
  ]);
  const order = (criteria: string): number[] => sortMessages(set, parseSortCriteria(new Cursor([criteria]))).map((m) => m.seq);
  assert.deepEqual(order('(SIZE)'), [2, 3, 1]);
  assert.deepEqual(order('(REVERSE SIZE)'), [1, 3, 2]);
  assert.deepEqual(order('(SUBJECT)'), [2, 3, 1]);
  assert.deepEqual(order('(DATE)'), [3, 1, 2]);
  assert.deepEqual(order('(REVERSE DATE)'), [1, 2, 3], 'ties stay in sequence order under REVERSE');
  assert.deepEqual(order('(FROM REVERSE DATE)'), [2, 1, 3]);
  assert.deepEqual(order('(ARRIVAL)'), [1, 2, 3]);
  for (const bad of ['DATE', '()', '(FOO)', '(REVERSE)', '(REVERSE REVERSE DATE)', '(DATE']) assert.throws(() => parseSortCriteria(new Cursor([bad])), /./, bad);
});
