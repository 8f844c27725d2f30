#include "tests/e2e/bundle_reader.h"

#include <archive.h>
#include <archive_entry.h>

#include <stdexcept>

namespace aifgen::e2e {

std::map<std::string, BundleEntry> read_bundle(const std::string& tar_gz) {
  archive* a = archive_read_new();
  archive_read_support_filter_gzip(a);
  archive_read_support_format_tar(a);
  if (archive_read_open_memory(a, tar_gz.data(), tar_gz.size()) != ARCHIVE_OK) {
    archive_read_free(a);
    throw std::runtime_error("not a tar.gz");
  }
  std::map<std::string, BundleEntry> out;
  archive_entry* e = nullptr;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    BundleEntry entry;
    entry.mode = archive_entry_perm(e);
    char buf[65536];
    la_ssize_t n;
    while ((n = archive_read_data(a, buf, sizeof buf)) > 0) entry.bytes.append(buf, static_cast<std::size_t>(n));
    out[archive_entry_pathname(e)] = std::move(entry);
  }
  archive_read_free(a);
  return out;
}

}  // namespace aifgen::e2e
