/**
 * etcd's `grpc_server_*` families (go-grpc-prometheus, as etcd 3.4 registers them) for a
 * GrpcServer: started and handled calls per method and status code, and the handling time.
 * Like go-grpc-prometheus, every method's counters exist from the start, at 0 for every code,
 * so rates and alerts work before the first error.
 *
 *     GrpcServer.addService ─► method(service, m) ─► cells bound once ─► started() / handled(code, ms)
 */
import { callTypeOf, GrpcStatus } from '@keyval/grpc';
import type { GrpcMethodObserver, GrpcServerObserver, MethodDefinition } from '@keyval/grpc';
import type { Registry } from 'prom-client';
import { CounterFamily, HistogramFamily } from './families';
import type { CounterCell } from './cells';
import { GRPC_HANDLING_BUCKETS } from './buckets';

/** gRPC codes as Go names them (`codes.Code.String()`), which etcd's `grpc_code` label uses. */
export const GRPC_CODE_NAMES: Readonly<Record<GrpcStatus, string>> = {
  [GrpcStatus.OK]: 'OK',
  [GrpcStatus.CANCELLED]: 'Canceled',
  [GrpcStatus.UNKNOWN]: 'Unknown',
  [GrpcStatus.INVALID_ARGUMENT]: 'InvalidArgument',
  [GrpcStatus.DEADLINE_EXCEEDED]: 'DeadlineExceeded',
  [GrpcStatus.NOT_FOUND]: 'NotFound',
  [GrpcStatus.ALREADY_EXISTS]: 'AlreadyExists',
  [GrpcStatus.PERMISSION_DENIED]: 'PermissionDenied',
  [GrpcStatus.RESOURCE_EXHAUSTED]: 'ResourceExhausted',
  [GrpcStatus.FAILED_PRECONDITION]: 'FailedPrecondition',
  [GrpcStatus.ABORTED]: 'Aborted',
  [GrpcStatus.OUT_OF_RANGE]: 'OutOfRange',
  [GrpcStatus.UNIMPLEMENTED]: 'Unimplemented',
  [GrpcStatus.INTERNAL]: 'Internal',
  [GrpcStatus.UNAVAILABLE]: 'Unavailable',
  [GrpcStatus.DATA_LOSS]: 'DataLoss',
  [GrpcStatus.UNAUTHENTICATED]: 'Unauthenticated',
};

type MethodLabel = 'grpc_type' | 'grpc_service' | 'grpc_method';

export class GrpcServerMetrics implements GrpcServerObserver {
  private readonly started: CounterFamily<MethodLabel>;
  private readonly handled: CounterFamily<MethodLabel | 'grpc_code'>;
  private readonly handling: HistogramFamily<MethodLabel>;

  constructor(registry: Registry) {
    const labelNames: MethodLabel[] = ['grpc_type', 'grpc_service', 'grpc_method'];
    this.started = new CounterFamily(registry, { name: 'grpc_server_started_total', help: 'Total number of RPCs started on the server.', labelNames });
    this.handled = new CounterFamily(registry, {
      name: 'grpc_server_handled_total',
      help: 'Total number of RPCs completed on the server, regardless of success or failure.',
      labelNames: [...labelNames, 'grpc_code'],
    });
    this.handling = new HistogramFamily(registry, {
      name: 'grpc_server_handling_seconds',
      help: 'Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.',
      labelNames,
      buckets: GRPC_HANDLING_BUCKETS,
    });
  }

  method(service: string, method: MethodDefinition): GrpcMethodObserver {
    const labels = { grpc_type: callTypeOf(method), grpc_service: service, grpc_method: method.name };
    const started = this.started.cell(labels);
    const byCode: CounterCell[] = [];
    for (const [code, name] of Object.entries(GRPC_CODE_NAMES)) {
      byCode[Number(code)] = this.handled.cell({ ...labels, grpc_code: name });
    }
    const unknown = byCode[GrpcStatus.UNKNOWN] as CounterCell;
    const handling = this.handling.cell(labels);
    return {
      started: () => started.inc(),
      handled: (code, elapsedMs) => {
        (byCode[code] ?? unknown).inc();
        handling.observeMs(elapsedMs);
      },
    };
  }
}
