/**
 * A certificate, its key and the CA bundle that verifies peers, read from PEM files and read
 * again whenever the files change, without a restart: new connections get the new certificate,
 * running ones keep the one they started with. A change that does not load (a certificate and
 * key that do not match yet, half-written files) keeps the last good set and is tried again at
 * the next poll, and the error is reported.
 *
 *     files ─(stat every reloadIntervalMs: size, mtime, inode)─► changed? ─► read all, build a
 *     SecureContext ─ ok ─► generation + 1, listeners told (our servers, channels, grpc-js)
 *                     └ fails ─► onReloadError, the last good set stays
 *
 * Files are polled by path (not watched by inode), so certificates replaced by renaming or by
 * swapping a symlink, as cert-manager and Kubernetes secrets do, are seen too.
 *
 * It also serves as a grpc-js CertificateProvider (structurally: the four listener methods),
 * so the peer transport's credentials follow the same files.
 */
import * as fs from 'node:fs';
import * as tls from 'node:tls';

export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** CA bundle verifying the other side's certificate; undefined: the system's CAs (clients) or none (servers). */
  readonly caFile?: string;
}

export interface TlsPolicy {
  /** Lowest protocol version: 'TLSv1.2' (default) or 'TLSv1.3'. */
  readonly minVersion?: tls.SecureVersion;
  /** OpenSSL cipher list (see `cipherList`); default Node's. */
  readonly ciphers?: string;
}

export interface CertificateStoreOptions extends TlsPolicy {
  /** How often the files are checked for changes, ms. Default 1000. */
  readonly reloadIntervalMs?: number;
  /** A reload that did not load (the last good certificate stays in use). */
  readonly onReloadError?: (error: Error) => void;
  /** A reload that did. */
  readonly onReload?: (generation: number) => void;
}

/** One loaded set: PEM bytes and the context built from them. */
export interface LoadedCertificates {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer | undefined;
  readonly context: tls.SecureContext;
  /** 1 for the first set, + 1 for each reload. */
  readonly generation: number;
}

/** The shapes of grpc-js's CertificateProvider listeners. */
type CaListener = (update: { caCertificate: Buffer } | null) => void;
type IdentityListener = (update: { certificate: Buffer; privateKey: Buffer } | null) => void;

export class CertificateStore {
  private loaded: LoadedCertificates;
  private fingerprint: string;
  private readonly timer: NodeJS.Timeout;
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();
  private readonly reloadListeners = new Set<(loaded: LoadedCertificates) => void>();

  /** Loads the files; throws (naming the file) when they cannot be read or do not make a valid pair. */
  constructor(
    readonly files: TlsFiles,
    private readonly options: CertificateStoreOptions = {},
  ) {
    this.fingerprint = fingerprintOf(files);
    this.loaded = load(files, options, 1);
    this.timer = setInterval(() => this.poll(), options.reloadIntervalMs ?? 1000).unref();
  }

  get current(): LoadedCertificates {
    return this.loaded;
  }

  /** The context for new connections (server or client side: it holds our certificate and the CAs we trust). */
  secureContext(): tls.SecureContext {
    return this.loaded.context;
  }

  /** Calls `listener` after every successful reload. */
  onReload(listener: (loaded: LoadedCertificates) => void): () => void {
    this.reloadListeners.add(listener);
    return () => this.reloadListeners.delete(listener);
  }

  /** Checks the files now (the timer does this every reloadIntervalMs). */
  poll(): void {
    let fingerprint: string;
    try {
      fingerprint = fingerprintOf(this.files);
    } catch (error) {
      this.options.onReloadError?.(error as Error);
      return;
    }
    if (fingerprint === this.fingerprint) {
      return;
    }
    try {
      this.loaded = load(this.files, this.options, this.loaded.generation + 1);
    } catch (error) {
      this.options.onReloadError?.(error as Error);
      return; // fingerprint not recorded: tried again at the next poll
    }
    this.fingerprint = fingerprint;
    this.options.onReload?.(this.loaded.generation);
    for (const listener of this.reloadListeners) {
      listener(this.loaded);
    }
    this.notifyGrpc();
  }

  close(): void {
    clearInterval(this.timer);
  }

  // ---- grpc-js CertificateProvider ----

  // The first update goes out on the next tick, as grpc-js's own file watcher does: its server
  // credentials register their watcher only after adding the listener.
  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    process.nextTick(() => {
      if (this.caListeners.has(listener)) {
        listener(this.loaded.ca === undefined ? null : { caCertificate: this.loaded.ca });
      }
    });
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    process.nextTick(() => {
      if (this.identityListeners.has(listener)) {
        listener({ certificate: this.loaded.cert, privateKey: this.loaded.key });
      }
    });
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }

  private notifyGrpc(): void {
    const ca = this.loaded.ca === undefined ? null : { caCertificate: this.loaded.ca };
    for (const listener of this.caListeners) {
      listener(ca);
    }
    for (const listener of this.identityListeners) {
      listener({ certificate: this.loaded.cert, privateKey: this.loaded.key });
    }
  }
}

/** Size, modification time and inode of each file: a change in any means a reload. */
function fingerprintOf(files: TlsFiles): string {
  return [files.certFile, files.keyFile, files.caFile]
    .filter((file): file is string => file !== undefined)
    .map((file) => {
      const stat = fs.statSync(file);
      return `${stat.size}:${stat.mtimeMs}:${stat.ino}`;
    })
    .join('|');
}

function load(files: TlsFiles, policy: TlsPolicy, generation: number): LoadedCertificates {
  const read = (file: string, what: string): Buffer => {
    try {
      return fs.readFileSync(file);
    } catch (error) {
      throw new Error(`cannot read the ${what} ${file}: ${(error as Error).message}`);
    }
  };
  const cert = read(files.certFile, 'certificate');
  const key = read(files.keyFile, 'key');
  const ca = files.caFile === undefined ? undefined : read(files.caFile, 'CA bundle');
  let context: tls.SecureContext;
  try {
    context = tls.createSecureContext({ cert, key, ca, minVersion: policy.minVersion ?? 'TLSv1.2', ciphers: policy.ciphers });
  } catch (error) {
    throw new Error(`the certificate ${files.certFile} and key ${files.keyFile}${files.caFile === undefined ? '' : ` (CA ${files.caFile})`} do not load: ${(error as Error).message}`);
  }
  return { cert, key, ca, context, generation };
}
