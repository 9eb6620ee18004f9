/**
 * Credentials of the peer transport (grpc-js): plaintext for http:// peer URLs, mutual TLS for
 * https:// ones with the member's peer certificate, whose files are re-read when they change
 * (a CertificateStore from @keyval/grpc is grpc-js's CertificateProvider): new connections
 * present and verify with the current certificates, running ones keep theirs.
 */
import * as grpc from '@grpc/grpc-js';
import type { CertificateStore } from '@keyval/grpc';

/** --peer-cert-file, --peer-key-file, --peer-trusted-ca-file, --peer-client-cert-auth. */
export interface PeerTls {
  readonly certificates: CertificateStore;
  /** Refuse members that present no certificate the CA bundle verifies. */
  readonly clientCertAuth: boolean;
}

type Provider = Parameters<typeof grpc.experimental.createCertificateProviderChannelCredentials>[0];

/** Credentials to dial `url`: TLS with our peer certificate for https://, plaintext otherwise. */
export function peerChannelCredentials(url: string, tls: PeerTls | undefined): grpc.ChannelCredentials {
  if (!url.startsWith('https://')) {
    return grpc.credentials.createInsecure();
  }
  if (tls === undefined) {
    return grpc.credentials.createSsl();
  }
  const provider = tls.certificates as unknown as Provider;
  return grpc.experimental.createCertificateProviderChannelCredentials(provider, provider);
}

/** Credentials of the peer server. */
export function peerServerCredentials(tls: PeerTls | undefined): grpc.ServerCredentials {
  if (tls === undefined) {
    return grpc.ServerCredentials.createInsecure();
  }
  const provider = tls.certificates as unknown as Provider;
  // One provider gives both the CA bundle and our identity (grpc-js's factory takes them in either order).
  return grpc.experimental.createCertificateProviderServerCredentials(provider, provider, tls.clientCertAuth);
}
