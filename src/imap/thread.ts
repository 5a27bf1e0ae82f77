// THREAD algorithms (RFC 5256 §3): ORDEREDSUBJECT and REFERENCES build a tree of containers, which is written as the
// nested thread-list of the THREAD response. Every walk is a loop with its own stack: a crafted References chain of
// any depth cannot exhaust the call stack, and links that would make a loop are never made.
import { createHash } from 'node:crypto';
import { compareText } from './base-subject.ts';
import type { MessageKeys } from './message-keys.ts';

export type ThreadAlgorithm = 'ORDEREDSUBJECT' | 'REFERENCES';
export const THREAD_ALGORITHMS: readonly ThreadAlgorithm[] = ['ORDEREDSUBJECT', 'REFERENCES'];

/** A node of the tree: a message, or a dummy (no message) standing for a referenced message the set lacks. */
export interface Container {
  msg: MessageKeys | undefined;
  parent: Container | undefined;
  children: Container[];
}

const container = (msg?: MessageKeys): Container => ({ msg, parent: undefined, children: [] });

function link(parent: Container, child: Container): void {
  child.parent = parent;
  parent.children.push(child);
}

function unlink(child: Container): void {
  const p = child.parent;
  if (!p) return;
  const i = p.children.indexOf(child);
  if (i >= 0) p.children.splice(i, 1);
  child.parent = undefined;
}

/** RFC 5256 §3 REFERENCES step 1.A: "before making message A the parent of B, make sure that A is not a descendent of B". */
function wouldLoop(parent: Container, child: Container): boolean {
  if (parent === child) return true;
  if (child.children.length === 0) return false; // nothing below the child
  for (let p: Container | undefined = parent; p; p = p.parent) if (p === child) return true;
  return false;
}

/** The message a container sorts by: its own, or (a dummy) its first child's (RFC 5256 §3 REFERENCES steps 4 and 6). */
function sortMessage(c: Container): MessageKeys | undefined {
  let cur: Container | undefined = c;
  for (let i = 0; cur && !cur.msg && i < 1000; i++) cur = cur.children[0];
  return cur?.msg;
}

/** RFC 5256 §2.2: by sent date, equal dates by sequence number. */
function byDate(a: Container, b: Container): number {
  const x = sortMessage(a);
  const y = sortMessage(b);
  if (!x || !y) return x ? -1 : y ? 1 : 0;
  return x.sent - y.sent || x.seq - y.seq;
}

/** Every container below `roots`, each after all of its descendants. */
function bottomUp(roots: readonly Container[]): Container[] {
  const pre: Container[] = [];
  const stack = [...roots];
  for (let c = stack.pop(); c; c = stack.pop()) {
    pre.push(c);
    for (const k of c.children) stack.push(k);
  }
  return pre.reverse();
}

/** ORDEREDSUBJECT (RFC 5256 §3): threads of one base subject each, the first message (by date) the parent of the rest. */
export function orderedSubject(messages: readonly MessageKeys[]): Container[] {
  const sorted = [...messages].sort((a, b) => compareText(a.subject, b.subject) || a.sent - b.sent || a.seq - b.seq);
  const roots: Container[] = [];
  let head: Container | undefined;
  for (const m of sorted) {
    if (head?.msg && head.msg.subject === m.subject) link(head, container(m));
    else roots.push((head = container(m)));
  }
  return roots.sort(byDate);
}

