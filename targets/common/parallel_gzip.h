// A gzip file written as a series of independent members, each a fixed-size piece of the input
// compressed by libdeflate (Debian libdeflate-dev) on a thread of its own.
//
// Bundles are mostly model weights, which deflate shrinks by about 7% at any level; zlib's
// streaming deflate spent 3-4.5 s per 100 MB bundle on this, most of a float variant's build.
// RFC 1952 (section 2.2) defines a gzip file as a series of members, and every gunzip reads
// them all (GNU gzip, libarchive, Python's gzip and tarfile, Go's compress/gzip), so pieces can
// be compressed side by side. The piece size alone decides where members start, so the bytes
// written are the same whatever the thread count.
#pragma once

#include <cstddef>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

struct libdeflate_compressor;

namespace aifgen {

class ParallelGzipFile {
 public:
  static constexpr std::size_t kPieceBytes = std::size_t{4} << 20;

  // Creates (truncates) `path`. `threads` pieces are compressed at once, so at most about
  // 2 * threads * piece_bytes are buffered. Throws Error(kIo) when the file cannot be created.
  ParallelGzipFile(const std::string& path, int level, int threads, std::size_t piece_bytes = kPieceBytes);
  ~ParallelGzipFile();
  ParallelGzipFile(const ParallelGzipFile&) = delete;
  ParallelGzipFile& operator=(const ParallelGzipFile&) = delete;

  // Buffers `n` bytes, compressing and writing whole batches of pieces. Throws Error(kIo).
  void write(const void* data, std::size_t n);
  // Compresses and writes what is buffered, then closes the file. Throws Error(kIo).
  void close();

 private:
  struct FreeCompressor {
    void operator()(libdeflate_compressor* c) const;
  };
  void flush_pieces();

  std::string path_;
  std::FILE* file_ = nullptr;
  std::size_t piece_bytes_;
  // One compressor, input piece and output buffer per thread, reused from batch to batch (a
  // compressor is not shared between threads).
  std::vector<std::unique_ptr<libdeflate_compressor, FreeCompressor>> compressors_;
  std::vector<std::vector<char>> pieces_, compressed_;
  std::size_t filled_ = 0;  // pieces_ in use, in order; the last may be partial
};

}  // namespace aifgen
