// SQL for the models table.
#include "storage/model_repository.h"

#include "core/base/error.h"

namespace aifgen::storage {
namespace {

constexpr const char* kColumns = "id, name, size_bytes, info_json, created_at";

ModelRecord read_row(const Statement& st) {
  return ModelRecord{st.text(0), st.text(1), st.integer(2), st.text(3), st.text(4)};
}

}  // namespace

std::pair<ModelRecord, bool> ModelRepository::insert_if_absent(const ModelRecord& m) {
  return db_.transact([&](const Lease& c) {
    int changed = c.prepare("INSERT INTO models(id, name, size_bytes, info_json, created_at) "
                            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING")
                      .bind(1, m.id).bind(2, m.name).bind(3, m.size_bytes).bind(4, m.info_json)
                      .bind(5, m.created_at).exec();
    auto st = c.prepare((std::string("SELECT ") + kColumns + " FROM models WHERE id = ?").c_str());
    st.bind(1, m.id);
    st.step();
    return std::pair{read_row(st), changed > 0};
  });
}

std::optional<ModelRecord> ModelRepository::get(const std::string& id) {
  auto c = db_.acquire();
  auto st = c.prepare((std::string("SELECT ") + kColumns + " FROM models WHERE id = ?").c_str());
  st.bind(1, id);
  if (!st.step()) return std::nullopt;
  return read_row(st);
}

std::vector<ModelRecord> ModelRepository::list(int limit, int offset) {
  auto c = db_.acquire();
  auto st = c.prepare((std::string("SELECT ") + kColumns +
                       " FROM models ORDER BY created_at DESC, id LIMIT ? OFFSET ?").c_str());
  st.bind(1, static_cast<std::int64_t>(limit)).bind(2, static_cast<std::int64_t>(offset));
  std::vector<ModelRecord> out;
  while (st.step()) out.push_back(read_row(st));
  return out;
}

bool ModelRepository::blob_referenced(const std::string& sha) {
  auto c = db_.acquire();
  auto st = c.prepare("SELECT EXISTS(SELECT 1 FROM models WHERE id = ?1) OR EXISTS(SELECT 1 FROM variants WHERE artifact_sha256 = ?1) "
                      "OR EXISTS(SELECT 1 FROM calibration_sets WHERE sha256 = ?1)");
  st.bind(1, sha);
  st.step();
  return st.integer(0) != 0;
}

std::vector<std::string> ModelRepository::remove(const std::string& id) {
  return db_.transact([&](const Lease& c) {
    {
      auto st = c.prepare("SELECT COUNT(*) FROM models WHERE id = ?");
      st.bind(1, id);
      st.step();
      if (st.integer(0) == 0) throw Error(ErrorCode::kNotFound, "model-not-found", "no model with id " + id);
    }
    {
      auto st = c.prepare("SELECT COUNT(*) FROM jobs WHERE model_id = ? AND state IN ('queued','running')");
      st.bind(1, id);
      st.step();
      if (st.integer(0) > 0)
        throw Error(ErrorCode::kConflict, "model-has-active-jobs",
                    "model " + id + " has " + std::to_string(st.integer(0)) +
                        " queued or running job(s); cancel them or wait for them to finish");
    }
    std::vector<std::string> artifacts;
    {
      auto st = c.prepare("SELECT DISTINCT artifact_sha256 FROM variants WHERE model_id = ? AND artifact_sha256 IS NOT NULL");
      st.bind(1, id);
      while (st.step()) artifacts.push_back(st.text(0));
    }
    {
      // Calibration blobs go too, unless another model's set has the same bytes.
      auto st = c.prepare("SELECT DISTINCT sha256 FROM calibration_sets WHERE model_id = ?1 AND sha256 NOT IN "
                          "(SELECT sha256 FROM calibration_sets WHERE model_id != ?1)");
      st.bind(1, id);
      while (st.step()) artifacts.push_back(st.text(0));
    }
    c.prepare("DELETE FROM calibration_sets WHERE model_id = ?").bind(1, id).exec();
    c.prepare("DELETE FROM benchmarks WHERE variant_id IN (SELECT id FROM variants WHERE model_id = ?)").bind(1, id).exec();
    c.prepare("DELETE FROM variants WHERE model_id = ?").bind(1, id).exec();
    c.prepare("DELETE FROM jobs WHERE model_id = ?").bind(1, id).exec();
    c.prepare("DELETE FROM models WHERE id = ?").bind(1, id).exec();
    return artifacts;
  });
}

}  // namespace aifgen::storage
