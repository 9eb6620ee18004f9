/**
 * gRPC's standard health check (`grpc.health.v1.Health/Check`) on the client port, as etcd
 * answers it: the server as a whole (service "") is SERVING until its shutdown starts, then
 * NOT_SERVING (load balancers stop sending before the connections drain); any other service
 * name is NOT_FOUND "unknown service", etcd's (grpc-go's) answer.
 */
import { GrpcStatus, GrpcStatusError } from '@keyval/grpc';
import type { ServiceImplementation } from '@keyval/grpc';
import { health } from '@keyval/proto';

export function grpcHealthService(shutdown: AbortSignal): ServiceImplementation<typeof health.HealthDefinition> {
  return {
    check: async (req) => {
      if (req.service !== '') throw new GrpcStatusError(GrpcStatus.NOT_FOUND, 'unknown service');
      return { status: shutdown.aborted ? health.HealthCheckResponse_ServingStatus.NOT_SERVING : health.HealthCheckResponse_ServingStatus.SERVING };
    },
  };
}
