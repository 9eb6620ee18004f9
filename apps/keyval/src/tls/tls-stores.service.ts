/** The member's certificates (MemberCertificates) as a Nest provider, closed at shutdown. */
import { Inject, Injectable } from '@nestjs/common';
import type { OnApplicationShutdown } from '@nestjs/common';
import type { KeyvalConfig } from '../config/keyval-config';
import type { AppLogger } from '../logger';
import { KEYVAL_CONFIG, KEYVAL_LOGGER } from '../tokens';
import { MemberCertificates } from './member-certificates';

@Injectable()
export class TlsStoresService extends MemberCertificates implements OnApplicationShutdown {
  constructor(@Inject(KEYVAL_CONFIG) config: KeyvalConfig, @Inject(KEYVAL_LOGGER) logger: AppLogger) {
    super(config, logger);
  }

  onApplicationShutdown(): void {
    this.close();
  }
}
