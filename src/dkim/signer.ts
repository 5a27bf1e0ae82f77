// Signs outgoing mail with DKIM (RFC 6376 §5) through mailauth: the key is chosen by the domain of the one
// From address (the domain DMARC aligns with, RFC 7489 §3.1), the most specific configured domain first, so
// a subdomain without a key of its own is signed by its parent. Canonicalization relaxed/relaxed, which
// survives the header refolding and trailing-space changes relays make. A message without exactly one From
// address is not signed (RFC 5322 §3.6.2 allows several only with a Sender, and DMARC refuses those).
// An 8-bit body is converted to 7-bit MIME before it is signed (RFC 6376 §5.3): a next hop without 8BITMIME
// would have it converted after signing, and the body hash would no longer match. From, Subject, Reply-To and
// other fields a forger would add are oversigned (RFC 6376 §8.15, oversign.ts). In the same walk a part with a line
// over 998 octets is re-encoded and a long header line folded (line-limit.ts): an MTA that folds such lines after
// signing would break the signature, and a strict next hop refuses them (RFC 5322 §2.1.1).
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { domainToASCII } from 'node:url';
import type { DKIMSignOptions } from 'mailauth';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import addressparser from 'nodemailer/lib/addressparser';
import type { DkimConfig } from '../config/sections/dkim.ts';
import { parseHeaders } from '../smtp/message-view.ts';
import { withinLineLimit } from '../smtp/line-limit.ts';
import { strictSingleMailbox } from './from-mailbox.ts';
import { oversign } from './oversign.ts';
import { parseSigningKey, type DkimKeyType } from './signing-key.ts';

export interface DkimKey {
  domain: string;
  selector: string;
  type: DkimKeyType;
  /** PKCS#8 PEM, as mailauth takes it. */
  pem: string;
}

export type SignOutcome =
  /** `message`: what was signed, to send below `header` (the input, or its 7-bit form when it had 8-bit parts). */
  | { status: 'signed'; domain: string; selector: string; header: string; message: Buffer }
  | { status: 'not_signed'; reason: string }
  /** A From address the sender may not sign for (mayUseFrom said no). */
  | { status: 'not_own_from'; address: string }
  | { status: 'failed'; domain: string; error: string };

export interface DkimSigner {
  readonly domains: readonly string[];
  /**
   * The DKIM-Signature field (with its CRLF) to put on top of the message it signed (`raw`, or `raw` made 7-bit), or why there is none. `mayUseFrom`: whether
   * the sender may put this From address on a signed message (an authenticated user: one of their own). `asIs`:
   * sign `raw` unconverted (a milter cannot change the body it signs: the MTA delivers it as it is). Never throws.
   */
  sign(raw: Buffer, now?: number, mayUseFrom?: (address: string) => boolean, options?: { asIs?: boolean }): Promise<SignOutcome>;
}

/** Reads every configured key file (the config load has checked them already); throws naming the file. */
export function loadDkimKeys(config: DkimConfig): DkimKey[] {
  return config.sign.map((k) => {
    const parsed = parseSigningKey(readFileSync(k.key));
    if ('error' in parsed) throw new Error(`${k.key}: ${parsed.error}`);
    return { domain: k.domain, selector: k.selector, type: parsed.type, pem: parsed.key.export({ type: 'pkcs8', format: 'pem' }).toString() };
  });
}

