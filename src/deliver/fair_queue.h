// FairQueue: a queue of jobs kept per tenant and served round robin across tenants, so that one
// tenant's backlog at a destination never delays another tenant's fresh mail there: a tenant's
// turn serves up to its weight in jobs (1 by default), then the next waiting tenant's turn comes
// (weighted round robin). Within a tenant, first in first out.
// Thread-safety: none; the owner (a site) guards it with its mutex.
#pragma once

#include <algorithm>
#include <cstddef>
#include <deque>
#include <functional>
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

  // Weights of tenants (>= 1); without, every tenant weighs 1.
  void SetWeights(std::function<int(const std::string&)> weight) { weight_ = std::move(weight); }

  // The next item, weighted round robin over the tenants that have one. Precondition: !Empty().
  T Pop() {
    for (;;) {
      const std::string& tenant = ring_.front();
      auto it = queues_.find(tenant);
      if (it == queues_.end() || it->second.empty()) {
        if (it != queues_.end()) queues_.erase(it);
        ring_.pop_front();
        served_ = 0;
        continue;
      }
      T item = std::move(it->second.front());
      it->second.pop_front();
      --size_;
      int weight = weight_ ? std::max(1, weight_(tenant)) : 1;
      if (it->second.empty()) {
        queues_.erase(it);
        ring_.pop_front();
        served_ = 0;
      } else if (++served_ >= weight) {
        ring_.push_back(std::move(ring_.front()));  // its turn comes again after the others
        ring_.pop_front();
        served_ = 0;
      }
      return item;
    }
  }

  // Takes every item of one tenant out (in order).
  std::deque<T> TakeTenant(const std::string& tenant) {
    std::deque<T> out;
    auto it = queues_.find(tenant);
    if (it == queues_.end()) return out;
    out = std::move(it->second);
    queues_.erase(it);
    size_ -= out.size();
    auto r = std::find(ring_.begin(), ring_.end(), tenant);
    if (r != ring_.end()) {
      if (r == ring_.begin()) served_ = 0;
      ring_.erase(r);
    }
    return out;
  }

  void Clear() {
    queues_.clear();
    ring_.clear();
    size_ = 0;
    served_ = 0;
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
  int served_ = 0;  // items served in the current turn of ring_.front()
  std::function<int(const std::string&)> weight_;
};

}  // namespace mp
