#include "smtp/data_reader.h"

namespace mp::smtp {

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
