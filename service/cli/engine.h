// `aifgen run` and `aifgen bench`: execute or time a model on the CPU engine.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace aifgen {

struct EngineCliOptions {
  std::string model;
  int threads = 1;
  std::vector<std::string> shapes;  // NAME=1x3x224x224
  std::string conv_algorithm = "measured";  // measured | direct | winograd
  std::string activation_layout = "measured";  // measured | onednn | blocked
  std::string recurrence = "measured";         // measured | engine | onednn
  std::vector<std::string> inputs;  // NAME=FILE.npy (run)
  std::string output_dir;           // run
  int warmup = 5, iterations = 30;  // bench
  int input_sets = 1;                // bench: random input sets run in turn (seeds 1..N)
  bool json = false;                // bench
  bool profile = false;             // bench: time per op type
  bool profile_steps = false;       // bench: time per planned step, in plan order
};

int run_model(const EngineCliOptions& o);
int bench_model(const EngineCliOptions& o);

}  // namespace aifgen
