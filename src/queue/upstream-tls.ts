// How connections to the front-of upstream use TLS: STARTTLS required or not, and, with tls_verify, the
// certificate checked against the configured CA bundle (or the system's roots) for tls_server_name or host.
// The same settings serve deliveries and recipient probes, so a probe never talks to a host mail would not go to.
import { readFileSync } from 'node:fs';
import type { Config } from '../config/schema.ts';

type Upstream = NonNullable<Config['delivery']['upstream']>;

export interface UpstreamTlsOptions {
  starttls: 'require' | 'never';
  tlsVerify: boolean;
  tlsCa?: Buffer;
  servername?: string;
}

/** The TLS options for NextHopClient.connect; the CA file (checked when the config loaded) is read once, here. */
export function upstreamTlsOptions(u: Upstream): UpstreamTlsOptions {
  return {
    starttls: u.starttls ? 'require' : 'never',
    tlsVerify: u.starttls && u.tls_verify,
    ...(u.tls_ca !== undefined ? { tlsCa: readFileSync(u.tls_ca) } : {}),
    ...(u.tls_server_name !== undefined ? { servername: u.tls_server_name } : {}),
  };
}
