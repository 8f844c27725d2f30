// libFuzzer target: the untrusted-model path of an upload: bounded parse, external-data refusal,
// ONNX checker, shape inference, census.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/base/error.h"
#include "core/model_info.h"
#include "core/onnx_model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const int fd = memfd_create("fuzz-model", 0);
  if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) return 0;
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  try {
    aifgen::ModelLimits limits;
    limits.max_bytes = 1 << 20;
    auto m = aifgen::load_model_file(path, limits);
    aifgen::accept_model(m);
    auto info = aifgen::inspect_model(m);
    (void)info;
  } catch (const aifgen::Error&) {
  }
  return 0;
}
