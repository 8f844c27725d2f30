// The benchmarks table: latency rows per variant (local measurements now, field reports later).
#pragma once

#include <vector>

#include "storage/database.h"
#include "core/base/records.h"

namespace aifgen::storage {

// Inserts one benchmark row on `c` (inside the caller's transaction, if any).
void insert_benchmark(const Lease& c, const BenchmarkRecord& b);

class BenchmarkRepository {
 public:
  explicit BenchmarkRepository(Database& db) : db_(db) {}
  void add(const BenchmarkRecord& b);
  std::vector<BenchmarkRecord> for_variant(const std::string& variant_id);

 private:
  Database& db_;
};

}  // namespace aifgen::storage
