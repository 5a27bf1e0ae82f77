// Test helper: a throwaway certificate authority (EC P-256, made by openssl) and server certificates it issues
// for a DNS name and 127.0.0.1, in a temp dir removed after the test; for tests of certificate verification.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface TestCa {
  /** The CA's certificate (PEM file): what a verifying client trusts. */
  caFile: string;
  /** A server certificate and key for `name` (and IP 127.0.0.1), signed by this CA. */
  issue(name: string): { cert: string; key: string };
}

const openssl = (args: string[]): void => void execFileSync('openssl', args, { stdio: 'ignore' });

export function testCa(t: { after(fn: () => void): void }): TestCa {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-ca-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const caKey = path.join(dir, 'ca.key');
  const caFile = path.join(dir, 'ca.pem');
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', caKey, '-out', caFile, '-days', '2', '-subj', '/CN=spamgate test CA']);
  let serial = 0;
  return {
    caFile,
    issue(name) {
      const base = path.join(dir, `server-${++serial}`);
      const key = `${base}.key`;
      const cert = `${base}.pem`;
      const ext = `${base}.ext`;
      writeFileSync(ext, `subjectAltName=DNS:${name},IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
      openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', `${base}.csr`, '-subj', `/CN=${name}`]);
      openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', caFile, '-CAkey', caKey, '-CAcreateserial', '-out', cert, '-days', '2', '-extfile', ext]);
      return { cert, key };
    },
  };
}