/** The message's one From address and its domain, or why there is none. */
export function fromAddressOf(raw: Buffer): { address: string; domain: string } | { reason: string } {
  // The whole header section (parseHeaders stops at 256 KiB by default): mailauth signs every From it holds.
  const fields = parseHeaders(raw, raw.length).filter((h) => h.name.toLowerCase() === 'from');
  if (fields.length !== 1) return { reason: fields.length === 0 ? 'no From field' : 'several From fields' };
  const addresses = addressparser(fields[0]?.value ?? '', { flatten: true });
  if (addresses.length !== 1) return { reason: 'From names no single address' };
  const at = addresses[0]?.address.lastIndexOf('@') ?? -1;
  const domain = at > 0 ? (addresses[0]?.address.slice(at + 1) ?? '') : '';
  if (!domain) return { reason: 'From address has no domain' };
  // Another reading of a malformed field may find another address in it (`ceo@x <me@x>`): sign none of those.
  if (strictSingleMailbox(fields[0]?.value ?? '')?.toLowerCase() !== addresses[0]?.address.toLowerCase()) return { reason: 'From is not one plain mailbox (RFC 5322 §3.4)' };
  // Keys are configured by A-label; an SMTPUTF8 From may name its domain in U-labels (RFC 6531 §3.2, RFC 8616 §4).
  // (Only then: WHATWG's domainToASCII also percent-decodes, and "relay%2Eexample" is no name for relay.example.)
  const bare = domain.replace(/\.$/, '').toLowerCase();
  const ascii = /[^\x00-\x7f]/.test(bare) && !bare.includes('%') ? domainToASCII(bare) : bare;
  if (!ascii) return { reason: 'From domain is not a valid domain name' };
  return { address: addresses[0]?.address ?? '', domain: ascii };
}

/**
 * What is signed: `raw` in 7-bit MIME with no line over 998 octets; failing that (8-bit header fields, which only
 * SMTPUTF8 carries) with lines within the limit only; failing that too (a header line that cannot be folded:
 * a submission with one is refused before, a notice goes out as it is), `raw` itself.
 */
function signable(raw: Buffer): Buffer {
  const both = withinLineLimit(raw, true);
  if ('message' in both) return both.message;
  const lines = withinLineLimit(raw);
  return 'message' in lines ? lines.message : raw;
}

export function createDkimSigner(keys: readonly DkimKey[]): DkimSigner {
  // Longest domain first: mail.example.com's own key wins over example.com's.
  const ordered = [...keys].sort((a, b) => b.domain.length - a.domain.length);
  const keyFor = (domain: string): DkimKey | undefined => ordered.find((k) => domain === k.domain || domain.endsWith(`.${k.domain}`));
  // parsed once, not per message: the oversigned header hash is signed with it again (oversign.ts)
  const keyObjects = new Map(ordered.map((k) => [k, createPrivateKey(k.pem)]));
  return {
    domains: ordered.map((k) => k.domain),
    async sign(raw, now = Date.now(), mayUseFrom, options) {
      const from = fromAddressOf(raw);
      if ('reason' in from) return { status: 'not_signed', reason: from.reason };
      const key = keyFor(from.domain);
      if (!key) return { status: 'not_signed', reason: `no key for ${from.domain}` };
      if (mayUseFrom && !mayUseFrom(from.address)) return { status: 'not_own_from', address: from.address };
      // RFC 6376 §5.3: "signers SHOULD convert the message to a suitable MIME content-transfer encoding such as
      // quoted-printable or base64 ... before signing". Header fields in UTF-8 (SMTPUTF8) cannot be converted: such
      // a message is signed as it is (it only goes to next hops that take SMTPUTF8, and so 8-bit data).
      const message = options?.asIs ? raw : signable(raw);
      try {
        // mailauth signs what `signatureData` lists (its top-level key fields only satisfy the type); strict: RFC 6376/8301 as written.
        const signature = { signingDomain: key.domain, selector: key.selector, privateKey: key.pem };
        const res = await dkimSign(message, { ...signature, signatureData: [signature], canonicalization: 'relaxed/relaxed', signTime: now, strict: true } as DKIMSignOptions);
        if (!res.signatures) return { status: 'failed', domain: key.domain, error: res.errors.map((e) => e.err.message).join('; ') || 'no signature made' };
        return { status: 'signed', domain: key.domain, selector: key.selector, header: oversign(message, res.signatures, keyObjects.get(key) ?? key.pem, key.type), message };
      } catch (err) {
        return { status: 'failed', domain: key.domain, error: (err as Error).message };
      }
    },
  };
}
