// Test helper: the messages delivered to a user's Maildir folder (new/ and cur/), read as text.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** Messages in `folder` ('' for INBOX, '.Junk' …) of user@domain under the data directory; none while it does not exist. */
export function maildirMessages(dataDir: string, folder = '', user = 'postmaster', domain = 'localhost'): string[] {
  const base = path.join(dataDir, 'mail', domain, user, 'Maildir', folder);
  const out: string[] = [];
  for (const sub of ['new', 'cur']) {
    try {
      for (const f of readdirSync(path.join(base, sub))) out.push(readFileSync(path.join(base, sub, f), 'utf8'));
    } catch {
      // folder not created yet
    }
  }
  return out;
}
