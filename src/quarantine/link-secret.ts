// The secret that signs the digest's release and delete links: <data_dir>/quarantine-links.secret, made at the
// first start with digests on (32 random bytes, base64, mode 0600) and read through util/secret-file.ts as the other
// secrets are. Replacing the file (or deleting it: a new one is made) voids every link sent, at the next reload
// (digest-setup.ts) or start.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createSecretFile, readSecretFile } from '../util/secret-file.ts';

export const LINK_SECRET_FILE = 'quarantine-links.secret';

/** The secret's bytes; made first when `create` and missing. Throws naming the file when it cannot be used. */
export function loadLinkSecret(dataDir: string, create: boolean): Buffer | undefined {
  const file = path.join(dataDir, LINK_SECRET_FILE);
  if (!existsSync(file)) {
    if (!create) return undefined;
    createSecretFile(file);
  }
  const read = readSecretFile(file, { maxBytes: 4096, exposure: 'can release and delete quarantined messages through digest links' });
  if ('error' in read) throw new Error(`quarantine.digest: ${read.error}`);
  const secret = read.text.split(/\r?\n/).map((l) => l.trim()).find((l) => l !== '');
  if (!secret || secret.length < 16) throw new Error(`quarantine.digest: ${file} holds no secret of at least 16 characters`);
  return Buffer.from(secret, 'utf8');
}