/** REFERENCES (RFC 5256 §3): threads from References/In-Reply-To, then joined by base subject. */
export function referencesThreads(messages: readonly MessageKeys[]): Container[] {
  const all: Container[] = [];
  const byId = new Map<string, Container>();
  const lookup = (id: string): Container => {
    let c = byId.get(id);
    if (!c) {
      c = container(); // "create a dummy message with this ID"
      all.push(c);
      byId.set(id, c);
    }
    return c;
  };
  // (1) the id table and parent/child links, messages in sequence order
  for (const m of [...messages].sort((a, b) => a.seq - b.seq)) {
    let c: Container;
    const known = m.messageId === undefined ? undefined : byId.get(m.messageId);
    if (m.messageId !== undefined && known && !known.msg) (c = known).msg = m;
    else {
      // no (valid) Message-ID, or one an earlier message has: a unique ID of its own, in no table
      c = container(m);
      all.push(c);
      if (m.messageId !== undefined && !known) byId.set(m.messageId, c);
    }
    // (1.A) each reference the parent of the next; an existing parent is kept (References may be truncated)
    let prev: Container | undefined;
    for (const id of m.references) {
      const r = lookup(id);
      if (prev && !r.parent && !wouldLoop(prev, r)) link(prev, r);
      prev = r;
    }
    // (1.B) the last reference is the parent: a parent set by another message's References gives way
    unlink(c);
    if (prev && !wouldLoop(prev, c)) link(prev, c);
  }
  // (2) the parentless containers are the root's children
  let roots = all.filter((c) => !c.parent);
  // (3) prune dummies, bottom up: a childless one goes; one with children is replaced by them, but at the top only
  // when it has one ("Do not promote the children if doing so would make them children of the root, unless there is
  // only one child")
  const pruned = (list: readonly Container[], parent: Container | undefined): Container[] => {
    const out: Container[] = [];
    for (const c of list) {
      if (c.msg || (parent === undefined && c.children.length > 1)) out.push(c);
      else
        for (const k of c.children) {
          k.parent = parent;
          out.push(k);
        }
    }
    return out;
  };
  for (const c of bottomUp(roots)) c.children = pruned(c.children, c);
  roots = pruned(roots, undefined);
  // (4) the root's children by sent date, a dummy by its first child once its children are sorted
  for (const c of roots) if (!c.msg) c.children.sort(byDate);
  roots.sort(byDate);
  // (5) threads of the same base subject gathered
  // a long subject is keyed by its digest: V8 hashes strings above 16,383 characters by their length alone, so
  // thousands of junk subjects of one length would make each lookup compare them all (seconds of a blocked server)
  const subjectOf = (c: Container): string => {
    const subject = (c.msg ?? c.children[0]?.msg)?.subject ?? '';
    return subject.length <= 4096 ? subject : `\u0000${createHash('sha256').update(subject).digest('base64')}`;
  };
  const table = new Map<string, Container>();
  for (const c of roots) {
    const subject = subjectOf(c);
    if (subject === '') continue;
    const t = table.get(subject);
    if (!t) table.set(subject, c);
    else if (t.msg && (!c.msg || (t.msg.replyOrForward && !c.msg.replyOrForward))) table.set(subject, c);
  }
  const merged: Container[] = [];
  const replaced = new Map<Container, Container>();
  for (const c of roots) {
    if (c.parent) {
      // taken into a thread already: kept (as the new dummy it is under) only when it was the table's entry
      if (replaced.has(c)) merged.push(c);
      continue;
    }
    const subject = subjectOf(c);
    const t = subject === '' ? undefined : table.get(subject);
    if (!t || t === c) {
      merged.push(c);
      continue;
    }
    if (!t.msg && !c.msg) {
      for (const k of c.children) link(t, k);
      c.children = [];
    } else if (!t.msg) link(t, c);
    else if (c.msg?.replyOrForward && !t.msg.replyOrForward) link(t, c);
    else {
      const dummy = container();
      replaced.set(t, dummy);
      link(dummy, t);
      link(dummy, c);
      table.set(subject, dummy);
    }
  }
  // a table entry replaced by a new dummy: the dummy takes its place among the root's children
  roots = merged.map((c) => {
    let r = c;
    for (let next = replaced.get(r); next; next = replaced.get(r)) r = next;
    return r;
  });
  // (6) every set of siblings by sent date, the deepest first
  for (const c of bottomUp(roots)) c.children.sort(byDate);
  return roots.sort(byDate);
}

/**
 * The THREAD response's thread-lists (RFC 5256 §4, syntax §5): "(a b c)" for a chain, "(a (b)(c))" where a message has several
 * children, "((a)(b))" for a dummy at the top; ids are `id(msg)` (sequence numbers or UIDs).
 */
export function formatThreads(roots: readonly Container[], id: (m: MessageKeys) => number): string {
  let out = '';
  const stack: (Container | string)[] = [];
  for (let i = roots.length - 1; i >= 0; i--) stack.push(')', roots[i] as Container, '(');
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    if (typeof item === 'string') {
      out += item;
      continue;
    }
    let cur = item;
    let written = false;
    for (;;) {
      if (cur.msg) {
        out += (written ? ' ' : '') + id(cur.msg);
        written = true;
      }
      const kids = cur.children;
      if (kids.length === 1) {
        cur = kids[0] as Container;
        continue;
      }
      if (kids.length > 1) {
        if (written) out += ' ';
        for (let i = kids.length - 1; i >= 0; i--) stack.push(')', kids[i] as Container, '(');
      }
      break;
    }
  }
  return out;
}
