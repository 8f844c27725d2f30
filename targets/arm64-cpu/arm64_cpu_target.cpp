// Target "arm64-cpu": Graviton, Ampere, Raspberry Pi class, run by aifgen's engine built for
// arm64. fp16 variants store weights and activations in float16; this engine executes them in
// float32 with fp16 rounding (no native fp16 kernels yet), so they are smaller, not faster.
#include "targets/common/cpu_target.h"

namespace aifgen {

const Target& arm64_cpu_target() {
  static const CpuTarget target(
      [] {
        TargetDescriptor d{"arm64-cpu", "64-bit ARM servers and boards (Graviton, Ampere Altra, Raspberry Pi 4/5)",
                       "aifgen infer-server built for arm64 (aifgen's CPU engine, oneDNN)", AIFGEN_VERSION,
                       {"fp32", "fp16", "int8"}, "u8s8",
#if defined(__aarch64__)
                       /*runs_on_service_host=*/true
#else
                       false
#endif
        };
        d.verification = "reference-checked";
        d.references = {"aifgen infer-server built for arm64 (not built or run by the test suite on arm64)", "Kubernetes apps/v1 and KServe v1beta1 schemas (kubernetes-models)"};
        return d;
      }(),
      "arm64");
  return target;
}

}  // namespace aifgen
