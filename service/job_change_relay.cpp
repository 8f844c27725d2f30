// The relay loop: wait for notifications a second at a time (so stop() is prompt); after a lost
// connection, reconnect with backoff and tell every waiter to recheck, since changes made while
// nobody listened were not announced.
#include "service/job_change_relay.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace aifgen {

void JobChangeRelay::start() {
  if (thread_.joinable()) return;
  auto feed = db_.job_changes();
  if (!feed) return;
  stopping_ = false;
  thread_ = std::thread([this, f = std::move(feed)]() mutable { loop(std::move(f)); });
}

void JobChangeRelay::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

void JobChangeRelay::loop(std::unique_ptr<storage::ChangeFeed> feed) {
  int backoff_ms = 0;
  while (!stopping_) {
    try {
      if (!feed) {
        feed = db_.job_changes();
        events_.notify_all_changed();
        spdlog::info("job change feed reconnected");
        backoff_ms = 0;
      }
      for (const auto& id : feed->wait(std::chrono::seconds(1))) {
        events_.notify(id);
        ++relayed_;
      }
    } catch (const std::exception& e) {
      feed.reset();
      backoff_ms = std::clamp(backoff_ms * 2, 250, 10000);
      spdlog::warn("job change feed lost ({}); reconnecting in {} ms", e.what(), backoff_ms);
      for (int waited = 0; waited < backoff_ms && !stopping_; waited += 50) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
}

}  // namespace aifgen
