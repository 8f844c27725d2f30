// Target "x86_64-cpu": Intel/AMD servers, run by aifgen's own engine (oneDNN). fp32 fuses
// Conv + activation into aifgen's private op; int8 is u8s8 QDQ, which the engine runs as oneDNN
// int8 convolutions (VNNI where the CPU has it). Benchmarked on the service host.
#include "targets/common/cpu_target.h"

namespace aifgen {

const Target& x86_64_cpu_target() {
  static const CpuTarget target(
      [] {
        TargetDescriptor d{"x86_64-cpu", "Intel/AMD x86-64 servers (AVX2 and newer)", "aifgen infer-server (aifgen's CPU engine, oneDNN)",
                       AIFGEN_VERSION, {"fp32", "int8"}, "u8s8",
#if defined(__x86_64__)
                       /*runs_on_service_host=*/true
#else
                       false
#endif
        };
        d.verification = "executed";
        d.references = {"aifgen infer-server (this repository): the e2e tests deploy an x86_64 bundle and send it KServe v2 requests", "Kubernetes apps/v1 and KServe v1beta1 schemas (kubernetes-models)"};
        return d;
      }(),
      "amd64");
  return target;
}

}  // namespace aifgen
