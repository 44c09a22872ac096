// KvStore: the ordered key-value contract every storage backend implements (RocksDB now,
// PostgreSQL later), with durable group commit.
//
// Data is split into columns (RocksDB column families). Writes are batched: Commit() queues a
// batch and returns at once; a single writer folds every batch waiting at that moment into one
// write with one sync, then calls each batch's callback. So durability costs one disk flush per
// group, not per message. A callback is called exactly once, with Ok only after the batch is on
// disk. Reads see every committed batch.
// Thread-safety: all methods are safe from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace mp {

struct SpoolConfig;

enum class Column : uint8_t {
  kEnvelope = 0,  // message envelope and per-recipient state
  kBody,          // message bodies (RFC 5322 bytes)
  kQueue,         // due-time index of messages waiting for delivery
  kState,         // tenants and API keys
  kIdempotency,   // Idempotency-Key records
  kLog,           // the event log (event_log.h)
};
inline constexpr int kColumnCount = 6;
std::string_view ColumnName(Column c);

class WriteBatch {
 public:
  struct Op {
    Column column;
    bool erase;
    std::string key;
    std::string value;
    // Where the batch's commit stamp goes (8 bytes, u64 big-endian), -1 for nowhere.
    int32_t stamp_key_at = -1;
    int32_t stamp_value_at = -1;
  };
  void Put(Column c, std::string key, std::string value) {
    ops_.push_back({c, false, std::move(key), std::move(value)});
  }
  void Delete(Column c, std::string key) { ops_.push_back({c, true, std::move(key), {}}); }
  // A put that carries a commit stamp in its key (at key_at) and/or value (at value_at): the
  // store overwrites those 8 bytes (u64 big-endian) when it commits the batch. What they hold
  // before is a floor: the stamp is never below it. A put with key_at >= 0 draws a new stamp;
  // one with only value_at takes the stamp of the batch's previous stamped put (so an index entry
  // can point at the record just put). Stamps are strictly increasing in commit order within
  // one open store: a reader that has seen stamp S has seen every stamped write below S (the
  // event log's cursors rely on it, so they never skip a batch that took long to commit).
  void PutStamped(Column c, std::string key, std::string value, int32_t key_at, int32_t value_at) {
    ops_.push_back({c, false, std::move(key), std::move(value), key_at, value_at});
  }
  const std::vector<Op>& ops() const { return ops_; }
  // For stores, in commit order: stamps the stamped puts, the first above last; returns the
  // last stamp given (last when there was none).
  uint64_t ApplyStamps(uint64_t last);
  bool empty() const { return ops_.empty(); }
  size_t ByteSize() const;

 private:
  std::vector<Op> ops_;
};

struct StoreStats {
  uint64_t disk_bytes = 0;      // on-disk size (SST files and WAL)
  uint64_t memtable_bytes = 0;  // unflushed data in memory
  uint64_t envelope_keys = 0;   // estimated number of envelopes
};

class KvStore {
 public:
  using Done = std::function<void(Status)>;
  virtual ~KvStore() = default;

  // Queues batch for the next group commit. done runs once: on the writer thread after the sync,
  // or on the calling thread with kOverloaded (too many writes waiting) or kShuttingDown.
  virtual void Commit(WriteBatch batch, Done done) = 0;
  // Commit and wait (start-up, CLI, tests; never on an I/O thread).
  Status CommitAndWait(WriteBatch batch);

  virtual Result<std::optional<std::string>> Get(Column column, std::string_view key) = 0;
  // Calls fn for each key with the prefix, in key order, until fn returns false.
  virtual Status Scan(
      Column column, std::string_view prefix,
      const std::function<bool(std::string_view key, std::string_view value)>& fn) = 0;
  // Calls fn for each key in [from, to) in key order, until fn returns false.
  virtual Status ScanRange(
      Column column, std::string_view from, std::string_view to,
      const std::function<bool(std::string_view key, std::string_view value)>& fn) = 0;
  virtual StoreStats Stats() = 0;
  // Event log retention: compaction drops log records of a tenant older than cutoff(tenant) ms
  // (0 = keep). Safe to call at any time; compactions after the call use it.
  virtual void SetLogRetention(std::function<int64_t(std::string_view tenant)> cutoff) = 0;
  // Compacts a whole column now (tests and maintenance; it rewrites the column's files).
  virtual Status Compact(Column column) = 0;
  // Finishes every queued commit, then stops the writer. Later commits fail with kShuttingDown.
  virtual void Close() = 0;
};

// Opens (creating if needed) the RocksDB store in dir. Fails with kStorage and RocksDB's reason,
// for example when another process holds the directory's lock.
Result<std::unique_ptr<KvStore>> OpenRocksDbStore(const std::string& dir,
                                                  const SpoolConfig& config);

// Big-endian fixed-width encodings used in keys, so byte order is numeric order.
void AppendU64BE(std::string& out, uint64_t v);
uint64_t ReadU64BE(std::string_view in);

}  // namespace mp
