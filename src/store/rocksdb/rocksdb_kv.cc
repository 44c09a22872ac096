// RocksDB backend of KvStore. RocksDB headers stay in this file.
//
// One database, one column family per Column, one shared write-ahead log: a batch that touches
// several columns (envelope, body, queue index, idempotency record) is atomic and costs one sync.
// A dedicated writer thread does group commit: it takes every batch waiting (up to
// group_commit_max_writes), writes them as one rocksdb::WriteBatch with sync=true, then runs the
// callbacks.
#include <rocksdb/cache.h>
#include <rocksdb/compaction_filter.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "core/config.h"
#include "core/log.h"
#include "core/metrics.h"
#include "store/event_log.h"
#include "store/kv.h"

namespace mp {
namespace {

// Drops event log records older than their tenant's retention as compaction meets them, so old
// events go away without a sweeper (docs/formats/spool.md).
class LogRetentionFilter final : public rocksdb::CompactionFilter {
 public:
  using Cutoff = std::function<int64_t(std::string_view tenant)>;
  bool Filter(int, const rocksdb::Slice& key, const rocksdb::Slice& value, std::string*,
              bool*) const override {
    std::shared_ptr<const Cutoff> cutoff = std::atomic_load(&cutoff_);
    if (!cutoff || !*cutoff) return false;
    return LogKeyExpired(std::string_view(key.data(), key.size()),
                         std::string_view(value.data(), value.size()), *cutoff);
  }
  const char* Name() const override { return "mailplane.LogRetention"; }
  void Set(Cutoff cutoff) {
    std::atomic_store(&cutoff_, std::make_shared<const Cutoff>(std::move(cutoff)));
  }

 private:
  std::shared_ptr<const Cutoff> cutoff_;
};

// The log column's keys arrive in order within a prefix (a tenant's event stream; the timelines,
// keyed by message ids that start with their time): RocksDB keeps
// the memtable position of the last insert of each prefix and starts the next insert there, so
// the skip list search of a stream append is a step or two instead of a descent from the top.
class LogOrderedPrefix final : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "mailplane.LogOrderedPrefix"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    return {key.data(), LogKeyOrderedPrefix({key.data(), key.size()})};
  }
  bool InDomain(const rocksdb::Slice& key) const override {
    return LogKeyOrderedPrefix({key.data(), key.size()}) > 0;
  }
};

// Bytes of queued writes beyond which Commit() refuses with kOverloaded (backpressure), and the
// most bytes folded into one synced write.
constexpr size_t kMaxPendingBytes = size_t{1} << 30;
constexpr size_t kMaxGroupBytes = size_t{64} << 20;

class RocksDbStore final : public KvStore {
 public:
  RocksDbStore(const SpoolConfig& config) : config_(config) {}

  ~RocksDbStore() override {
    Close();
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
    handles_.clear();
    db_.reset();
  }

  Status Open(const std::string& dir) {
    rocksdb::Options options;
    options.create_if_missing = true;
    options.create_missing_column_families = true;
    options.IncreaseParallelism(2);
    options.max_total_wal_size = 256ull << 20;
    options.bytes_per_sync = 1 << 20;
    options.max_open_files = 512;
    options.max_subcompactions = 2;

    rocksdb::BlockBasedTableOptions table;
    table.block_cache = rocksdb::NewLRUCache(static_cast<size_t>(config_.block_cache_mb) << 20);
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    rocksdb::ColumnFamilyOptions cf;
    cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    cf.write_buffer_size = 64ull << 20;

    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    cfs.emplace_back(rocksdb::kDefaultColumnFamilyName, cf);
    for (int i = 0; i < kColumnCount; ++i) {
      rocksdb::ColumnFamilyOptions o = cf;
      if (static_cast<Column>(i) == Column::kBody) {
        // Large bodies go to blob files so compaction does not rewrite them.
        o.enable_blob_files = true;
        o.min_blob_size = 8192;
      }
      if (static_cast<Column>(i) == Column::kLog) {
        o.compaction_filter = &log_filter_;
        o.memtable_insert_with_hint_prefix_extractor = std::make_shared<LogOrderedPrefix>();
        o.compression = rocksdb::kLZ4Compression;
        o.write_buffer_size = 128ull << 20;
        o.max_bytes_for_level_base = 512ull << 20;
      }
      cfs.emplace_back(std::string(ColumnName(static_cast<Column>(i))), o);
    }
    rocksdb::DB* db = nullptr;
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::Status s = rocksdb::DB::Open(options, dir, cfs, &handles, &db);
    if (!s.ok())
      return MakeError(Code::kStorage, "cannot open store in " + dir + ": " + s.ToString());
    db_.reset(db);
    db_->DestroyColumnFamilyHandle(handles[0]);  // default family is unused
    handles_.assign(handles.begin() + 1, handles.end());
    writer_ = std::thread([this] { WriterLoop(); });
    return Status::Ok();
  }

