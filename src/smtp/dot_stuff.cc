#include "smtp/dot_stuff.h"

#include <algorithm>
#include <cstring>

namespace mp::smtp {

void DotStuffer::Feed(std::string_view piece, std::string& out) {
  out.reserve(out.size() + piece.size() + piece.size() / 64 + 8);
  for (size_t i = 0; i < piece.size(); ++i) {
    if (!pending_cr_ && !at_line_start_) {
      // Mid-line: copy up to the next CR or LF in one piece.
      std::string_view rest = piece.substr(i);
      const void* cr = std::memchr(rest.data(), '\r', rest.size());
      const void* lf = std::memchr(rest.data(), '\n', rest.size());
      size_t n = rest.size();
      if (cr) n = static_cast<const char*>(cr) - rest.data();
      if (lf) n = std::min<size_t>(n, static_cast<const char*>(lf) - rest.data());
      out.append(rest.data(), n);
      i += n;
      if (i == piece.size()) break;
    }
    char c = piece[i];
    if (pending_cr_) {
      pending_cr_ = false;
      out.append("\r\n");  // CRLF, or a bare CR made into one
      at_line_start_ = true;
      if (c == '\n') continue;
    }
    if (c == '\r') {
      pending_cr_ = true;
      continue;
    }
    if (c == '\n') {
      out.append("\r\n");
      at_line_start_ = true;
      continue;
    }
    if (at_line_start_ && c == '.') out.push_back('.');
    at_line_start_ = false;
    out.push_back(c);
  }
}

void DotStuffer::Finish(std::string& out) {
  if (pending_cr_) {
    pending_cr_ = false;
    out.append("\r\n");
    at_line_start_ = true;
  }
  if (!at_line_start_) out.append("\r\n");
  out.append(".\r\n");
  at_line_start_ = true;
}

std::string DotStuffer::Stuff(std::string_view message) {
  DotStuffer s;
  std::string out;
  s.Feed(message, out);
  s.Finish(out);
  return out;
}

}  // namespace mp::smtp
