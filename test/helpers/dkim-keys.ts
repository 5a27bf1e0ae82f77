// DKIM in tests: a key made by `spamgate dkim-keygen` with the TXT record it prints, and a DKIM verifier
// (mailauth) that looks keys up in a test DNS server.
import assert from 'node:assert/strict';
import path from 'node:path';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { dkimKeygenCommand } from '../../src/commands/dkim-keygen.ts';
import { createResolver } from '../../src/dns/dns2-resolver.ts';
import { toMailauthResolver } from '../../src/dns/mailauth-resolver.ts';
import { runCommand } from './command-io.ts';

/** Makes a key with the CLI; returns its file and the TXT record it printed (the quoted strings joined). */
export async function keygen(dir: string, domain: string, selector: string, type: 'rsa' | 'ed25519' = 'rsa'): Promise<{ file: string; name: string; record: string }> {
  const file = path.join(dir, `${selector}.${domain}.pem`);
  const flags = new Map<string, string | true>([['domain', domain], ['selector', selector], ['out', file], ['type', type]]);
  const res = await runCommand(dkimKeygenCommand, { flags, positional: [] });
  assert.equal(res.code, 0, res.err);
  const line = res.out.split('\n').find((l) => l.includes('._domainkey.')) ?? '';
  const m = /^(\S+)\. IN TXT \( (.*) \)$/.exec(line);
  assert.ok(m, `zone line printed: ${res.out}`);
  const record = [...(m[2] ?? '').matchAll(/"([^"]*)"/g)].map((s) => s[1]).join('');
  return { file, name: m[1] ?? '', record };
}

export type DkimVerifier = (raw: Buffer) => Promise<Array<{ result: string; domain: string; selector: string }>>;

/** A verifier whose key look-ups go to the DNS server at `server` ("ip:port"). */
export function verifierAt(server: string): DkimVerifier {
  const resolver = toMailauthResolver(createResolver({ servers: [server], timeoutMs: 500, retries: 0 }));
  return async (raw) => {
    const res = await dkimVerify(raw, { resolver });
    return res.results.filter((r) => r.signingDomain).map((r) => ({ result: r.status.result, domain: r.signingDomain ?? '', selector: r.selector ?? '' }));
  };
}
