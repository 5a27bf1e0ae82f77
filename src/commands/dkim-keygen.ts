// `spamgate dkim-keygen`: makes a DKIM signing key (RSA 2048 by default, or Ed25519), writes it 0600 to a new
// file, and prints the TXT record to publish and the `dkim.sign` entry to add to the config.
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { domain } from '../config/units.ts';
import { MIN_RSA_BITS, parseSigningKey, publicKeyRecord, zoneFileLine } from '../dkim/signing-key.ts';
import { dkimSection } from '../config/sections/dkim.ts';
import { UsageError, type Command } from './types.ts';

const MAX_RSA_BITS = 4096;

export const dkimKeygenCommand: Command = {
  name: 'dkim-keygen',
  summary: 'make a DKIM signing key and print the DNS record to publish',
  usage: `usage: spamgate dkim-keygen --domain DOMAIN --selector NAME --out FILE [--type rsa|ed25519] [--bits N]

Writes a new private key to FILE (mode 0600; an existing file is never overwritten) and prints the
TXT record to publish at NAME._domainkey.DOMAIN and the dkim.sign entry for the config. RSA keys
are 2048 bits unless --bits says otherwise (${MIN_RSA_BITS} to ${MAX_RSA_BITS}); Ed25519 keys (RFC 8463) are
not checked by every receiver yet, so sign with RSA too if you use one.`,
  valueFlags: ['domain', 'selector', 'out', 'type', 'bits'],
  async run(args, io) {
    const text = (name: string): string => {
      const v = args.flags.get(name);
      if (typeof v !== 'string' || v === '') throw new UsageError(`--${name} is required`);
      return v;
    };
    const checked = dkimSection.safeParse({ sign: [{ domain: text('domain'), selector: text('selector'), key: text('out') }] });
    if (!checked.success) throw new UsageError(checked.error.issues.map((i) => `--${String(i.path.at(-1))}: ${i.message}`).join('; '));
    const entry = checked.data.sign[0];
    if (!entry || !domain().safeParse(entry.domain).success) throw new UsageError('--domain: expected a domain name');
    const type = args.flags.get('type') ?? 'rsa';
    if (type !== 'rsa' && type !== 'ed25519') throw new UsageError('--type: expected rsa or ed25519');
    const bitsFlag = args.flags.get('bits');
    const bits = bitsFlag === undefined ? 2048 : z.coerce.number().int().min(MIN_RSA_BITS).max(MAX_RSA_BITS).safeParse(bitsFlag);
    if (typeof bits !== 'number' && !bits.success) throw new UsageError(`--bits: expected a whole number from ${MIN_RSA_BITS} to ${MAX_RSA_BITS}`);
    if (type === 'ed25519' && bitsFlag !== undefined) throw new UsageError('--bits applies to RSA keys only');
    const modulusLength = typeof bits === 'number' ? bits : bits.data;
    const pair = type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength }) : generateKeyPairSync('ed25519');
    const pem = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const parsed = parseSigningKey(pem);
    const keyFile = path.resolve(entry.key);
    if ('error' in parsed) throw new Error(`generated key refused: ${parsed.error}`);
    try {
      writeFileSync(keyFile, pem, { mode: 0o600, flag: 'wx' });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      io.stderr.write(`spamgate: cannot write ${keyFile}: ${e.code === 'EEXIST' ? 'the file exists (a key is never overwritten)' : e.message}\n`);
      return 1;
    }
    const record = publicKeyRecord(parsed.key, parsed.type);
    // The path as a JSON string, which YAML reads as a double-quoted scalar: a ": " or " #" in it would break the entry.
    io.stdout.write(
      `# wrote ${keyFile} (${type === 'rsa' ? `RSA ${modulusLength} bits` : 'Ed25519'})\n` +
        `# publish in DNS:\n${zoneFileLine(entry.selector, entry.domain, record)}\n` +
        `# then add to the config and reload:\n# dkim:\n#   sign:\n#     - { domain: ${entry.domain}, selector: ${entry.selector}, key: ${JSON.stringify(keyFile)} }\n`,
    );
    return 0;
  },
};
