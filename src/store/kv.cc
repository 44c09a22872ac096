#include "store/kv.h"

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
