// Batching, as a dynamic batcher does it: one thread takes the oldest queued request, waits up
// to the batch window (or until max_batch rows are queued), takes every queued request with
// the same per-row shapes, concatenates them along dim 0, runs once (with every core) and
// splits the outputs back.
#include "api/kserve/infer_model.h"

#include <nlohmann/json.hpp>

#include <fstream>

#include <algorithm>
#include <set>
#include <cstring>
#include <thread>
#include <utility>

#include "core/base/error.h"
#include "core/onnx_model.h"

namespace aifgen {
namespace {

engine::Shape rows_shape(const engine::Tensor& t) { return engine::Shape(t.shape.begin() + 1, t.shape.end()); }

}  // namespace

InferModel::InferModel(const std::string& bundle_dir, std::string name, InferOptions options)
    : name_(std::move(name)), options_(options) {
  if (options_.threads <= 0) options_.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  model_ = load_model_file(bundle_dir + "/model.onnx");
  std::set<std::string> inits;
  for (const auto& t : model_.graph().initializer()) inits.insert(t.name());
  batched_ = options_.max_batch > 1;
  auto spec = [&](const onnx::ValueInfoProto& v) {
    IoSpec s{v.name(), engine::dtype_from_onnx(v.type().tensor_type().elem_type()), {}};
    for (const auto& d : v.type().tensor_type().shape().dim()) s.dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
    batched_ = batched_ && !s.dims.empty() && s.dims[0] < 0;
    return s;
  };
  for (const auto& in : model_.graph().input())
    if (!inits.count(in.name())) inputs_.push_back(spec(in));
  load_declared_ranges(bundle_dir);
  for (const auto& out : model_.graph().output()) outputs_.push_back(spec(out));
  // Plan the common case now so the first request does not pay for it and errors show at start.
  std::vector<engine::Tensor> probe;
  for (const auto& s : inputs_) {
    engine::Shape shape;
    for (std::size_t i = 0; i < s.dims.size(); ++i) shape.push_back(s.dims[i] >= 0 ? s.dims[i] : (i == 0 ? 1 : 224));
    probe.push_back(engine::Tensor{s.dtype, shape, nullptr, nullptr});
  }
  // Inputs without a free dimension have one shape, planned here, and infer() accepts no other:
  // the proto is needed only to plan other shapes, so the plan takes it (its weights' bytes
  // become the plan's constants instead of a second copy while planning, and the proto is freed
  // once planned). Its one shape failing to plan is then the model failing to load: no request
  // could run.
  const bool one_shape = std::all_of(inputs_.begin(), inputs_.end(), [](const IoSpec& s) {
    return std::all_of(s.dims.begin(), s.dims.end(), [](std::int64_t d) { return d >= 0; });
  });
  try {
    session_for(probe, one_shape);
  } catch (const Error&) {
    if (one_shape) throw;
    // Free non-batch dims have no natural default; the first real request plans its shapes.
  }
  if (batched_) batcher_ = std::thread([this] { batcher_loop(); });
}

// variant.json's serving.input_ranges (written when the job had a shape profile): per input, the
// smallest and largest shape accepted. Absent: only --max-input-elements bounds client shapes.
void InferModel::load_declared_ranges(const std::string& bundle_dir) {
  std::ifstream in(bundle_dir + "/variant.json");
  if (!in) return;
  auto j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.contains("serving") || !j["serving"].contains("input_ranges")) return;
  for (auto& s : inputs_) {
    const auto& ranges = j["serving"]["input_ranges"];
    if (!ranges.contains(s.name)) continue;
    const auto& r = ranges[s.name];
    try {
      auto mn = r.at("min").get<std::vector<std::int64_t>>(), mx = r.at("max").get<std::vector<std::int64_t>>();
      if (mn.size() != s.dims.size() || mx.size() != s.dims.size()) throw std::invalid_argument("rank differs from the model's");
      s.min_dims = std::move(mn);
      s.max_dims = std::move(mx);
    } catch (const std::exception& e) {
      throw Error(ErrorCode::kInvalidArgument, "bundle-invalid",
                  "variant.json serving.input_ranges for '" + s.name + "' is not usable: " + e.what());
    }
  }
}

