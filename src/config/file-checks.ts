// Files a config names (TLS certificates, keys, Redis's, the upstream's and the relay's CA, DKIM signing keys, SRS
// secrets, BATV keys, the relay's password): relative paths resolved against the config
// file's directory, then each checked to exist, be a readable regular file, and load as a certificate/key
// pair or a CA bundle.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { createSecureContext } from 'node:tls';
import { readBatvKeyFile } from '../batv/batv-keys.ts';
import { parseSigningKey } from '../dkim/signing-key.ts';
import { readRelayPassword } from '../mailhost/relay-password.ts';
import { readSrsSecretsFile } from '../mailhost/srs-secret.ts';
import type { Config } from './schema.ts';
import type { RelayConfig } from './sections/relay.ts';

/** One problem with a named file: the key path it came from and what is wrong. */
export interface FileProblem {
  path: (string | number)[];
  message: string;
}

type TlsSection = 'smtp' | 'pop3' | 'imap' | 'managesieve';
const TLS_SECTIONS: readonly TlsSection[] = ['smtp', 'pop3', 'imap', 'managesieve'];

/** The config with TLS file paths made absolute against `baseDir` (the config file's directory). */
export function resolveConfigPaths(config: Config, baseDir: string): Config {
  const withTls = <S extends { tls: { cert?: string | undefined; key?: string | undefined } }>(section: S): S => {
    const { cert, key } = section.tls;
    return { ...section, tls: { ...(cert !== undefined ? { cert: path.resolve(baseDir, cert) } : {}), ...(key !== undefined ? { key: path.resolve(baseDir, key) } : {}) } };
  };
  const resolve = (file: string | undefined): string | undefined => (file === undefined ? undefined : path.resolve(baseDir, file));
  const redisTls = config.redis.tls;
  const redis = redisTls ? { ...config.redis, tls: { ...redisTls, ca: resolve(redisTls.ca), cert: resolve(redisTls.cert), key: resolve(redisTls.key) } } : config.redis;
  const dkim = { ...config.dkim, sign: config.dkim.sign.map((k) => ({ ...k, key: path.resolve(baseDir, k.key) })) };
  const srsFile = config.srs.secret_file;
  const srs = srsFile !== undefined ? { ...config.srs, secret_file: path.resolve(baseDir, srsFile) } : config.srs;
  const batvFile = config.batv.key_file;
  const batv = batvFile !== undefined ? { ...config.batv, key_file: path.resolve(baseDir, batvFile) } : config.batv;
  const upstream = config.delivery.upstream;
  const delivery = upstream?.tls_ca !== undefined ? { ...config.delivery, upstream: { ...upstream, tls_ca: path.resolve(baseDir, upstream.tls_ca) } } : config.delivery;
  const withRelayFiles = (relay: RelayConfig): RelayConfig => ({
    ...relay,
    ...(relay.tls_ca !== undefined ? { tls_ca: path.resolve(baseDir, relay.tls_ca) } : {}),
    ...(relay.auth ? { auth: { ...relay.auth, password_file: path.resolve(baseDir, relay.auth.password_file) } } : {}),
  });
  const { relay, routes } = config.outbound;
  const outbound = {
    ...config.outbound,
    ...(relay ? { relay: withRelayFiles(relay) } : {}),
    ...(routes ? { routes: Object.fromEntries(Object.entries(routes).map(([d, r]) => [d, withRelayFiles(r)])) } : {}),
  };
  return { ...config, smtp: withTls(config.smtp), pop3: withTls(config.pop3), imap: withTls(config.imap), managesieve: withTls(config.managesieve), redis, dkim, delivery, srs, batv, outbound };
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
  for (const name of TLS_SECTIONS) problems.push(...keyPairProblems([name, 'tls'], config[name].tls));
  problems.push(...redisTlsProblems(config));
  problems.push(...dkimKeyProblems(config));
  const upstreamCa = config.delivery.upstream?.tls_ca;
  if (upstreamCa !== undefined) problems.push(...caBundleProblems(['delivery', 'upstream', 'tls_ca'], upstreamCa));
  if (config.mode === 'full-stack') {
    const { relay, routes } = config.outbound;
    if (relay) problems.push(...relayFileProblems(['outbound', 'relay'], relay));
    for (const [domain, route] of Object.entries(routes ?? {})) problems.push(...relayFileProblems(['outbound', 'routes', domain], route));
  }
  // The SRS secrets a site names (a postsrsd.secret kept from Postfix); the default one is made at first start.
  const srsFile = config.srs.secret_file;
  if (config.mode === 'full-stack' && config.srs.enabled && srsFile !== undefined) {
    const read = readSrsSecretsFile(srsFile);
    if ('error' in read) problems.push({ path: ['srs', 'secret_file'], message: read.error });
  }
  // BATV keys: read again at every start and reload, so a file that went wrong fails here, naming the line.
  const batvFile = config.batv.key_file;
  if (config.batv.enabled && batvFile !== undefined) {
    const read = readBatvKeyFile(batvFile);
    if ('error' in read) problems.push({ path: ['batv', 'key_file'], message: read.error });
  }
  return problems;
}

/**
 * The rules directories the config names (absolute, in its order): each must be a readable directory. Found
 * here, the problem names the config's line and rules_dirs entry; the rules loader alone could name only the
 * directory.
 */
