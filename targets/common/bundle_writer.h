// Writes a bundle: a gzip-compressed POSIX tar whose entries all sit under one top directory,
// with fixed safe modes (0644 files, 0755 scripts) and no links, owners or absolute paths.
// libarchive writes the tar; ParallelGzipFile compresses it on several threads.
#pragma once

#include <memory>
#include <string>
#include <string_view>

struct archive;

namespace aifgen {

class ParallelGzipFile;

class BundleWriter {
 public:
  // Opens `out_path` for writing; entries go under `top_dir/`. Throws Error(kIo).
  BundleWriter(const std::string& out_path, std::string top_dir);
  ~BundleWriter();
  BundleWriter(const BundleWriter&) = delete;
  BundleWriter& operator=(const BundleWriter&) = delete;

  // `name` is relative, '/'-separated, without ".." or leading '/'. Throws Error(kInternal) when not.
  void add(const std::string& name, std::string_view bytes, bool executable = false);
  // Finishes the archive (writes the gzip trailer). Throws Error(kIo).
  void close();

 private:
  std::unique_ptr<ParallelGzipFile> gzip_;  // declared before a_: outlives libarchive's writes to it
  archive* a_;
  std::string top_;
  bool closed_ = false;
};

}  // namespace aifgen