InferModel::~InferModel() {
  {
    std::lock_guard lock(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  if (batcher_.joinable()) batcher_.join();
}

std::shared_ptr<engine::Session> InferModel::session_for(const std::vector<engine::Tensor>& inputs, bool take_model) {
  std::vector<engine::Shape> key;
  for (const auto& t : inputs) key.push_back(t.shape);
  {
    std::unique_lock lock(sessions_mu_);
    auto it = sessions_.find(key);
    if (it != sessions_.end()) {
      it->second.last_used = ++use_clock_;
      return it->second.session;
    }
    // Planning takes milliseconds to seconds: done outside the lock so requests of shapes
    // already planned never wait behind it, and at most max_concurrent_plans at once.
    plans_cv_.wait(lock, [&] { return plans_running_ < std::max(1, options_.max_concurrent_plans); });
    ++plans_running_;
  }
  struct PlanSlot {
    InferModel* self;
    ~PlanSlot() {
      {
        std::lock_guard lock(self->sessions_mu_);
        --self->plans_running_;
      }
      self->plans_cv_.notify_one();
    }
  } slot{this};
  if (!model_kept_)  // infer() lets only the planned shape through
    throw Error(ErrorCode::kInternal, "internal", "model '" + name_ + "' has one planned shape and no model to plan another");
  engine::SessionOptions o;
  o.threads = options_.threads;
  o.conv_algorithm = options_.conv_algorithm;
  for (std::size_t k = 0; k < inputs.size(); ++k) o.input_shapes[inputs_[k].name] = inputs[k].shape;
  std::shared_ptr<engine::Session> s;
  if (take_model) {
    model_kept_ = false;
    s = std::make_shared<engine::Session>(std::exchange(model_, onnx::ModelProto()), o);
  } else {
    s = std::make_shared<engine::Session>(model_, o);
  }
  std::lock_guard lock(sessions_mu_);
  ++plans_made_;
  auto [it, inserted] = sessions_.try_emplace(key, CachedPlan{s, 0});
  it->second.last_used = ++use_clock_;
  // Bounded, shapes come from clients: the least recently used plan goes (a run still using it
  // keeps it alive through its shared_ptr).
  while (sessions_.size() > static_cast<std::size_t>(std::max(1, options_.max_cached_plans))) {
    auto victim = sessions_.end();
    for (auto c = sessions_.begin(); c != sessions_.end(); ++c)
      if (c != it && (victim == sessions_.end() || c->second.last_used < victim->second.last_used)) victim = c;
    sessions_.erase(victim);
  }
  return it->second.session;
}

std::vector<engine::Tensor> InferModel::infer(std::vector<engine::Tensor> inputs) {
  if (inputs.size() != inputs_.size())
    throw Error(ErrorCode::kInvalidArgument, "infer-bad-input",
                "model '" + name_ + "' takes " + std::to_string(inputs_.size()) + " inputs, got " + std::to_string(inputs.size()));
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    const auto& s = inputs_[k];
    const auto& t = inputs[k];
    if (t.dtype != s.dtype)
      throw Error(ErrorCode::kInvalidArgument, "infer-bad-input", "input '" + s.name + "' must be " + engine::dtype_str(s.dtype));
    bool ok = t.shape.size() == s.dims.size();
    for (std::size_t i = 0; ok && i < s.dims.size(); ++i) ok = t.shape[i] > 0 && (s.dims[i] < 0 || s.dims[i] == t.shape[i]);
    for (std::size_t i = 0; ok && i < s.max_dims.size(); ++i) ok = t.shape[i] >= s.min_dims[i] && t.shape[i] <= s.max_dims[i];
    if (!ok) throw Error(ErrorCode::kInvalidArgument, "infer-bad-input", "input '" + s.name + "' has shape " + engine::shape_str(t.shape) + ", which the model does not accept" +
                      (s.max_dims.empty() ? std::string()
                                          : " (this bundle serves " + engine::shape_str(s.min_dims) + " to " + engine::shape_str(s.max_dims) + ")"));
    std::int64_t n = 1;
    for (auto d : t.shape) n = d > 0 && n <= INT64_MAX / d ? n * d : INT64_MAX;
    if (options_.max_input_elements > 0 && n > options_.max_input_elements)
      throw Error(ErrorCode::kInvalidArgument, "infer-bad-input",
                  "input '" + s.name + "' of shape " + engine::shape_str(t.shape) + " has " + std::to_string(n) +
                      " elements, more than this server's --max-input-elements " + std::to_string(options_.max_input_elements));
  }
  {
    std::lock_guard lock(stats_mu_);
    ++requests_;
  }
  if (!batched_ || inputs[0].shape[0] >= options_.max_batch) {
    {
      std::lock_guard lock(stats_mu_);
      ++batches_;
    }
    return session_for(inputs)->run(inputs);
  }
  auto mine = std::make_shared<Pending>();
  mine->inputs = std::move(inputs);
  auto result = mine->result.get_future();
  {
    std::lock_guard lock(queue_mu_);
    queue_.push_back(std::move(mine));
  }
  queue_cv_.notify_all();
  return result.get();
}

void InferModel::batcher_loop() {
  for (;;) {
    std::vector<std::shared_ptr<Pending>> batch;
    {
      std::unique_lock lock(queue_mu_);
      queue_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_ && queue_.empty()) return;
      auto rows_queued = [&] {
        std::int64_t rows = 0;
        for (const auto& p : queue_) rows += p->inputs[0].shape[0];
        return rows;
      };
      queue_cv_.wait_for(lock, options_.batch_window, [&] { return stopping_ || rows_queued() >= options_.max_batch; });
      // Requests with the same per-row shapes as the oldest, up to max_batch rows.
      std::vector<engine::Shape> signature;
      for (const auto& t : queue_.front()->inputs) signature.push_back(rows_shape(t));
      std::int64_t rows = 0;
      for (auto it = queue_.begin(); it != queue_.end();) {
        std::vector<engine::Shape> sig;
        for (const auto& t : (*it)->inputs) sig.push_back(rows_shape(t));
        const auto r = (*it)->inputs[0].shape[0];
        if (sig == signature && rows + r <= options_.max_batch) {
          rows += r;
          batch.push_back(*it);
          it = queue_.erase(it);
        } else {
          ++it;
        }
      }
    }
    run_batch(std::move(batch));
  }
}

