// The relay's password file (outbound.relay.auth.password_file): its first line is the password. Checked
// when the config loads (check-config, serve, reload) and read again for each new relay connection, so a
// changed password takes effect without a restart. A file other users can read is refused, as an SRS
// secret or a DKIM key is: whoever reads it can send mail as this host through the provider.
import { readFileSync, statSync } from 'node:fs';

/** A password file is a line, not a document: anything larger is a wrong path. */
const MAX_PASSWORD_FILE_BYTES = 4096;

/** The password, or why the file cannot give one (missing, open to others, empty, a NUL in it). */
export function readRelayPassword(file: string): { password: string } | { error: string } {
  let text: string;
  try {
    const st = statSync(file);
    if (!st.isFile()) return { error: `${file} is not a regular file` };
    if (process.platform !== 'win32' && (st.mode & 0o007) !== 0) {
      return { error: `${file} is open to other users (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}): whoever reads it can send mail through the relay as this host; chmod 600 (or 640 for a group the server runs in)` };
    }
    if (st.size > MAX_PASSWORD_FILE_BYTES) return { error: `${file} is larger than ${MAX_PASSWORD_FILE_BYTES} bytes: not a password file (the password alone, on one line)` };
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'does not exist' : e.code === 'EACCES' ? 'cannot be read (permission denied)' : `cannot be read (${e.code ?? e.message})`;
    return { error: `${file} ${why}` };
  }
  const password = (text.split(/\r?\n/)[0] ?? '').replace(/\r$/, '');
  if (password === '') return { error: `${file} holds no password (it goes on the first line)` };
  // RFC 4616 §2: NUL separates the PLAIN message's fields
  if (password.includes('\u0000')) return { error: `${file} holds a NUL character, which SASL PLAIN cannot carry` };
  return { password };
}
