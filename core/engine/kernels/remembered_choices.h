// Kernel choices timed at planning, remembered per shape and thread count: a model's layers
// repeat (a transformer's, a stacked LSTM's), and the session plans the model again for its
// thread and layout races. Thread-safe; bounded: cleared at 4096 shapes.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace aifgen::engine {

class RememberedChoices {
 public:
  std::optional<bool> find(const std::string& key) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = choices_.find(key);
    return it == choices_.end() ? std::nullopt : std::optional(it->second);
  }
  void remember(const std::string& key, bool choice) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (choices_.size() >= 4096) choices_.clear();
    choices_[key] = choice;
  }

 private:
  std::mutex mutex_;
  std::map<std::string, bool> choices_;
};

}  // namespace aifgen::engine
