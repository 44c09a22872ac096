// SMTP commands as a server receives them (RFC 5321 section 4.1), protocol only: one command line
// (without its CRLF) -> verb, path, ESMTP parameters; or the reply to send when it is malformed.
// Shared by `mailplane sink` and the submission listener.
// SECURITY: parses untrusted client input. Limits: 1,000 octets a line (RFC 5321 allows 512 plus
// extension parameters), 256 octets a path, 16 parameters. Paths are only checked for shape here;
// the session validates addresses with its own rules.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mp::smtp {

enum class Verb {
  kHelo,
  kEhlo,
  kMail,
  kRcpt,
  kData,
  kBdat,
  kRset,
  kNoop,
  kQuit,
  kVrfy,
  kStartTls,
  kAuth,
  kHelp
};

struct Command {
  Verb verb = Verb::kNoop;
  std::string argument;  // HELO/EHLO domain, AUTH mechanism and response, VRFY/HELP/NOOP text
  std::string path;      // MAIL/RCPT: the address inside <>, source route removed ("" for <>)
  std::vector<std::pair<std::string, std::string>> params;  // keys upper-case; value may be ""
};

struct ParsedCommand {
  std::optional<Command> command;
  int reply_code = 0;      // when command is empty: 500 (unknown or too long) or 501 (syntax)
  std::string reply_text;  // "5.5.2 ..." text for that reply
};

inline constexpr size_t kMaxCommandLine = 1000;

ParsedCommand ParseCommand(std::string_view line);

}  // namespace mp::smtp
