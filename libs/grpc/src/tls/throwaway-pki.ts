/**
 * A throwaway certificate authority for local clusters, benchmarks and tests (npm run cluster -- --tls, npm run bench -- --tls): a CA, and
 * certificates it signs for servers (members, the gateway) and clients, written as PEM files.
 * Built with @peculiar/x509 on Node's WebCrypto (ECDSA P-256, SHA-256), not by hand. Never for
 * production: the CA's key sits next to the certificates it signed.
 *
 *     ca.pem, ca-key.pem ─signs─► <name>.pem + <name>-key.pem   (serverAuth and clientAuth,
 *                                  SAN: DNS localhost and the given hosts, IP 127.0.0.1 and ::1)
 */
import { webcrypto } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as X509 from '@peculiar/x509';

/** @peculiar/x509, loaded on first use (the apps import this library and should not pay for it). */
let loaded: typeof X509 | undefined;
function x509Lib(): typeof X509 {
  if (loaded === undefined) {
    require('reflect-metadata'); // tsyringe, under @peculiar/x509, needs it loaded first
    loaded = require('@peculiar/x509') as typeof X509;
    loaded.cryptoProvider.set(webcrypto as unknown as Parameters<typeof X509.cryptoProvider.set>[0]);
  }
  return loaded;
}

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

export interface IssuedFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

export interface IssueOptions {
  /** Host names and IP addresses besides localhost, 127.0.0.1 and ::1. */
  readonly hosts?: readonly string[];
  /** Validity: from `notBefore` (default an hour ago) for `days` (default 30). */
  readonly notBefore?: Date;
  readonly days?: number;
}

/** A CA whose key is kept in memory (and in ca-key.pem) to sign more certificates. */
export class ThrowawayCa {
  private serial = 1;

  private constructor(
    readonly dir: string,
    readonly caFile: string,
    private readonly certificate: X509.X509Certificate,
    private readonly keys: webcrypto.CryptoKeyPair,
  ) {}

  /**
   * Creates a CA named `name` in `dir` (created if missing): ca.pem and ca-key.pem, or
   * `<prefix>ca.pem`; valid from `notBefore` (default an hour ago) for a year.
   */
  static async create(dir: string, name = 'KeyVal throwaway CA', prefix = '', notBefore = new Date(Date.now() - 3_600_000)): Promise<ThrowawayCa> {
    const x509 = x509Lib();
    fs.mkdirSync(dir, { recursive: true });
    const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
    const certificate = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '01',
      name: `CN=${name}`,
      notBefore,
      notAfter: new Date(notBefore.getTime() + 365 * DAY_MS),
      signingAlgorithm: ALGORITHM,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    const caFile = path.join(dir, `${prefix}ca.pem`);
    fs.writeFileSync(caFile, certificate.toString('pem'));
    fs.writeFileSync(path.join(dir, `${prefix}ca-key.pem`), await pkcs8Pem(keys.privateKey), { mode: 0o600 });
    return new ThrowawayCa(dir, caFile, certificate, keys);
  }

  /**
   * Issues `<name>.pem` and `<name>-key.pem`, good for both TLS servers and clients (as etcd's
   * peer certificates are), with CN `name`.
   */
  async issue(name: string, options: IssueOptions = {}): Promise<IssuedFiles> {
    const x509 = x509Lib();
    const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
    const notBefore = options.notBefore ?? new Date(Date.now() - 3_600_000);
    const hosts = ['localhost', '127.0.0.1', '::1', ...(options.hosts ?? [])];
    this.serial += 1;
    const certificate = await x509.X509CertificateGenerator.create({
      serialNumber: this.serial.toString(16).padStart(2, '0'),
      subject: `CN=${name}`,
      issuer: this.certificate.subject,
      notBefore,
      notAfter: new Date(notBefore.getTime() + (options.days ?? 30) * DAY_MS),
      signingAlgorithm: ALGORITHM,
      publicKey: keys.publicKey,
      signingKey: this.keys.privateKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
        new x509.SubjectAlternativeNameExtension(hosts.map((host) => (/^[\d.]+$|:/.test(host) ? { type: 'ip' as const, value: host } : { type: 'dns' as const, value: host }))),
        await x509.AuthorityKeyIdentifierExtension.create(this.certificate),
      ],
    });
    const certFile = path.join(this.dir, `${name}.pem`);
    const keyFile = path.join(this.dir, `${name}-key.pem`);
    fs.writeFileSync(certFile, certificate.toString('pem'));
    fs.writeFileSync(keyFile, await pkcs8Pem(keys.privateKey), { mode: 0o600 });
    return { certFile, keyFile };
  }
}

/**
 * The flags that start a member (KeyVal or etcd: the names are etcd's) with mutual TLS on both
 * ports, with `own` as its client and peer certificate and `caFile` trusted on both.
 */
export function memberTlsFlags(caFile: string, own: IssuedFiles): string[] {
  return [
    `--cert-file=${own.certFile}`,
    `--key-file=${own.keyFile}`,
    `--trusted-ca-file=${caFile}`,
    '--client-cert-auth',
    `--peer-cert-file=${own.certFile}`,
    `--peer-key-file=${own.keyFile}`,
    `--peer-trusted-ca-file=${caFile}`,
    '--peer-client-cert-auth',
  ];
}

async function pkcs8Pem(key: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN PRIVATE KEY-----\n${lines.join('\n')}\n-----END PRIVATE KEY-----\n`;
}
