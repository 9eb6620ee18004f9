/**
 * TLS flag values as etcd spells them: --tls-min-version TLS1.2|TLS1.3 and --cipher-suites as
 * a comma list of IANA names (Go's, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256), turned into
 * what Node's TLS takes. OpenSSL's own names are accepted too. Bad input is a UsageError
 * naming the flag.
 */
import * as tls from 'node:tls';
import { UsageError, commaList } from './cli-values';

/** IANA (Go, etcd) names of the TLS 1.2 suites OpenSSL offers, to OpenSSL's names. */
const IANA_TO_OPENSSL: Readonly<Record<string, string>> = {
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256: 'ECDHE-ECDSA-AES128-SHA256',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256: 'ECDHE-RSA-AES128-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_RSA_WITH_AES_128_GCM_SHA256: 'AES128-GCM-SHA256',
  TLS_RSA_WITH_AES_256_GCM_SHA384: 'AES256-GCM-SHA384',
  TLS_RSA_WITH_AES_128_CBC_SHA256: 'AES128-SHA256',
  TLS_RSA_WITH_AES_128_CBC_SHA: 'AES128-SHA',
  TLS_RSA_WITH_AES_256_CBC_SHA: 'AES256-SHA',
};

/** The TLS 1.3 suites (not configurable in Go; OpenSSL takes them in the same list). */
const TLS13_SUITES = new Set(['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256']);

export interface TlsPolicyFlags {
  readonly minVersion: tls.SecureVersion;
  /** OpenSSL cipher list, or undefined for Node's default. */
  readonly ciphers: string | undefined;
}

/** --tls-min-version: TLS1.2 (default) or TLS1.3 (etcd's spelling; Node's TLSv1.2 is taken too). */
export function parseTlsMinVersion(value: string, flag = '--tls-min-version'): tls.SecureVersion {
  const normalized = value.replace(/^TLSv?/i, '');
  if (normalized === '1.2' || normalized === '1.3') {
    return `TLSv${normalized}` as tls.SecureVersion;
  }
  throw new UsageError(`${flag}: expected TLS1.2 or TLS1.3, got ${JSON.stringify(value)}`);
}

/**
 * --cipher-suites: IANA or OpenSSL names, comma-separated, each one this Node's OpenSSL knows.
 * Empty: undefined (Node's defaults). With TLS 1.3 as the minimum only TLS 1.3 suites make
 * sense, and etcd refuses the combination: so do we.
 */
export function parseCipherSuites(value: string, minVersion: tls.SecureVersion, flag = '--cipher-suites'): string | undefined {
  const names = commaList(value);
  if (names.length === 0) {
    return undefined;
  }
  if (minVersion === 'TLSv1.3' && names.some((name) => !TLS13_SUITES.has(name))) {
    throw new UsageError(`${flag}: TLS 1.2 cipher suites cannot be used with --tls-min-version TLS1.3`);
  }
  const known = new Set(tls.getCiphers().map((c) => c.toUpperCase()));
  const openssl = names.map((name) => {
    const mapped = IANA_TO_OPENSSL[name] ?? name;
    if (!TLS13_SUITES.has(mapped) && !known.has(mapped.toUpperCase())) {
      throw new UsageError(`${flag}: unknown cipher suite ${JSON.stringify(name)} (IANA names such as TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, or OpenSSL's)`);
    }
    return mapped;
  });
  return openssl.join(':');
}

/**
 * The certificate flags of one listener, checked as etcd does: a certificate needs its key;
 * client-cert-auth needs a CA bundle; a CA bundle or client-cert-auth needs a certificate.
 * `flags` names them (e.g. --peer-cert-file). Returns undefined when no certificate is given.
 *
 * The `clientCertAuth` returned says whether clients must present a certificate the CA bundle
 * verifies, as etcd 3.4 decides it (its TLSInfo asks Go for RequireAndVerifyClientCert when
 * either --client-cert-auth or --trusted-ca-file is given; checked against etcd 3.4.23: a
 * client without a certificate fails the handshake there too). Without a CA bundle no client
 * certificate is asked for, so none is ever taken on trust.
 */
export function checkCertificateFlags(
  given: { certFile?: string; keyFile?: string; caFile?: string; clientCertAuth: boolean },
  flags: { cert: string; key: string; ca: string; clientCertAuth: string },
): { certFile: string; keyFile: string; caFile: string | undefined; clientCertAuth: boolean } | undefined {
  const { certFile, keyFile, caFile, clientCertAuth } = given;
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new UsageError(`${flags.cert} and ${flags.key} go together`);
  }
  if (clientCertAuth && caFile === undefined) {
    throw new UsageError(`${flags.clientCertAuth} needs ${flags.ca}`);
  }
  if (certFile === undefined || keyFile === undefined) {
    if (clientCertAuth || caFile !== undefined) {
      throw new UsageError(`${flags.ca} and ${flags.clientCertAuth} need ${flags.cert} and ${flags.key}`);
    }
    return undefined;
  }
  return { certFile, keyFile, caFile, clientCertAuth: clientCertAuth || caFile !== undefined };
}

export function parseTlsPolicy(minVersion: string, cipherSuites: string): TlsPolicyFlags {
  const min = parseTlsMinVersion(minVersion);
  return { minVersion: min, ciphers: parseCipherSuites(cipherSuites, min) };
}

/**
 * Makes `policy` Node's default for every TLS context the process creates from now on,
 * including those of libraries that take no TLS options (grpc-js for the peer port).
 */
export function applyTlsPolicyDefaults(policy: TlsPolicyFlags): void {
  // The module object itself (an `import *` namespace is a read-only copy under CommonJS).
  const defaults = require('node:tls') as { DEFAULT_MIN_VERSION: string; DEFAULT_CIPHERS: string };
  defaults.DEFAULT_MIN_VERSION = policy.minVersion;
  if (policy.ciphers !== undefined) {
    defaults.DEFAULT_CIPHERS = policy.ciphers;
  }
}
