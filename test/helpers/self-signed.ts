// Test helper: a self-signed certificate and key (EC P-256, made by openssl) in a temp dir removed after the test.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export function selfSignedCert(t: { after(fn: () => void): void }, commonName = 'mx.test.example'): { cert: string; key: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${commonName}`], { stdio: 'ignore' });
  return { cert, key };
}