export function rulesDirProblems(dirs: readonly string[]): FileProblem[] {
  const problems: FileProblem[] = [];
  dirs.forEach((dir, i) => {
    try {
      readdirSync(dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'does not exist' : code === 'ENOTDIR' ? 'is not a directory' : code === 'EACCES' ? 'cannot be read (permission denied)' : `cannot be read: ${(err as Error).message}`;
      problems.push({ path: ['rules_dirs', i], message: `rules directory ${dir} ${why}` });
    }
  });
  return problems;
}

/** A relay's (outbound.relay, outbound.routes.<domain>) CA bundle and password file. */
function relayFileProblems(at: string[], relay: RelayConfig): FileProblem[] {
  const problems: FileProblem[] = [];
  if (relay.tls_ca !== undefined) problems.push(...caBundleProblems([...at, 'tls_ca'], relay.tls_ca));
  if (relay.auth) {
    const read = readRelayPassword(relay.auth.password_file);
    if ('error' in read) problems.push({ path: [...at, 'auth', 'password_file'], message: read.error });
  }
  return problems;
}

/** dkim.sign[i].key: a readable PEM private key DKIM can sign with (RSA ≥ 1024 bits or Ed25519). */
function dkimKeyProblems(config: Config): FileProblem[] {
  return config.dkim.sign.flatMap((k, i) => {
    const at = ['dkim', 'sign', i, 'key'];
    const file = readNamedFile(k.key);
    if ('error' in file) return [{ path: at, message: file.error }];
    const parsed = parseSigningKey(file.data);
    if ('error' in parsed) return [{ path: at, message: `${k.key} is ${parsed.error}` }];
    const unsafe = unsafeKeyMode(k.key);
    return unsafe ? [{ path: at, message: unsafe }] : [];
  });
}

/**
 * Why a private key file is open to every local user, or undefined: a signing key anyone on the host can read lets
 * them sign mail in the domain's name (OpenDKIM refuses such files too, RequireSafeKeys). The owner and group
 * may read it; nobody else may read or write it. Windows has no such mode bits.
 */
function unsafeKeyMode(file: string): string | undefined {
  if (process.platform === 'win32') return undefined;
  let mode: number;
  try {
    mode = statSync(file).mode & 0o777;
  } catch {
    return undefined; // it was just read; a file gone since is the key loader's error to report
  }
  if ((mode & 0o007) === 0) return undefined;
  return `${file} is open to other users (mode ${mode.toString(8).padStart(4, '0')}): a signing key must not be; chmod 600 (or 640 for a group the server runs in)`;
}

/** A certificate and key (when both are given) at `at` (e.g. ['smtp', 'tls']): each readable, and loading together. */
function keyPairProblems(at: (string | number)[], files: { cert?: string | undefined; key?: string | undefined }): FileProblem[] {
  if (files.cert === undefined || files.key === undefined) return [];
  const cert = readNamedFile(files.cert);
  const key = readNamedFile(files.key);
  const problems: FileProblem[] = [];
  if ('error' in cert) problems.push({ path: [...at, 'cert'], message: cert.error });
  if ('error' in key) problems.push({ path: [...at, 'key'], message: key.error });
  if ('error' in cert || 'error' in key) return problems;
  try {
    createSecureContext({ cert: cert.data, key: key.data });
  } catch (err) {
    problems.push({ path: at, message: `certificate and key do not load together: ${(err as Error).message}` });
    return problems;
  }
  // OpenSSL keeps an EC certificate and an RSA key (or the reverse) in separate slots without a word: the context
  // loads and every handshake then fails. The first certificate (the server's own) must belong to the key.
  try {
    if (!new X509Certificate(cert.data).checkPrivateKey(createPrivateKey(key.data)))
      problems.push({ path: at, message: 'the key does not belong to the certificate (the first certificate in the file)' });
  } catch (err) {
    problems.push({ path: at, message: `certificate and key cannot be compared: ${(err as Error).message}` });
  }
  return problems;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/**
 * Why a CA bundle is not one, or undefined: it must hold PEM certificates that all parse (Node's TLS
 * silently skips anything else in `ca`, so a key or a typo would leave no CA and fail every connection).
 */
function caBundleProblem(data: Buffer): string | undefined {
  const blocks = data.toString('latin1').match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) return 'holds no PEM certificate (-----BEGIN CERTIFICATE-----)';
  for (const [i, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch (err) {
      return `certificate ${i + 1} does not parse: ${(err as Error).message}`;
    }
  }
  return undefined;
}

/** A CA bundle file at `at`: readable, and PEM certificates that all parse. */
function caBundleProblems(at: (string | number)[], file: string): FileProblem[] {
  const ca = readNamedFile(file);
  if ('error' in ca) return [{ path: at, message: ca.error }];
  const problem = caBundleProblem(ca.data);
  return problem ? [{ path: at, message: `${file} ${problem}` }] : [];
}

/** redis.tls: the CA bundle must load as certificates, a client certificate and key together. */
function redisTlsProblems(config: Config): FileProblem[] {
  const tls = config.redis.tls;
  if (!tls) return [];
  const problems: FileProblem[] = [];
  if (tls.ca !== undefined) problems.push(...caBundleProblems(['redis', 'tls', 'ca'], tls.ca));
  problems.push(...keyPairProblems(['redis', 'tls'], tls));
  return problems;
}
