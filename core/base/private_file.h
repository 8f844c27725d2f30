// Small secrets on disk (the link-signing key): created readable by the owner only from the first
// byte, and atomically, so a crash leaves the old file, no file, or the whole new one.
#pragma once

#include <string>

namespace aifgen {

// Writes `bytes` to a temp file opened O_CREAT | O_EXCL with mode 0600 (no umask window),
// fsyncs it, renames it over `path` and fsyncs the directory. Throws Error(kIo, "io-error").
void write_private_file(const std::string& path, const std::string& bytes);
// The same, but only when `path` does not exist yet (it is hard-linked into place, which fails
// if another process got there first): true when this call created it. Processes sharing a
// directory that all start at once thereby agree on one file.
bool create_private_file(const std::string& path, const std::string& bytes);

}  // namespace aifgen
