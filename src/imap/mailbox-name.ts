// Mailbox names from the wire: modified UTF-7 (RFC 3501 §5.1.3) accepted only in its one canonical form.
import { decodeMutf7, encodeMutf7 } from '../store/mutf7.ts';

/** Unpaired UTF-16 surrogates: no Unicode character, so no mailbox name. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Decodes a wire name; undefined unless it is well-formed modified UTF-7 that encodes back to the same text.
 * RFC 3501 §5.1.3: printable US-ASCII MUST NOT be shifted ("&AGE-" for "a"), and a name has one spelling; a
 * second spelling would name the same folder on disk while comparing unequal everywhere else.
 */
export function decodeMailboxName(wire: string): string | undefined {
  const name = decodeMutf7(wire);
  if (name === undefined || LONE_SURROGATE.test(name) || encodeMutf7(name) !== wire) return undefined;
  return name;
}
