/**
 * gRPC's standard health check (`grpc.health.v1.Health/Check`), as etcd answers it: the
 * server as a whole (service "") is SERVING until its shutdown starts, then NOT_SERVING (load
 * balancers stop sending before the connections drain); any other service name is NOT_FOUND
 * "unknown service", etcd's (grpc-go's) answer. Typed without the generated protos, so any
 * server (a member, the gateway) registers it with `health.HealthDefinition`.
 */
import { GrpcStatusError } from './grpc-status.error';
import { GrpcStatus } from './status';

/** grpc.health.v1 HealthCheckResponse.ServingStatus values. */
export const HEALTH_SERVING = 1;
export const HEALTH_NOT_SERVING = 2;

export function grpcHealthService(shutdown: AbortSignal): { check(request: { service: string }): Promise<{ status: number }> } {
  return {
    check: async (request) => {
      if (request.service !== '') throw new GrpcStatusError(GrpcStatus.NOT_FOUND, 'unknown service');
      return { status: shutdown.aborted ? HEALTH_NOT_SERVING : HEALTH_SERVING };
    },
  };
}
