// Test helper: a throwaway certificate authority (EC P-256, made by openssl) in a temp dir removed after
// the test, issuing server certificates for given DNS names (subjectAltName, with IP 127.0.0.1 on request),
// or with a subject CN only; for tests of certificate verification.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface TestCa {
  /** The CA certificate (PEM), to trust. */
  ca: Buffer;
  /** The same, as a file (for config keys that name one). */
  caFile: string;
  /**
   * A server certificate and key (PEM) for these DNS names (the first is also the CN); with `cnOnly`, no
   * subjectAltName; with `loopback`, IP 127.0.0.1 in it too.
   */
  issue(names: string[], opts?: { cnOnly?: boolean; loopback?: boolean }): { cert: Buffer; key: Buffer };
}

export function makeTestCa(t: { after(fn: () => void): void }): TestCa {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-ca-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ssl = (args: string[]): void => void execFileSync('openssl', args, { stdio: 'ignore', cwd: dir });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=spamgate test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  let n = 0;
  return {
    ca: readFileSync(path.join(dir, 'ca.pem')),
    caFile: path.join(dir, 'ca.pem'),
    issue(names, opts = {}) {
      const base = `leaf${++n}`;
      ssl(['req', '-new', ...ec, '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${names[0] ?? 'unnamed'}`]);
      const alt = [...names.map((d) => `DNS:${d}`), ...(opts.loopback ? ['IP:127.0.0.1'] : [])];
      const ext = ['basicConstraints=CA:FALSE', 'keyUsage=digitalSignature', 'extendedKeyUsage=serverAuth', ...(opts.cnOnly ? [] : [`subjectAltName=${alt.join(',')}`])];
      writeFileSync(path.join(dir, `${base}.ext`), ext.join('\n') + '\n');
      ssl(['x509', '-req', '-in', `${base}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${base}.pem`, '-days', '2', '-extfile', `${base}.ext`]);
      return { cert: readFileSync(path.join(dir, `${base}.pem`)), key: readFileSync(path.join(dir, `${base}.key`)) };
    },
  };
}
