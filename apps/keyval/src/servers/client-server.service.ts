/**
 * The client-facing gRPC servers (one per --listen-client-urls entry): etcd's KV, Cluster
 * (member list) and Maintenance (status), on the lean HTTP/2 server. On shutdown they stop
 * accepting and let in-flight calls finish, before the member itself stops.
 */
import { Inject, Injectable } from '@nestjs/common';
import type { BeforeApplicationShutdown } from '@nestjs/common';
import { GrpcServer, GrpcStatus, GrpcStatusError } from '@keyval/grpc';
import type { ServiceImplementation } from '@keyval/grpc';
import { etcd } from '@keyval/proto';
import { KvService, LeaderForwarder, header } from '@keyval/api';
import type { KeyvalConfig } from '../config/keyval-config';
import type { AppLogger } from '../logger';
import { MemberService } from '../member/member.service';
import { KEYVAL_CONFIG, KEYVAL_LOGGER } from '../tokens';

export const KEYVAL_VERSION = '3.4.0-keyval.0.1.0';

@Injectable()
export class ClientServerService implements BeforeApplicationShutdown {
  private readonly servers: GrpcServer[] = [];
  private forwarder: LeaderForwarder | undefined;

  constructor(
    @Inject(KEYVAL_CONFIG) private readonly config: KeyvalConfig,
    @Inject(KEYVAL_LOGGER) private readonly logger: AppLogger,
    private readonly members: MemberService,
  ) {}

  async start(): Promise<void> {
    const grpcMax = this.config.maxRequestBytes + 512 * 1024;
    this.forwarder = new LeaderForwarder(this.members, grpcMax);
    const kv = new KvService(this.members, this.forwarder, {
      limits: { maxRequestBytes: this.config.maxRequestBytes, maxTxnOps: this.config.maxTxnOps },
      defaultTimeoutMs: this.config.requestTimeoutMs,
    });
    for (const url of this.config.listenClientUrls) {
      const server = new GrpcServer({
        maxReceiveMessageBytes: grpcMax,
        maxSendMessageBytes: 64 * 1024 * 1024,
        onHandlerError: (error, path) => this.logger.error({ path, error: String(error), stack: (error as Error).stack }, 'handler failed'),
      });
      server.addService(etcd.KVDefinition, kv.implementation);
      server.addService(etcd.ClusterDefinition, this.cluster());
      server.addService(etcd.MaintenanceDefinition, this.maintenance());
      await server.listen(url.port, url.host);
      this.servers.push(server);
      this.logger.info({ url: url.url }, 'serving clients');
    }
  }

  private cluster(): ServiceImplementation<typeof etcd.ClusterDefinition> {
    return {
      memberList: async () => {
        const m = this.members.member;
        return { header: header(m.stateMachine.revision(), this.members.headerContext()), members: m.memberList() };
      },
    };
  }

  private maintenance(): ServiceImplementation<typeof etcd.MaintenanceDefinition> {
    return {
      status: async () => {
        const m = this.members.member;
        const st = m.status();
        const health = m.health();
        return {
          header: header(m.stateMachine.revision(), this.members.headerContext()),
          version: KEYVAL_VERSION,
          dbSize: 0n,
          leader: st.leader,
          raftIndex: BigInt(st.commit),
          raftTerm: BigInt(st.term),
          raftAppliedIndex: BigInt(st.applied),
          errors: health.healthy ? [] : [health.reason ?? 'unhealthy'],
          dbSizeInUse: 0n,
          isLearner: st.config.learners.includes(m.id),
        };
      },
      moveLeader: async () => {
        throw new GrpcStatusError(GrpcStatus.UNIMPLEMENTED, 'move-leader arrives with the admin API');
      },
    };
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.logger.info('draining client connections');
    await Promise.all(this.servers.map((s) => s.shutdown(5_000)));
    this.forwarder?.close();
  }
}
