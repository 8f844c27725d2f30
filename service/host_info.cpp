// Reads /proc/cpuinfo once.
#include "service/host_info.h"

#include <algorithm>
#include <fstream>
#include <thread>

namespace aifgen {

std::string host_description() {
  static const std::string description = [] {
    std::ifstream in("/proc/cpuinfo");
    std::string line, model = "unknown CPU";
    while (std::getline(in, line))
      if (line.rfind("model name", 0) == 0) {
        auto colon = line.find(':');
        if (colon != std::string::npos) model = line.substr(colon + 2);
        break;
      }
    return model + ", " + std::to_string(std::thread::hardware_concurrency()) + " logical CPUs";
  }();
  return description;
}

int job_threads(int jobs_at_once) {
  const int cpus = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::clamp(cpus / std::max(1, jobs_at_once), 1, 8);
}

}  // namespace aifgen
