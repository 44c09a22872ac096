// TtlCache: a bounded map whose entries expire at a given time; the resolver's answer cache.
//
// Bounded by max_entries: every Put drops a few expired entries from the oldest end, and a Put into
// a full cache drops the oldest entry. Expired entries are also dropped when a Get finds them.
// Times are the caller's (milliseconds from an injected Clock), so tests control expiry.
// Thread-safety: none; the owner locks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>
#include <unordered_map>
#include <utility>

namespace mp::net {

template <typename Key, typename Value>
class TtlCache {
 public:
  explicit TtlCache(size_t max_entries) : max_entries_(max_entries) {}

  // The value for key if there is one that has not expired at now_ms.
  std::optional<Value> Get(const Key& key, int64_t now_ms) {
    auto it = map_.find(key);
    if (it == map_.end()) return std::nullopt;
    if (it->second.expires_ms <= now_ms) {
      Erase(it);
      return std::nullopt;
    }
    return it->second.value;
  }

  // Stores value until expires_ms, replacing an entry for the same key. No-op if max_entries is 0
  // or the entry would already have expired at now_ms.
  void Put(const Key& key, Value value, int64_t expires_ms, int64_t now_ms) {
    if (max_entries_ == 0 || expires_ms <= now_ms) return;
    if (auto it = map_.find(key); it != map_.end()) Erase(it);
    // A little cleaning on every insertion keeps expired entries from piling up at the old end.
    DropExpired(now_ms, kDropPerPut);
    while (map_.size() >= max_entries_) Erase(map_.find(order_.front()));
    order_.push_back(key);
    map_.emplace(key, Entry{std::move(value), expires_ms, std::prev(order_.end())});
  }

  // Drops entries at the oldest end that have expired at now_ms; returns how many.
  size_t DropExpired(int64_t now_ms, size_t at_most) {
    size_t dropped = 0;
    while (dropped < at_most && !order_.empty()) {
      auto oldest = map_.find(order_.front());
      if (oldest->second.expires_ms > now_ms) break;
      Erase(oldest);
      ++dropped;
    }
    return dropped;
  }

  size_t size() const { return map_.size(); }

 private:
  static constexpr size_t kDropPerPut = 4;
  struct Entry {
    Value value;
    int64_t expires_ms;
    typename std::list<Key>::iterator order;
  };
  using Map = std::unordered_map<Key, Entry>;

  void Erase(typename Map::iterator it) {
    order_.erase(it->second.order);
    map_.erase(it);
  }

  size_t max_entries_;
  Map map_;
  std::list<Key> order_;  // insertion order, oldest first
};

}  // namespace mp::net