void InferModel::run_batch(std::vector<std::shared_ptr<Pending>> batch) {
  try {
    std::vector<engine::Tensor> merged;
    std::int64_t rows = 0;
    for (const auto& p : batch) rows += p->inputs[0].shape[0];
    for (std::size_t k = 0; k < inputs_.size(); ++k) {
      auto shape = batch[0]->inputs[k].shape;
      shape[0] = rows;
      auto t = engine::Tensor::allocate(batch[0]->inputs[k].dtype, shape);
      std::size_t offset = 0;
      for (const auto& p : batch) {
        std::memcpy(t.data + offset, p->inputs[k].data, p->inputs[k].bytes());
        offset += p->inputs[k].bytes();
      }
      merged.push_back(std::move(t));
    }
    auto outs = session_for(merged)->run(merged);
    {
      std::lock_guard lock(stats_mu_);
      ++batches_;
    }
    std::int64_t row = 0;
    for (const auto& p : batch) {
      const auto r = p->inputs[0].shape[0];
      std::vector<engine::Tensor> mine;
      for (const auto& o : outs) {
        if (o.shape.empty() || o.shape[0] != rows)
          throw Error(ErrorCode::kInternal, "infer-batch-mismatch", "an output does not carry the batch dimension");
        auto shape = o.shape;
        shape[0] = r;
        auto t = engine::Tensor::allocate(o.dtype, shape);
        std::memcpy(t.data, o.data + static_cast<std::size_t>(row) * (o.bytes() / static_cast<std::size_t>(rows)), t.bytes());
        mine.push_back(std::move(t));
      }
      row += r;
      p->result.set_value(std::move(mine));
    }
  } catch (...) {
    for (const auto& p : batch) {
      try {
        p->result.set_exception(std::current_exception());
      } catch (const std::future_error&) {
      }
    }
  }
}

std::int64_t InferModel::batches_run() const {
  std::lock_guard lock(stats_mu_);
  return batches_;
}

std::int64_t InferModel::requests_run() const {
  std::lock_guard lock(stats_mu_);
  return requests_;
}

std::int64_t InferModel::plans_made() const {
  std::lock_guard lock(sessions_mu_);
  return plans_made_;
}

}  // namespace aifgen
