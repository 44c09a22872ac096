#include "smtp/command.h"

#include <cctype>

namespace mp::smtp {
namespace {

ParsedCommand Reject(int code, std::string text) {
  ParsedCommand p;
  p.reply_code = code;
  p.reply_text = std::move(text);
  return p;
}

bool IEqualsPrefix(std::string_view s, std::string_view upper_prefix) {
  if (s.size() < upper_prefix.size()) return false;
  for (size_t i = 0; i < upper_prefix.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(s[i])) != upper_prefix[i]) return false;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// "<" [source-route ":"] mailbox ">" then parameters. null_ok: "<>" is allowed (MAIL).
ParsedCommand PathAndParams(Command cmd, std::string_view rest, bool null_ok) {
  rest = Trim(rest);
  if (rest.empty() || rest.front() != '<')
    return Reject(501, "5.5.4 Syntax: the path must be in <>");
  size_t close = rest.find('>');
  if (close == std::string_view::npos) return Reject(501, "5.5.4 Syntax: the path has no '>'");
  std::string_view path = rest.substr(1, close - 1);
  if (!path.empty() && path.front() == '@') {  // obsolete source route: ignored (RFC 5321 C)
    size_t colon = path.find(':');
    if (colon == std::string_view::npos) return Reject(501, "5.1.3 Bad source route");
    path.remove_prefix(colon + 1);
  }
  if (path.empty() && !null_ok) return Reject(501, "5.1.3 An empty recipient is not allowed");
  if (path.size() > 256) return Reject(501, "5.1.3 Path longer than 256 octets");
  for (unsigned char c : path) {
    if (c <= ' ' || c == 0x7f || c == '<' || c == '>') {
      return Reject(501, "5.1.3 Bad character in the address");
    }
  }
  if (!path.empty() && path.find('@') == std::string_view::npos) {
    bool postmaster = path.size() == 10 && IEqualsPrefix(path, "POSTMASTER");
    if (!postmaster) return Reject(501, "5.1.3 The address has no domain");
  }
  cmd.path = std::string(path);
  std::string_view params = rest.substr(close + 1);
  if (!params.empty() && params.front() != ' ') {
    return Reject(501, "5.5.4 Syntax: a space must follow the path");
  }
  params = Trim(params);
  while (!params.empty()) {
    size_t sp = params.find(' ');
    std::string_view p = params.substr(0, sp);
    params = sp == std::string_view::npos ? std::string_view() : Trim(params.substr(sp));
    if (cmd.params.size() >= 16) return Reject(501, "5.5.4 Too many parameters");
    size_t eq = p.find('=');
    std::string key(p.substr(0, eq));
    if (key.empty()) return Reject(501, "5.5.4 Syntax: empty parameter name");
    for (char& c : key) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') {
        return Reject(501, "5.5.4 Syntax: bad parameter name");
      }
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    std::string value =
        eq == std::string_view::npos ? std::string() : std::string(p.substr(eq + 1));
    for (unsigned char c : value) {
      if (c < 33 || c == '=' || c == 0x7f) return Reject(501, "5.5.4 Syntax: bad parameter value");
    }
    cmd.params.emplace_back(std::move(key), std::move(value));
  }
  ParsedCommand out;
  out.command = std::move(cmd);
  return out;
}

}  // namespace

ParsedCommand ParseCommand(std::string_view line) {
  if (line.size() > kMaxCommandLine) return Reject(500, "5.5.6 Line too long");
  for (unsigned char c : line) {
    if (c == '\0' || c == '\r' || c == '\n') return Reject(500, "5.5.2 Bad character in command");
  }
  struct VerbName {
    std::string_view name;
    Verb verb;
  };
  static constexpr VerbName kVerbs[] = {
      {"HELO", Verb::kHelo}, {"EHLO", Verb::kEhlo},         {"MAIL", Verb::kMail},
      {"RCPT", Verb::kRcpt}, {"DATA", Verb::kData},         {"BDAT", Verb::kBdat},
      {"RSET", Verb::kRset}, {"NOOP", Verb::kNoop},         {"QUIT", Verb::kQuit},
      {"VRFY", Verb::kVrfy}, {"STARTTLS", Verb::kStartTls}, {"AUTH", Verb::kAuth},
      {"HELP", Verb::kHelp}};
  size_t sp = line.find(' ');
  std::string_view word = line.substr(0, sp);
  std::string_view rest = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
  Command cmd;
  bool known = false;
  for (const VerbName& v : kVerbs) {
    if (word.size() == v.name.size() && IEqualsPrefix(word, v.name)) {
      cmd.verb = v.verb;
      known = true;
    }
  }
  if (!known) return Reject(500, "5.5.2 Command not recognized");
  switch (cmd.verb) {
    case Verb::kMail:
      if (!IEqualsPrefix(rest, "FROM:")) return Reject(501, "5.5.4 Syntax: MAIL FROM:<address>");
      return PathAndParams(std::move(cmd), rest.substr(5), true);
    case Verb::kRcpt:
      if (!IEqualsPrefix(rest, "TO:")) return Reject(501, "5.5.4 Syntax: RCPT TO:<address>");
      return PathAndParams(std::move(cmd), rest.substr(3), false);
    case Verb::kHelo:
    case Verb::kEhlo:
      rest = Trim(rest);
      if (rest.empty() || rest.find(' ') != std::string_view::npos) {
        return Reject(501, "5.5.4 Syntax: EHLO domain or address literal");
      }
      break;
    case Verb::kData:
    case Verb::kRset:
    case Verb::kQuit:
    case Verb::kStartTls:
      if (!Trim(rest).empty()) return Reject(501, "5.5.4 Syntax: no parameters allowed");
      break;
    case Verb::kAuth:
    case Verb::kBdat:
      if (Trim(rest).empty()) return Reject(501, "5.5.4 Syntax: an argument is required");
      break;
    default:
      break;
  }
  cmd.argument = std::string(Trim(rest));
  ParsedCommand out;
  out.command = std::move(cmd);
  return out;
}

}  // namespace mp::smtp
