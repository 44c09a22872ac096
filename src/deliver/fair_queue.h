// FairQueue: a queue of jobs kept per tenant and served round robin across tenants, so that one
// tenant's backlog at a destination never delays another tenant's fresh mail there: after at most
// one job of each other waiting tenant, a tenant's next job is served (weighted fair queuing with
// equal weights). Within a tenant, first in first out.
// Thread-safety: none; the owner (a site) guards it with its mutex.
#pragma once

#include <cstddef>
#include <deque>
#include <string>
#include <unordered_map>
#include <utility>

namespace mp {

template <typename T>
class FairQueue {
 public:
  void PushBack(const std::string& tenant, T item) {
    Slot(tenant).push_back(std::move(item));
    ++size_;
  }
  // Puts an item back at the head of its tenant's queue (it was taken and could not be served).
  void PushFront(const std::string& tenant, T item) {
    Slot(tenant).push_front(std::move(item));
    ++size_;
  }
  bool Empty() const { return size_ == 0; }
  size_t Size() const { return size_; }

  // The next item, round robin over the tenants that have one. Precondition: !Empty().
  T Pop() {
    for (;;) {
      std::string tenant = std::move(ring_.front());
      ring_.pop_front();
      auto it = queues_.find(tenant);
      if (it == queues_.end() || it->second.empty()) {
        if (it != queues_.end()) queues_.erase(it);
        continue;
      }
      T item = std::move(it->second.front());
      it->second.pop_front();
      --size_;
      if (it->second.empty()) {
        queues_.erase(it);
      } else {
        ring_.push_back(std::move(tenant));  // its turn comes again after the others
      }
      return item;
    }
  }

  void Clear() {
    queues_.clear();
    ring_.clear();
    size_ = 0;
  }

 private:
  std::deque<T>& Slot(const std::string& tenant) {
    auto [it, inserted] = queues_.try_emplace(tenant);
    if (inserted) ring_.push_back(tenant);
    return it->second;
  }

  std::unordered_map<std::string, std::deque<T>> queues_;
  std::deque<std::string> ring_;  // tenants with items, in serving order
  size_t size_ = 0;
};

}  // namespace mp
