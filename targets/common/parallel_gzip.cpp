#include "targets/common/parallel_gzip.h"

#include <libdeflate.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <thread>

#include "core/base/error.h"

namespace aifgen {

void ParallelGzipFile::FreeCompressor::operator()(libdeflate_compressor* c) const { libdeflate_free_compressor(c); }

ParallelGzipFile::ParallelGzipFile(const std::string& path, int level, int threads, std::size_t piece_bytes)
    : path_(path), piece_bytes_(std::max<std::size_t>(piece_bytes, 1)) {
  for (int i = 0; i < std::max(1, threads); ++i) {
    compressors_.emplace_back(libdeflate_alloc_compressor(level));
    if (!compressors_.back())
      throw Error(ErrorCode::kIo, "storage-error", "cannot create bundle " + path + ": no gzip compressor at level " + std::to_string(level));
  }
  file_ = std::fopen(path.c_str(), "wb");
  if (!file_) throw Error(ErrorCode::kIo, "storage-error", "cannot create bundle " + path + ": " + std::strerror(errno));
  pieces_.resize(compressors_.size());
  compressed_.resize(compressors_.size());
}

ParallelGzipFile::~ParallelGzipFile() {
  if (file_) std::fclose(file_);  // an abandoned file: what was written is incomplete anyway
}

void ParallelGzipFile::write(const void* data, std::size_t n) {
  if (!file_) throw Error(ErrorCode::kIo, "storage-error", "bundle write after close: " + path_);
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    if (filled_ == 0 || pieces_[filled_ - 1].size() == piece_bytes_) {
      if (filled_ == pieces_.size()) flush_pieces();
      pieces_[filled_].clear();  // keeps its capacity: no new pages per piece
      pieces_[filled_].reserve(piece_bytes_);
      ++filled_;
    }
    auto& piece = pieces_[filled_ - 1];
    const std::size_t take = std::min(n, piece_bytes_ - piece.size());
    piece.insert(piece.end(), p, p + take);
    p += take;
    n -= take;
  }
}

void ParallelGzipFile::flush_pieces() {
  // Piece k is compressed by compressor k; the caller's thread takes piece 0.
  std::vector<std::exception_ptr> failed(filled_);
  auto compress = [&](std::size_t k) {
    try {
      auto* c = compressors_[k].get();
      auto& out = compressed_[k];
      out.resize(libdeflate_gzip_compress_bound(c, pieces_[k].size()));
      out.resize(libdeflate_gzip_compress(c, pieces_[k].data(), pieces_[k].size(), out.data(), out.size()));
    } catch (...) {
      failed[k] = std::current_exception();  // out of memory: rethrown on the caller's thread
    }
  };
  std::vector<std::thread> helpers;
  for (std::size_t k = 1; k < filled_; ++k) helpers.emplace_back(compress, k);
  if (filled_ > 0) compress(0);
  for (auto& t : helpers) t.join();
  for (const auto& f : failed)
    if (f) std::rethrow_exception(f);
  for (std::size_t k = 0; k < filled_; ++k) {
    // The bound is never too small (libdeflate's contract), so 0 bytes means it failed.
    if (compressed_[k].empty())
      throw Error(ErrorCode::kInternal, "storage-error", "gzip compression of a bundle piece failed: " + path_);
    if (std::fwrite(compressed_[k].data(), 1, compressed_[k].size(), file_) != compressed_[k].size())
      throw Error(ErrorCode::kIo, "storage-error", "bundle write failed: " + path_ + ": " + std::strerror(errno));
  }
  filled_ = 0;
}

void ParallelGzipFile::close() {
  if (!file_) return;
  // An empty input is still one (empty) member: a gzip file holds at least one.
  if (filled_ == 0) {
    pieces_[0].clear();
    filled_ = 1;
  }
  flush_pieces();
  std::FILE* f = file_;
  file_ = nullptr;
  if (std::fflush(f) != 0 || std::ferror(f)) {
    const std::string why = std::strerror(errno);
    std::fclose(f);
    throw Error(ErrorCode::kIo, "storage-error", "bundle write failed: " + path_ + ": " + why);
  }
  if (std::fclose(f) != 0) throw Error(ErrorCode::kIo, "storage-error", "bundle close failed: " + path_ + ": " + std::strerror(errno));
}

}  // namespace aifgen
