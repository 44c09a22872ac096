#include "smtp/data_reader.h"

#include <algorithm>
#include <cstring>

namespace mp::smtp {
namespace {

// Length of the run at the start of bytes that holds neither CR nor LF.
size_t PlainRun(std::string_view bytes) {
  const void* cr = std::memchr(bytes.data(), '\r', bytes.size());
  const void* lf = std::memchr(bytes.data(), '\n', bytes.size());
  size_t n = bytes.size();
  if (cr) n = static_cast<const char*>(cr) - bytes.data();
  if (lf) n = std::min<size_t>(n, static_cast<const char*>(lf) - bytes.data());
  return n;
}

}  // namespace

void DataReader::Append(char c) {
  ++size_;
  if (size_ > max_bytes_) {
    too_large_ = true;
    return;
  }
  message_.push_back(c);
}

size_t DataReader::Feed(std::string_view bytes) {
  size_t i = 0;
  for (; i < bytes.size() && !done_; ++i) {
    if (state_ == 0) {
      // Mid-line: copy up to the next CR or LF in one piece (the common case, by far).
      size_t n = PlainRun(bytes.substr(i));
      if (n > 0) {
        size_t keep = size_ >= max_bytes_ ? 0 : std::min<uint64_t>(n, max_bytes_ - size_);
        message_.append(bytes.data() + i, keep);
        size_ += n;
        if (size_ > max_bytes_) too_large_ = true;
        i += n;
        if (i == bytes.size()) break;
      }
    }
    char c = bytes[i];
    switch (state_) {
      case 3:  // "." at a line start
        if (c == '\r') {
          state_ = 4;
          continue;
        }
        state_ = 0;       // a stuffed dot: drop it, then treat c as the line's first character
        if (c == '\n') {  // bare LF: kept and flagged, and never a line start for end of data
          bare_lf_ = true;
          Append('\n');
          continue;
        }
        Append(c);
        continue;
      case 4:  // "." CR at a line start
        if (c == '\n') {
          done_ = true;
          continue;
        }
        Append('\r');  // ".\r" then something else: the dot was stuffing, the CR is data
        state_ = 1;
        [[fallthrough]];
      default:
        break;
    }
    if (state_ == 1) {  // after CR
      if (c == '\n') {
        Append('\n');
        state_ = 2;
        continue;
      }
      state_ = 0;
    }
    if (c == '.' && state_ == 2) {
      state_ = 3;
      continue;
    }
    if (c == '\r') {
      Append('\r');
      state_ = 1;
      continue;
    }
    if (c == '\n') {  // a LF without CR: kept, flagged, and not a line start for end of data
      bare_lf_ = true;
      Append('\n');
      state_ = 0;
      continue;
    }
    Append(c);
    state_ = 0;
  }
  return i;
}

}  // namespace mp::smtp
