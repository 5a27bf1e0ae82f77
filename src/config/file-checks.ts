// Files a config names (TLS certificates and keys): relative paths resolved against the config file's
// directory, then each checked to exist, be a readable regular file, and load as a certificate/key pair.
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { createSecureContext } from 'node:tls';
import type { Config } from './schema.ts';

/** One problem with a named file: the key path it came from and what is wrong. */
export interface FileProblem {
  path: (string | number)[];
  message: string;
}

type TlsSection = 'smtp' | 'pop3' | 'imap';
const TLS_SECTIONS: readonly TlsSection[] = ['smtp', 'pop3', 'imap'];

/** The config with TLS file paths made absolute against `baseDir` (the config file's directory). */
export function resolveConfigPaths(config: Config, baseDir: string): Config {
  const withTls = <S extends { tls: { cert?: string | undefined; key?: string | undefined } }>(section: S): S => {
    const { cert, key } = section.tls;
    return { ...section, tls: { ...(cert !== undefined ? { cert: path.resolve(baseDir, cert) } : {}), ...(key !== undefined ? { key: path.resolve(baseDir, key) } : {}) } };
  };
  return { ...config, smtp: withTls(config.smtp), pop3: withTls(config.pop3), imap: withTls(config.imap) };
}

/** Reads a file the config names; a problem (missing, a directory, unreadable) as a message. */
function readNamedFile(file: string): { data: Buffer } | { error: string } {
  try {
    const st = statSync(file);
    if (st.isDirectory()) return { error: `${file} is a directory, not a file` };
    if (!st.isFile()) return { error: `${file} is not a regular file` };
    if (st.size === 0) return { error: `${file} is empty` };
    if (st.size > 1024 * 1024) return { error: `${file} is larger than 1 MiB: not a PEM certificate or key` };
    return { data: readFileSync(file) };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'does not exist' : e.code === 'EACCES' ? 'cannot be read (permission denied)' : `cannot be read (${e.code ?? e.message})`;
    return { error: `${file} ${why}` };
  }
}

/** Every problem with the TLS files of a (resolved) config; none when no TLS is configured. */
export function checkConfigFiles(config: Config): FileProblem[] {
  const problems: FileProblem[] = [];
  for (const name of TLS_SECTIONS) {
    const { cert, key } = config[name].tls;
    if (cert === undefined || key === undefined) continue;
    const certFile = readNamedFile(cert);
    const keyFile = readNamedFile(key);
    if ('error' in certFile) problems.push({ path: [name, 'tls', 'cert'], message: certFile.error });
    if ('error' in keyFile) problems.push({ path: [name, 'tls', 'key'], message: keyFile.error });
    if ('error' in certFile || 'error' in keyFile) continue;
    try {
      createSecureContext({ cert: certFile.data, key: keyFile.data });
    } catch (err) {
      problems.push({ path: [name, 'tls'], message: `certificate and key do not load together: ${(err as Error).message}` });
    }
  }
  return problems;
}
