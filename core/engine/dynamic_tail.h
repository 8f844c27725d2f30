// The part of a model that cannot be planned with static shapes: the ops whose output lengths
// depend on values (NonZero, NonMaxSuppression: registry.h) and every node that reads what they
// make, directly or through a subgraph. Detection models end in such a tail: scores above a
// threshold (NonZero), the best k of them (TopK by a count computed from that), boxes kept by
// NonMaxSuppression.
//
// A Session splits the model in two: the head, everything before and beside the tail, is
// planned as usual (fusions, layouts, one arena); the tail runs node by node at run time with
// the shapes and values that run produced, each node through the same kernels the planner
// uses, If nodes by running the branch their condition picks and Loop nodes by running their
// body per iteration (Scan is refused). A node whose kernel needs only
// its inputs' shapes (and the model's constants) keeps its last plans, one per set of input
// shapes (kPlansPerNode of them): an R-CNN's box head, a Gemm by 51 MB of weights after
// RoiAlign, packed those weights on every run, and a run with the same number of proposals
// as a recent one now reuses them; a new number plans again but takes the weights the kept
// plans packed. A node whose kernel reads values a run computes (a Reshape
// to a computed shape, TopK by a computed k, NonZero) is planned on every run, as are the nodes
// of If branches.
#pragma once

#include <onnx/onnx_pb.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/engine/block_cache.h"
#include "core/engine/evaluate.h"
#include "core/engine/tensor.h"

namespace aifgen::engine {

struct TailSplit {
  // The model less the tail's nodes and the initializers only they read. Its outputs: the
  // model's outputs that it makes, then the values the tail reads from it.
  onnx::ModelProto head;
  // The tail's nodes in graph order, with copies of the Constant nodes they read.
  std::vector<onnx::NodeProto> tail;
};

// nullopt when no node's output shape depends on values (the whole model plans statically).
std::optional<TailSplit> split_dynamic_tail(const onnx::ModelProto& model);

class DynamicTail {
 public:
  // `constants`: the initializers and bound inputs the tail's nodes read. Throws
  // engine-unsupported naming the first node the engine has no kernel for, so a model that
  // cannot run is refused when it is planned, not on its first request.
  // `plan_options`: how the tail's own convolutions are planned (evaluate.h's NodePlanOptions:
  // the session's convolution algorithm, oneDNN's layouts with reorders at their edges).
  DynamicTail(std::vector<onnx::NodeProto> nodes, std::unordered_map<std::string, Tensor> constants, std::int64_t opset,
              NodePlanOptions plan_options = {});

  // Per op type: how often the tail ran it and for how long in all (If nodes include their
  // branches' nodes, which are counted under their own ops too).
  struct OpTime {
    std::int64_t calls = 0;
    double ms = 0;
  };
  using Profile = std::map<std::string, OpTime>;

  // Runs the tail on `values` (the graph's inputs and the head's outputs, by name) and adds
  // every value it computes to them; times each node into `profile` when given. With `keep`,
  // only the values it names are left at the end: every other value is dropped once the last
  // node reading it has run, so its block serves a later node of the same run (block_cache.h).
  // Keypoint R-CNN's tail made about 1.7 GB of values per run when all were kept to the end;
  // past the cache's bound each came from fresh pages, 180,000 page faults a run.
  void run(std::unordered_map<std::string, Tensor>& values, Profile* profile = nullptr,
           const std::unordered_set<std::string>* keep = nullptr) const;

  std::size_t node_count() const { return nodes_.size(); }

  // Plans kept per node for its most recent sets of input shapes, so a tail whose shapes repeat
  // reuses them. A detector's heads see a new number of detections on most images; the plans for
  // them share the node's packed weights (packed_weights.h), so each kept plan costs its
  // primitives, not another copy of the weights (a product of at most 4 rows, rows_product.h,
  // keeps its own copy).
  static constexpr std::size_t kPlansPerNode = 8;
  // At most this much of freed values is kept between runs.
  static constexpr std::size_t kMaxCachedBytes = std::size_t{1} << 30;

  struct NodePlans;

 private:
  std::vector<onnx::NodeProto> nodes_;
  std::unordered_map<std::string, Tensor> constants_;
  std::int64_t opset_;
  NodePlanOptions plan_options_;
  std::vector<std::shared_ptr<NodePlans>> plans_;  // per node of nodes_
  std::vector<bool> folded_;                        // per node: evaluated once into constants_
  // Per node: the values no later node reads (what it made that nothing reads, and what it is
  // the last to read, its subgraphs' reads included), dropped after it when run() has `keep`.
  std::vector<std::vector<std::string>> last_read_by_;
  // The blocks of one run's values, kept for the next (block_cache.h): the tail allocates each
  // value as it runs, and fresh pages cost Mask R-CNN about a tenth of its run.
  std::shared_ptr<BlockCache> blocks_;

  bool fold_once(const onnx::NodeProto& n);  // per node of nodes_
};

// Names every node in the tail reads from outside it (graph inputs, initializers, head values),
// subgraphs' reads from enclosing scopes included; in first-use order.
std::vector<std::string> tail_reads(const std::vector<onnx::NodeProto>& tail);

}  // namespace aifgen::engine
