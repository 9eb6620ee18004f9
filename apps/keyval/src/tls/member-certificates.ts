/**
 * The member's certificates: one store for the client side (--cert-file, --key-file,
 * --trusted-ca-file) and one for the peer side (--peer-*), each re-read when its files change
 * (reloads and failed reloads are logged). The client store also identifies this member when it
 * forwards a call to another member's https:// client URL. Used by the running member
 * (TlsStoresService) and, before it, by a StatefulSet pod's start (pod-start.ts).
 */
import { CertificateStore, type ClientTlsOptions } from '@keyval/grpc';
import type { PeerTls } from '@keyval/cluster';
import type { KeyvalConfig, TlsSide } from '../config/keyval-config';
import type { AppLogger } from '../logger';

export class MemberCertificates {
  /** Undefined when the member has no client certificate. */
  readonly client: CertificateStore | undefined;
  readonly peer: CertificateStore | undefined;

  constructor(
    private readonly config: KeyvalConfig,
    private readonly logger: AppLogger,
  ) {
    this.client = this.open(config.clientTls, 'client');
    this.peer = this.open(config.peerTls, 'peer');
  }

  /** The peer transport's mutual TLS, or undefined for plaintext peer URLs. */
  get peerTls(): PeerTls | undefined {
    const peer = this.peer;
    return peer === undefined ? undefined : { certificates: peer, clientCertAuth: this.config.peerTls?.clientCertAuth === true };
  }

  /** How to reach another member's client URL: TLS with our client certificate for https://. */
  channelTls(url: string): ClientTlsOptions | undefined {
    if (!url.startsWith('https://')) {
      return undefined;
    }
    const client = this.client;
    return client === undefined ? {} : { secureContext: () => client.secureContext() };
  }

  close(): void {
    this.client?.close();
    this.peer?.close();
  }

  private open(side: TlsSide | undefined, which: 'client' | 'peer'): CertificateStore | undefined {
    if (side === undefined) {
      return undefined;
    }
    const files = { certFile: side.certFile, keyFile: side.keyFile, caFile: side.caFile };
    return new CertificateStore(files, {
      ...this.config.tlsPolicy,
      onReload: (generation) => this.logger.info({ side: which, certFile: side.certFile, generation }, 'certificates re-read'),
      onReloadError: (error) => this.logger.warn({ side: which, error: error.message }, 'certificates changed but do not load; the previous ones stay in use'),
    });
  }
}
