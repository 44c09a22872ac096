// DotStuffer: a message -> the bytes of an SMTP DATA transfer (RFC 5321 sections 2.3.8 and
// 4.5.2): every line ends in CRLF (a bare LF or a bare CR becomes CRLF), a line that begins with
// "." gets another "." in front, and the transfer ends with CRLF "." CRLF. Streaming: feed the
// message in pieces of any size, a line may span pieces. Input is the stored message (it may come
// from a client's raw submission), so the normalisation also closes the SMTP smuggling gap.
// Thread-safety: none; one per transfer.
#pragma once

#include <string>
#include <string_view>

namespace mp::smtp {

class DotStuffer {
 public:
  // Appends the transformed bytes of piece to out.
  void Feed(std::string_view piece, std::string& out);
  // Ends the transfer: a final CRLF if the message did not end with one, then ".\r\n".
  void Finish(std::string& out);

  // The whole transformation of one message at once.
  static std::string Stuff(std::string_view message);

 private:
  bool at_line_start_ = true;
  bool pending_cr_ = false;  // a CR was the last byte seen: CRLF if an LF follows, else bare CR
};

}  // namespace mp::smtp
