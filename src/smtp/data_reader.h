// DataReader: the server side of DATA (RFC 5321 section 4.5.2): bytes from the client -> the
// message, dot-unstuffed, up to the end-of-data line. Streaming: feed pieces of any size.
//
// Only CRLF "." CRLF ends the data. A lone LF is kept as it is but flagged (BareLineFeed()), so the
// session can refuse the message (Postfix's smtpd_forbid_bare_newline): "\n.\n" is never an end of
// data, which closes the SMTP smuggling gap. Past max_bytes the reader keeps consuming until the
// end of data but stores nothing more, so the session can answer 552 at the right moment.
// SECURITY: sees untrusted client bytes; memory is bounded by max_bytes.
// Thread-safety: none; one per transaction.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace mp::smtp {

class DataReader {
 public:
  explicit DataReader(uint64_t max_bytes) : max_bytes_(max_bytes) {}

  // Consumes bytes; returns how many were used. Fewer than given means the end of data was found
  // and the rest belongs to the next command (pipelining).
  size_t Feed(std::string_view bytes);

  bool Done() const { return done_; }
  bool TooLarge() const { return too_large_; }
  bool BareLineFeed() const { return bare_lf_; }
  // The message (CRLF line ends as sent, dots unstuffed), valid when Done() and !TooLarge().
  std::string& Message() { return message_; }
  uint64_t Size() const { return size_; }  // bytes of the message, stored or not

 private:
  void Append(char c);

  uint64_t max_bytes_;
  std::string message_;
  uint64_t size_ = 0;
  // Where we are relative to a line start: 0 mid-line, 1 after CR, 2 at a line start (after CRLF,
  // or at the very beginning), 3 a "." at a line start, 4 "." then CR.
  int state_ = 2;
  bool done_ = false, too_large_ = false, bare_lf_ = false;
};

}  // namespace mp::smtp
