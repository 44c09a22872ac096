#include "smtp/dot_stuff.h"

namespace mp::smtp {

void DotStuffer::Feed(std::string_view piece, std::string& out) {
  out.reserve(out.size() + piece.size() + piece.size() / 64 + 8);
  for (char c : piece) {
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
