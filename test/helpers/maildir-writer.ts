// Test helper run as its own process: opens a Maildir store the way local delivery and IMAP do and, once told to go
// (a line on stdin), appends messages (each with a unique Subject) in small concurrent bursts, or keeps re-reading
// the folder (a second reader process numbering files it finds). Prints one JSON line: the UID each append returned.
// Usage: node --import tsx maildir-writer.ts <root> <user> <folder> <name> <count> [append|copy|read]
import { createInterface } from 'node:readline';
import { createMaildirStore } from '../../src/store/maildir-store.ts';

const [root, user, folder, name, countText, mode = 'append'] = process.argv.slice(2);
if (root === undefined || user === undefined || folder === undefined || name === undefined || countText === undefined) {
  console.error('usage: maildir-writer.ts <root> <user> <folder> <name> <count> [append|copy|read]');
  process.exit(2);
}
const count = Number(countText);
const BURST = 4;

async function main(): Promise<void> {
  const store = createMaildirStore({ root: root as string, fsync: false });
  await store.ensureUser(user as string);
  // opened before the start: the folder index is loaded and its next UID is in memory, as in a running server
  await store.list(user as string, folder as string);
  if (mode === 'copy') await store.createMailbox(user as string, `Staging-${name}`).catch(() => undefined);
  process.stdout.write('ready\n');
  await new Promise<void>((resolve) => createInterface({ input: process.stdin }).once('line', () => resolve()));
  const uids: Record<string, number> = {};
  if (mode === 'read') {
    const until = Date.now() + count;
    while (Date.now() < until) await store.list(user as string, folder as string, { dates: false });
  } else {
    for (let i = 0; i < count; i += BURST) {
      const subjects = Array.from({ length: Math.min(BURST, count - i) }, (_, k) => `${name}-${i + k}`);
      await Promise.all(
        subjects.map(async (subject) => {
          const raw = Buffer.from(`Subject: ${subject}\r\nFrom: a@example.org\r\n\r\nbody of ${subject}\r\n`);
          if (mode === 'copy') {
            // COPY from a private folder: the UID answered (COPYUID) must be the one stored
            const staging = `Staging-${name}`;
            const { uid } = await store.append(user as string, staging, raw);
            const res = await store.copy(user as string, staging, [uid], folder as string);
            uids[subject] = res.uids[0] ?? -1;
          } else uids[subject] = (await store.append(user as string, folder as string, raw)).uid;
        }),
      );
    }
  }
  await store.settle();
  process.stdout.write(JSON.stringify(uids) + '\n');
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
