// RFC 8474 §5.2 THREADID: one id for the messages of one conversation, made from the header fields the store caches
// (no index of its own, so it is the same in every session, after a restart and in every mailbox a message is copied
// or moved to). The conversation is named by its root: the first msg-id of References (RFC 5322 §3.6.4 has a reply
// keep its parent's first reference, the thread's start), else the first of In-Reply-To, else the message's own
// Message-ID; so a root and the replies that name it share a thread. The root is hashed with the user's name, so an
// id tells nothing of the Message-ID and one user's ids say nothing about another's. A message without any msg-id
// has a thread of its own, named after its EMAILID (which COPY and MOVE keep: maildir-ids.ts).
import { createHash } from 'node:crypto';
import type { HeaderField } from '../store/mailbox-store.ts';

/** A msg-id longer than a line (RFC 5322 §2.1.1) is not one. */
const MAX_ID = 998;

/**
 * The first "<…>" of a field (with `cfws`, outside comments and quoted strings: see bracketed), normalised: white space (left by unfolding) removed and the part after the last "@"
 * (id-right, a domain or domain-like) lower-cased; undefined when the field has none or the first one is empty or
 * not "left@right". Only the first counts: the header cache keeps the first of References (maildir-headers.ts), and
 * a root taken from a later one would differ between a message read from the cache and one read from its file.
 */
function firstId(value: string, cfws: boolean): string | undefined {
  const id = ((cfws ? bracketed(value) : /<([^<>]*)>/.exec(value)?.[1]) ?? '').replace(/[ \t\r\n]+/g, '');
  const at = id.lastIndexOf('@');
  if (at <= 0 || at === id.length - 1 || id.length > MAX_ID) return undefined;
  return id.slice(0, at + 1) + id.slice(at + 1).toLowerCase();
}

/**
 * The text of the first "<…>" outside comments and quoted strings (RFC 5322 §3.2.2 CFWS, §3.2.4; In-Reply-To's
 * obsolete phrases, e.g. `Your message of "Joe <joe@example.com>"` or `(see <x@y>) <id@host>`, hold such text that
 * names no message). A "<" inside "<…" starts over, as the plain search does; an unclosed comment or quote runs to the
 * end. One pass, nesting counted (no recursion).
 */
function bracketed(value: string): string | undefined {
  let depth = 0; // comment nesting
  let quoted = false;
  let open = -1; // index of the "<" of a msg-id being read
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (open >= 0) {
      if (c === '>') return value.slice(open + 1, i);
      if (c === '<') open = i;
    } else if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
    } else if (depth > 0) {
      if (c === '\\') i++;
      else if (c === '(') depth++;
      else if (c === ')') depth--;
    } else if (c === '(') depth = 1;
    else if (c === '"') quoted = true;
    else if (c === '<') open = i;
  }
  return undefined;
}

const firstField = (fields: readonly HeaderField[], name: string): string | undefined => {
  for (const f of fields) if (f[0] === name) return f[1];
  return undefined;
};

/** The conversation's root msg-id (see above); undefined when the message names none. Fields as latin1 code units. */
export function threadRoot(fields: readonly HeaderField[]): string | undefined {
  for (const name of ['references', 'in-reply-to', 'message-id']) {
    const value = firstField(fields, name);
    // References as cached holds only its "<…>" (maildir-headers.ts trimReferences): comments are gone there already
    const id = value === undefined ? undefined : firstId(value, name !== 'references');
    if (id !== undefined) return id;
  }
  return undefined;
}

/**
 * THREADID of a message whose conversation has this root, for this user: "T" and 23 base64url characters of a
 * SHA-256 (138 bits), an RFC 8474 §4 objectid. The root's bytes are hashed (latin1 code units back to bytes).
 */
export function rootThreadId(root: string, user: string): string {
  const h = createHash('sha256').update('spamgate-threadid\u0000').update(user, 'utf8').update('\u0000').update(root, 'latin1');
  return 'T' + h.digest('base64url').slice(0, 23);
}

/**
 * THREADID of a message naming no root: "T" and its EMAILID (RFC 8474 §4: at most 255 characters). Longer than the
 * hashed ids whenever the EMAILID is the store's own (24 characters), so it never equals one of them.
 */
export function ownThreadId(emailId: string): string {
  return ('T' + emailId).slice(0, 255);
}
