// Test helper run as a child process: one MULTIAPPEND-sized appendAll of three messages into a user's INBOX on a
// Maildir root, with fsync on, as `spamgate serve` stores an IMAP MULTIAPPEND. With SPAMGATE_TEST_MULTIAPPEND_KILL_AT
// set, the store's commit kills this process at that point (maildir-batch-journal.ts); else it prints the UIDs.
// Arguments: mail root, user.
import { createMaildirStore } from '../../src/store/maildir-store.ts';

export const batchMessage = (n: number): Buffer => Buffer.from(`Subject: batch ${n}\r\nFrom: a@b.example\r\nMessage-ID: <batch${n}@b.example>\r\n\r\nbody ${n}\r\n`);

const [root = '', user = ''] = process.argv.slice(2);
const store = createMaildirStore({ root, fsync: true });
await store.ensureUser(user);
// one message with a flag: it goes to cur/, the others to new/, as a real MULTIAPPEND's may
const res = await store.appendAll?.(user, 'INBOX', [{ raw: batchMessage(1) }, { raw: batchMessage(2), flags: ['\\Seen'] }, { raw: batchMessage(3) }]);
process.stdout.write(JSON.stringify(res?.uids ?? null) + '\n');
await store.settle();