  void Commit(WriteBatch batch, Done done) override {
    {
      std::unique_lock lock(mu_);
      if (closing_) {
        lock.unlock();
        done(MakeError(Code::kShuttingDown, "store is closing"));
        return;
      }
      size_t bytes = batch.ByteSize();
      if (pending_.size() >= static_cast<size_t>(config_.max_pending_writes) ||
          (pending_bytes_ + bytes > kMaxPendingBytes && !pending_.empty())) {
        lock.unlock();
        done(MakeError(Code::kOverloaded, "too many writes waiting for the disk"));
        return;
      }
      pending_bytes_ += bytes;
      pending_.push_back({std::move(batch), std::move(done)});
    }
    cv_.notify_one();
  }

  Result<std::optional<std::string>> Get(Column column, std::string_view key) override {
    std::string value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), Handle(column),
                                 rocksdb::Slice(key.data(), key.size()), &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    if (!s.ok()) return MakeError(Code::kStorage, s.ToString());
    return std::optional<std::string>(std::move(value));
  }

  Status Scan(Column column, std::string_view prefix,
              const std::function<bool(std::string_view, std::string_view)>& fn) override {
    rocksdb::ReadOptions ro;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, Handle(column)));
    for (it->Seek(rocksdb::Slice(prefix.data(), prefix.size())); it->Valid(); it->Next()) {
      rocksdb::Slice k = it->key();
      if (!k.starts_with(rocksdb::Slice(prefix.data(), prefix.size()))) break;
      rocksdb::Slice v = it->value();
      if (!fn({k.data(), k.size()}, {v.data(), v.size()})) break;
    }
    if (!it->status().ok()) return MakeError(Code::kStorage, it->status().ToString());
    return Status::Ok();
  }

  Status ScanRange(Column column, std::string_view from, std::string_view to,
                   const std::function<bool(std::string_view, std::string_view)>& fn) override {
    rocksdb::ReadOptions ro;
    rocksdb::Slice upper(to.data(), to.size());
    ro.iterate_upper_bound = &upper;  // stops early, without walking tombstones past `to`
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, Handle(column)));
    for (it->Seek(rocksdb::Slice(from.data(), from.size())); it->Valid(); it->Next()) {
      rocksdb::Slice k = it->key();
      rocksdb::Slice v = it->value();
      if (!fn({k.data(), k.size()}, {v.data(), v.size()})) break;
    }
    if (!it->status().ok()) return MakeError(Code::kStorage, it->status().ToString());
    return Status::Ok();
  }

  void SetLogRetention(std::function<int64_t(std::string_view tenant)> cutoff) override {
    log_filter_.Set(std::move(cutoff));
  }

  Status Compact(Column column) override {
    rocksdb::CompactRangeOptions o;
    o.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    rocksdb::Status s = db_->CompactRange(o, Handle(column), nullptr, nullptr);
    if (!s.ok()) return MakeError(Code::kStorage, s.ToString());
    return Status::Ok();
  }

  StoreStats Stats() override {
    StoreStats st;
    uint64_t v = 0;
    for (auto* h : handles_) {
      if (db_->GetIntProperty(h, "rocksdb.live-sst-files-size", &v)) st.disk_bytes += v;
      if (db_->GetIntProperty(h, "rocksdb.live-blob-file-size", &v)) st.disk_bytes += v;
      if (db_->GetIntProperty(h, "rocksdb.cur-size-all-mem-tables", &v)) st.memtable_bytes += v;
    }
    if (db_->GetIntProperty(Handle(Column::kEnvelope), "rocksdb.estimate-num-keys", &v)) {
      st.envelope_keys = v;
    }
    uint64_t wal = 0;
    if (db_->GetIntProperty("rocksdb.total-wal-size", &wal)) st.disk_bytes += wal;
    return st;
  }

  void Close() override {
    {
      std::lock_guard lock(mu_);
      if (closing_) return;
      closing_ = true;
    }
    cv_.notify_one();
    if (writer_.joinable()) writer_.join();
    if (db_) {
      rocksdb::Status s = db_->FlushWAL(true);
      if (!s.ok()) log::Error("store.flush_wal_failed", {{"reason", s.ToString()}});
    }
  }

 private:
  struct Pending {
    WriteBatch batch;
    Done done;
  };

  rocksdb::ColumnFamilyHandle* Handle(Column c) { return handles_[static_cast<size_t>(c)]; }

  void WriterLoop() {
    Histogram& sync_latency = Metrics::Global().GetHistogram(
        "mailplane_spool_sync_seconds", "Time of one group-commit write with sync",
        {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1});
    Histogram& group_size = Metrics::Global().GetHistogram(
        "mailplane_spool_group_commit_writes", "Batches folded into one synced write",
        {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096});
    std::vector<Pending> work;
    size_t group_bytes = 0;
    for (;;) {
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [this] { return closing_ || !pending_.empty(); });
        if (pending_.empty()) return;  // closing and drained
        // A group ends at group_commit_max_writes batches or kMaxGroupBytes, whichever comes
        // first (always at least one batch), so one sync never carries an unbounded write.
        size_t n = std::min(pending_.size(), static_cast<size_t>(config_.group_commit_max_writes));
        group_bytes = 0;
        work.clear();
        for (size_t i = 0; i < n; ++i) {
          size_t b = pending_.front().batch.ByteSize();
          if (!work.empty() && group_bytes + b > kMaxGroupBytes) break;
          group_bytes += b;
          pending_bytes_ -= b;
          work.push_back(std::move(pending_.front()));
          pending_.pop_front();
        }
      }
      // Reserved at once: a group can be tens of megabytes, and growing by doubling copies it.
      rocksdb::WriteBatch wb(group_bytes + group_bytes / 8 + 64);
      for (Pending& p : work) {
        last_stamp_ = p.batch.ApplyStamps(last_stamp_);  // in commit order: see kv.h
        for (const WriteBatch::Op& op : p.batch.ops()) {
          if (op.erase) {
            wb.Delete(Handle(op.column), op.key);
          } else {
            wb.Put(Handle(op.column), op.key, op.value);
          }
        }
      }
      rocksdb::WriteOptions wo;
      wo.sync = config_.sync;
      auto start = std::chrono::steady_clock::now();
      rocksdb::Status s = db_->Write(wo, &wb);
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      sync_latency.Observe(secs);
      group_size.Observe(static_cast<double>(work.size()));
      Status result;
      if (!s.ok()) {
        log::Error("store.write_failed", {{"reason", s.ToString()}});
        result = MakeError(Code::kStorage, "write failed: " + s.ToString());
      }
      for (Pending& p : work) p.done(result);
      work.clear();
    }
  }

  SpoolConfig config_;
  LogRetentionFilter log_filter_;  // before db_: the database uses it until it is closed
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> pending_;
  size_t pending_bytes_ = 0;  // ByteSize() of everything in pending_
  bool closing_ = false;
  uint64_t last_stamp_ = 0;  // writer thread only
  std::thread writer_;
};

}  // namespace

Result<std::unique_ptr<KvStore>> OpenRocksDbStore(const std::string& dir,
                                                  const SpoolConfig& config) {
  auto store = std::make_unique<RocksDbStore>(config);
  Status s = store->Open(dir);
  if (!s.ok()) return s.error();
  return std::unique_ptr<KvStore>(std::move(store));
}

}  // namespace mp
