#include "store/kv.h"

#include <algorithm>
#include <future>

namespace mp {

std::string_view ColumnName(Column c) {
  switch (c) {
    case Column::kEnvelope:
      return "envelope";
    case Column::kBody:
      return "body";
    case Column::kQueue:
      return "queue";
    case Column::kState:
      return "state";
    case Column::kIdempotency:
      return "idempotency";
    case Column::kLog:
      return "log";
  }
  return "unknown";
}

size_t WriteBatch::ByteSize() const {
  size_t n = 0;
  for (const Op& op : ops_) n += op.key.size() + op.value.size() + 8;
  return n;
}

uint64_t WriteBatch::ApplyStamps(uint64_t last) {
  auto fits = [](const std::string& s, int32_t at) {
    return at >= 0 && static_cast<size_t>(at) + 8 <= s.size();
  };
  bool drawn = false;
  for (Op& op : ops_) {
    bool key = fits(op.key, op.stamp_key_at), value = fits(op.value, op.stamp_value_at);
    if (!key && !value) continue;
    if (key || !drawn) {
      uint64_t stamp = last + 1;
      if (key)
        stamp = std::max(stamp, ReadU64BE(std::string_view(op.key).substr(op.stamp_key_at, 8)));
      if (value) {
        stamp = std::max(stamp, ReadU64BE(std::string_view(op.value).substr(op.stamp_value_at, 8)));
      }
      last = stamp;
      drawn = true;
    }
    std::string be;
    AppendU64BE(be, last);
    if (key) op.key.replace(static_cast<size_t>(op.stamp_key_at), 8, be);
    if (value) op.value.replace(static_cast<size_t>(op.stamp_value_at), 8, be);
  }
  return last;
}

Status KvStore::CommitAndWait(WriteBatch batch) {
  std::promise<Status> p;
  auto f = p.get_future();
  Commit(std::move(batch), [&p](Status s) { p.set_value(std::move(s)); });
  return f.get();
}

void AppendU64BE(std::string& out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((v >> (i * 8)) & 0xff));
}

uint64_t ReadU64BE(std::string_view in) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < in.size(); ++i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

}  // namespace mp
