// ParallelGzipFile: the bundles' gzip. What it writes must read back through zlib (which
// follows RFC 1952's series of members) and libarchive, byte for byte, and must not depend on
// how many threads compressed it.
#include "targets/common/parallel_gzip.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <string>

#include "core/base/error.h"
#include "targets/common/bundle_writer.h"

namespace aifgen {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("aifgen-gzip-" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// Everything zlib's gzread gives back: it reads every member of the file in turn.
std::string gunzip(const fs::path& p) {
  gzFile f = gzopen(p.c_str(), "rb");
  EXPECT_NE(f, nullptr);
  std::string out;
  char buf[65536];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  EXPECT_EQ(n, 0) << "gzread failed";
  gzclose(f);
  return out;
}

// Counts gzip members by inflating them one after another.
int members(const std::string& gz) {
  int count = 0;
  std::size_t at = 0;
  while (at < gz.size()) {
    z_stream z{};
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return -1;
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data() + at));
    z.avail_in = static_cast<uInt>(gz.size() - at);
    char sink[65536];
    int rc;
    do {
      z.next_out = reinterpret_cast<Bytef*>(sink);
      z.avail_out = sizeof sink;
      rc = inflate(&z, Z_NO_FLUSH);
    } while (rc == Z_OK);
    const std::size_t used = gz.size() - at - z.avail_in;
    inflateEnd(&z);
    if (rc != Z_STREAM_END) return -1;
    at += used;
    ++count;
  }
  return count;
}

std::string random_bytes(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  // Half noise, half runs: compressible and not, as weights next to zero padding.
  for (std::size_t i = 0; i < n; ++i) s[i] = (i / 700) % 2 ? static_cast<char>(rng()) : static_cast<char>(i / 7000);
  return s;
}

std::string write_gzip(const fs::path& p, const std::string& data, int threads, std::size_t piece, std::size_t write_size) {
  ParallelGzipFile f(p.string(), 1, threads, piece);
  for (std::size_t at = 0; at < data.size(); at += write_size) f.write(data.data() + at, std::min(write_size, data.size() - at));
  f.close();
  return read_file(p);
}

TEST(ParallelGzip, EverySizeReadsBackThroughZlibAsOneMemberPerPieceWhateverTheThreads) {
  TempDir dir;
  const std::size_t piece = 1000;
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, piece, 3 * piece + 17, 11 * piece}) {
    const auto data = random_bytes(size, static_cast<std::uint32_t>(size));
    const auto one = write_gzip(dir.path / "one.gz", data, 1, piece, 333);
    EXPECT_EQ(gunzip(dir.path / "one.gz"), data) << size << " bytes";
    EXPECT_EQ(members(one), size == 0 ? 1 : static_cast<int>((size + piece - 1) / piece)) << size << " bytes";
    // Other thread counts (a partial last batch included) and write sizes: the same bytes.
    EXPECT_EQ(write_gzip(dir.path / "three.gz", data, 3, piece, 4096), one) << size << " bytes";
    EXPECT_EQ(write_gzip(dir.path / "four.gz", data, 4, piece, 1), one) << size << " bytes";
  }
  // Compressible input is compressed, not stored.
  const std::string zeros(50000, '\0');
  EXPECT_LT(write_gzip(dir.path / "zeros.gz", zeros, 2, piece, 50000).size(), zeros.size() / 10);
}

TEST(ParallelGzip, ABundleReadsBackThroughLibarchiveEntryForEntry) {
  TempDir dir;
  const auto big = random_bytes(ParallelGzipFile::kPieceBytes * 2 + 12345, 5);  // members across an entry
  {
    BundleWriter w((dir.path / "b.tar.gz").string(), "top");
    w.add("README.md", "# a bundle\n");
    w.add("model.onnx", big);
    w.add("run.sh", "#!/bin/sh\n", true);
    w.close();
  }
  archive* a = archive_read_new();
  archive_read_support_filter_gzip(a);
  archive_read_support_format_tar(a);
  ASSERT_EQ(archive_read_open_filename(a, (dir.path / "b.tar.gz").c_str(), 65536), ARCHIVE_OK) << archive_error_string(a);
  std::map<std::string, std::pair<std::string, int>> entries;
  archive_entry* e;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    std::string bytes(static_cast<std::size_t>(archive_entry_size(e)), '\0');
    EXPECT_EQ(archive_read_data(a, bytes.data(), bytes.size()), static_cast<la_ssize_t>(bytes.size()));
    entries[archive_entry_pathname(e)] = {bytes, archive_entry_perm(e)};
  }
  archive_read_free(a);
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries["top/README.md"].first, "# a bundle\n");
  EXPECT_EQ(entries["top/model.onnx"].first, big);
  EXPECT_EQ(entries["top/run.sh"].second, 0755);
  EXPECT_EQ(entries["top/model.onnx"].second, 0644);
}

TEST(ParallelGzip, AFileThatCannotBeCreatedOrWrittenIsAStorageError) {
  try {
    ParallelGzipFile f("/nonexistent-dir/x.gz", 1, 2);
    FAIL() << "expected a storage error";
  } catch (const Error& e) {
    EXPECT_EQ(e.type(), "storage-error");
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir/x.gz"), std::string::npos) << e.what();
  }
  // A full disk: /dev/full refuses every write with ENOSPC.
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full on this machine";
  const auto data = random_bytes(5000, 9);
  try {
    ParallelGzipFile f("/dev/full", 1, 2, 1000);
    f.write(data.data(), data.size());
    f.close();
    FAIL() << "expected a storage error";
  } catch (const Error& e) {
    EXPECT_EQ(e.type(), "storage-error");
    EXPECT_NE(std::string(e.what()).find("/dev/full"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace aifgen
