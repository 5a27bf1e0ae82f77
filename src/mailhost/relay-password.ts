// The relay's password file (outbound.relay.auth.password_file): its first line is the password. Checked
// when the config loads (check-config, serve, reload) and read again for each new relay connection, so a
// changed password takes effect without a restart. A file other users can read is refused, as an SRS
// secret or a DKIM key is: whoever reads it can send mail as this host through the provider.
import { readSecretFile } from '../util/secret-file.ts';

/** A password file is a line, not a document: anything larger is a wrong path. */
const MAX_PASSWORD_FILE_BYTES = 4096;

/** The password, or why the file cannot give one (missing, open to others, empty, a NUL in it). */
export function readRelayPassword(file: string): { password: string } | { error: string } {
  const read = readSecretFile(file, {
    maxBytes: MAX_PASSWORD_FILE_BYTES,
    exposure: 'can send mail through the relay as this host',
    chmod: 'chmod 600 (or 640 for a group the server runs in)',
  });
  if ('error' in read) return read;
  const { text } = read;
  const password = (text.split(/\r?\n/)[0] ?? '').replace(/\r$/, '');
  if (password === '') return { error: `${file} holds no password (it goes on the first line)` };
  // RFC 4616 §2: NUL separates the PLAIN message's fields
  if (password.includes('\u0000')) return { error: `${file} holds a NUL character, which SASL PLAIN cannot carry` };
  return { password };
}
