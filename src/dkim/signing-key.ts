// DKIM signing keys: what a key file must be (RFC 8301 §3.2: RSA keys of at least 1024 bits, 2048 advised;
// RFC 8463: Ed25519), and the public-key TXT record a domain publishes for it (RFC 6376 §3.6.1).
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';

export type DkimKeyType = 'rsa' | 'ed25519';

/** The smallest RSA key a signer may use (RFC 8301 §3.2: "Signers MUST use RSA keys of at least 1024 bits"). */
export const MIN_RSA_BITS = 1024;

/** The private key in `pem`, or why it cannot sign DKIM. */
export function parseSigningKey(pem: Buffer | string): { key: KeyObject; type: DkimKeyType } | { error: string } {
  let key: KeyObject;
  // OpenSSL's own words for a key with a passphrase ("interrupted or cancelled") say nothing useful.
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|^Proc-Type: 4,ENCRYPTED/m.test(pem.toString())) {
    return { error: 'an encrypted private key (spamgate has no passphrase for it; write it out unencrypted, e.g. openssl pkey -in KEY -out NEW, mode 600)' };
  }
  try {
    key = createPrivateKey(pem);
  } catch (err) {
    return { error: `not a PEM private key (${(err as Error).message})` };
  }
  if (key.asymmetricKeyType === 'ed25519') return { key, type: 'ed25519' };
  if (key.asymmetricKeyType !== 'rsa') return { error: `a ${key.asymmetricKeyType ?? 'unknown'} key; DKIM signs with RSA (rsa-sha256) or Ed25519 (ed25519-sha256)` };
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RSA_BITS) return { error: `an RSA key of ${bits} bits; DKIM needs at least ${MIN_RSA_BITS} (RFC 8301 §3.2), 2048 is advised` };
  return { key, type: 'rsa' };
}

/**
 * The TXT record for `selector._domainkey.domain`: `v=DKIM1; k=rsa|ed25519; p=<base64>`. RSA publishes the
 * SubjectPublicKeyInfo (RFC 6376 §3.6.1), Ed25519 the bare 32-byte public key (RFC 8463 §4.2).
 */
export function publicKeyRecord(key: KeyObject, type: DkimKeyType): string {
  const pub = createPublicKey(key).export({ type: 'spki', format: 'der' });
  // An Ed25519 SubjectPublicKeyInfo is a fixed 12-byte prefix and the 32-byte key.
  const p = type === 'ed25519' ? pub.subarray(pub.length - 32) : pub;
  return `v=DKIM1; k=${type}; p=${p.toString('base64')}`;
}

/** The record as a zone-file line, its value split into strings of at most 255 octets (RFC 1035 §3.3.14). */
export function zoneFileLine(selector: string, domain: string, record: string): string {
  const parts: string[] = [];
  for (let i = 0; i < record.length; i += 255) parts.push(`"${record.slice(i, i + 255)}"`);
  return `${selector}._domainkey.${domain}. IN TXT ( ${parts.join(' ')} )`;
}
