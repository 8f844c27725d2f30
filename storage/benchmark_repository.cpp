#include "storage/benchmark_repository.h"

namespace aifgen::storage {

void BenchmarkRepository::add(const BenchmarkRecord& b) { insert_benchmark(db_.acquire(), b); }

void insert_benchmark(const Lease& c, const BenchmarkRecord& b) {
  auto st = c.prepare("INSERT INTO benchmarks(variant_id, subject, origin, host, threads, batch, iterations, p50_ms, p90_ms, p99_ms, "
                      "throughput_per_s, created_at, concurrency, hardware_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  st.bind(1, b.variant_id).bind(2, b.subject).bind(3, b.origin).bind(4, b.host).bind(5, b.threads).bind(6, b.batch)
      .bind(7, b.iterations).bind(8, b.p50_ms).bind(9, b.p90_ms).bind(10, b.p99_ms).bind(11, b.throughput_per_s)
      .bind(12, b.created_at.empty() ? now_iso8601() : b.created_at).bind(13, b.concurrency);
  if (b.hardware_json) st.bind(14, *b.hardware_json);
  st.exec();
}

std::vector<BenchmarkRecord> BenchmarkRepository::for_variant(const std::string& variant_id) {
  auto c = db_.acquire();
  auto st = c.prepare("SELECT id, variant_id, subject, origin, host, threads, batch, iterations, p50_ms, p90_ms, p99_ms, "
                      "throughput_per_s, created_at, concurrency, hardware_json FROM benchmarks WHERE variant_id = ? ORDER BY id");
  st.bind(1, variant_id);
  std::vector<BenchmarkRecord> out;
  while (st.step()) {
    BenchmarkRecord b;
    b.id = st.integer(0);
    b.variant_id = st.text(1);
    b.subject = st.text(2);
    b.origin = st.text(3);
    b.host = st.text(4);
    b.threads = st.integer(5);
    b.batch = st.integer(6);
    b.iterations = st.integer(7);
    b.p50_ms = st.real(8);
    b.p90_ms = st.real(9);
    b.p99_ms = st.real(10);
    b.throughput_per_s = st.real(11);
    b.created_at = st.text(12);
    b.concurrency = st.integer(13);
    b.hardware_json = st.opt_text(14);
    out.push_back(b);
  }
  return out;
}

}  // namespace aifgen::storage
