// SMTP replies (RFC 5321 section 4.2) and enhanced status codes (RFC 3463), protocol only.
//
// ReplyParser is fed raw bytes from a server as they arrive and yields complete replies: one or
// more lines "NNN-text" ending with "NNN text" (or "NNN"), all with the same code. The enhanced
// code ("5.1.1") is taken from the first line's text whether or not the server advertised
// ENHANCEDSTATUSCODES, and kept even when its class differs from the basic code (Gmail answers
// "421 5.7.32"): the basic code decides retry or fail, the enhanced code the category.
// SECURITY: parses untrusted server output. Limits: 2,048 octets a line (RFC 5321 allows 512; real
// servers exceed it), 100 lines a reply; anything else is a protocol error, never a crash.
// Thread-safety: none; one parser per connection.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace mp::smtp {

struct EnhancedCode {
  int klass = 0;    // 2, 4 or 5
  int subject = 0;  // 0..999
  int detail = 0;   // 0..999
  std::string ToString() const;
  auto operator<=>(const EnhancedCode&) const = default;
};

struct Reply {
  int code = 0;  // 200..599
  std::optional<EnhancedCode> enhanced;
  std::vector<std::string> lines;  // text of each line, code, separator and enhanced code removed

  bool Positive() const { return code >= 200 && code < 400; }
  bool Transient() const { return code >= 400 && code < 500; }
  bool Permanent() const { return code >= 500; }
  // "550 5.1.1 text text" on one line, for logs and events.
  std::string Summary() const;
};

// Parses "x.y.z" at the start of text; returns it and how many characters it took (with the
// following space), or nullopt.
std::optional<EnhancedCode> ParseEnhancedCode(std::string_view text, size_t* consumed);

class ReplyParser {
 public:
  static constexpr size_t kMaxLine = 2048;
  static constexpr size_t kMaxLines = 100;

  // Appends bytes received from the server.
  void Feed(std::string_view bytes);
  // The next complete reply, nullopt if more bytes are needed, or an Error (kBadRequest) if the
  // server broke the protocol; after an error the parser stays failed.
  Result<std::optional<Reply>> Next();

 private:
  std::string buffer_;
  size_t pos_ = 0;
  Reply partial_;
  bool in_reply_ = false;
  std::optional<Error> failed_;
};

}  // namespace mp::smtp
