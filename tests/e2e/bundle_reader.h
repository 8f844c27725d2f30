// Unpacks a .tar.gz bundle in memory (libarchive) for assertions: entry path -> bytes, mode.
#pragma once

#include <map>
#include <string>

namespace aifgen::e2e {

struct BundleEntry {
  std::string bytes;
  int mode = 0;
};

std::map<std::string, BundleEntry> read_bundle(const std::string& tar_gz);

}  // namespace aifgen::e2e
