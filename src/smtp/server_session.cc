#include "smtp/server_session.h"

#include <sodium.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "smtp/command.h"
#include "smtp/data_reader.h"

namespace mp::smtp {
namespace {

constexpr int kMaxErrors = 20;
constexpr size_t kReadChunk = 64 * 1024;

std::optional<std::string> DecodeBase64(std::string_view in) {
  std::string out(in.size() / 4 * 3 + 3, '\0');
  size_t len = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), in.data(),
                        in.size(), nullptr, &len, nullptr, sodium_base64_VARIANT_ORIGINAL) != 0) {
    return std::nullopt;
  }
  out.resize(len);
  return out;
}

// The address of one end of the socket as text, IPv4-mapped IPv6 as IPv4; "" when unknown.
std::string EndpointIp(tcp::socket& socket, bool remote) {
  error_code ec;
  tcp::endpoint ep = remote ? socket.remote_endpoint(ec) : socket.local_endpoint(ec);
  if (ec) return "";
  asio::ip::address a = ep.address();
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_string();
  }
  return a.to_string();
}

// The session's state and its I/O: input buffer, pending replies (flushed when the client has
// nothing more pipelined), and the transaction.
class Session {
 public:
  Session(Stream& stream, const ServerOptions& opt, ServerHandler& handler)
      : stream_(stream), opt_(opt), handler_(handler) {}

  asio::awaitable<SessionInfo> Run() {
    std::optional<ServerReply> refusal =
        handler_.OnConnect(EndpointIp(stream_.Socket(), /*remote=*/true),
                           EndpointIp(stream_.Socket(), /*remote=*/false));
    if (refusal) {
      Reply(*refusal);
      closing_ = true;
    } else {
      Reply(220, opt_.hostname + " " + opt_.banner);
    }
    while (!closing_) {
      std::optional<std::string> line;
      bool ok1 = co_await ReadLine(&line);
      if (!ok1) break;
      if (line) co_await Handle(*line);  // else an overlong line, answered and counted
      if (errors_ >= kMaxErrors) {
        Reply(421, "4.7.0 " + opt_.hostname + " too many errors, closing");
        closing_ = true;
      }
    }
    co_await Flush();
    co_await stream_.Shutdown();
    co_return info_;
  }

 private:
  void Reply(int code, std::string_view text) {
    out_.append(std::to_string(code)).push_back(' ');
    out_.append(text).append("\r\n");
  }
  // A handler's reply. RFC 5321 section 3.8: the server closes the connection after a 421.
  void Reply(const ServerReply& r) {
    Reply(r.code, r.text);
    if (r.code == 421) closing_ = true;
  }

  asio::awaitable<bool> Flush() {
    if (out_.empty()) co_return true;
    error_code ec = co_await stream_.Write(out_, opt_.timeout);
    out_.clear();
    if (ec) closing_ = true;
    co_return !ec;
  }

  // Reads more bytes; flushes pending replies first when nothing is buffered (RFC 2920 3.2: the
  // server may hold replies while more pipelined commands are waiting).
  asio::awaitable<bool> Fill() {
    bool ok2 = co_await Flush();
    if (!ok2) co_return false;
    if (pos_ > 0 && pos_ == in_.size()) {
      in_.clear();
      pos_ = 0;
    }
    size_t old = in_.size();
    in_.resize(old + kReadChunk);
    size_t got = 0;
    error_code ec = co_await stream_.ReadSome(in_.data() + old, kReadChunk, &got, opt_.timeout);
    in_.resize(old + got);
    if (ec) {
      if (ec == asio::error::operation_aborted && !timed_out_) {
        // The deadline passed (it cancels, the socket stays open): say so before closing.
        timed_out_ = true;
        Reply(421, "4.4.2 " + opt_.hostname + " timeout, closing connection");
        co_await Flush();
      }
      closing_ = true;
      co_return false;
    }
    co_return true;
  }

  // One command line without CRLF. nullopt with true: an overlong line was skipped and answered.
  asio::awaitable<bool> ReadLine(std::optional<std::string>* line) {
    bool overlong = false;
    for (;;) {
      size_t lf = in_.find('\n', pos_);
      if (lf != std::string::npos) {
        size_t end = (lf > pos_ && in_[lf - 1] == '\r') ? lf - 1 : lf;
        if (!overlong && end - pos_ <= kMaxCommandLine) {
          *line = in_.substr(pos_, end - pos_);
        } else {
          Reply(500, "5.5.2 Line too long");
          ++errors_;
          *line = std::nullopt;
        }
        pos_ = lf + 1;
        co_return true;
      }
      if (in_.size() - pos_ > kMaxCommandLine + 2) {  // drop the overlong start, keep looking
        overlong = true;
        pos_ = in_.size();
      }
      bool ok3 = co_await Fill();
      if (!ok3) co_return false;
    }
  }

  void ResetTransaction() {
    in_mail_ = false;
    from_.clear();
    rcpts_.clear();
  }

  asio::awaitable<void> Handle(const std::string& line) {
    ParsedCommand p = ParseCommand(line);
    if (!p.command) {
      Reply(p.reply_code, p.reply_text);
      ++errors_;
      co_return;
    }
    Command& c = *p.command;
    switch (c.verb) {
      case Verb::kEhlo:
      case Verb::kHelo:
        ResetTransaction();
        info_.helo = c.argument;
        greeted_ = true;
        if (c.verb == Verb::kHelo) {
          Reply(250, opt_.hostname);
        } else {
          std::vector<std::string> lines = {opt_.hostname, "PIPELINING",
                                            "SIZE " + std::to_string(opt_.max_message_bytes),
                                            "8BITMIME", "ENHANCEDSTATUSCODES"};
          if (opt_.smtputf8) lines.emplace_back("SMTPUTF8");
          if (opt_.tls && !stream_.Tls()) lines.emplace_back("STARTTLS");
          if (AuthOffered()) lines.emplace_back("AUTH PLAIN LOGIN");
          for (size_t i = 0; i < lines.size(); ++i) {
            out_.append(i + 1 < lines.size() ? "250-" : "250 ").append(lines[i]).append("\r\n");
          }
        }
        break;
      case Verb::kStartTls:
        co_await StartTls();
        break;
      case Verb::kAuth:
        co_await Auth(c.argument);
        break;
      case Verb::kMail:
        Mail(c);
        break;
      case Verb::kRcpt:
        Rcpt(c);
        break;
      case Verb::kData:
        co_await Data();
        break;
      case Verb::kBdat:
        Reply(502, "5.5.1 BDAT not supported (CHUNKING is not offered)");
        ++errors_;
        break;
      case Verb::kRset:
        ResetTransaction();
        Reply(250, "2.0.0 Ok");
        break;
      case Verb::kNoop:
        Reply(250, "2.0.0 Ok");
        break;
      case Verb::kVrfy:
        Reply(252, "2.5.0 Cannot VRFY user, but will accept message and attempt delivery");
        break;
      case Verb::kHelp:
        Reply(214, "2.0.0 See RFC 5321");
        break;
      case Verb::kQuit:
        Reply(221, "2.0.0 Bye");
        closing_ = true;
        break;
    }
  }

  bool AuthOffered() const {
    return opt_.auth && !info_.authenticated && (stream_.Tls() || !opt_.auth_requires_tls);
  }

  asio::awaitable<void> StartTls() {
    if (!opt_.tls || stream_.Tls()) {
      Reply(502, "5.5.1 STARTTLS not available");
      ++errors_;
      co_return;
    }
    Reply(220, "2.0.0 Ready to start TLS");
    bool ok4 = co_await Flush();
    if (!ok4) co_return;
    // Anything the client pipelined behind STARTTLS was sent in clear: discard it.
    in_.clear();
    pos_ = 0;
    error_code ec = co_await stream_.StartTlsServer(*opt_.tls, opt_.timeout);
    if (ec) {
      closing_ = true;
      co_return;
    }
    info_.tls = true;
    // RFC 3207 4.2: forget everything learned before TLS, including an AUTH made in clear; the
    // client must EHLO again.
    greeted_ = false;
    info_.authenticated = false;
    info_.helo.clear();
    ResetTransaction();
  }

  asio::awaitable<void> Auth(const std::string& argument) {
    if (!opt_.auth) {
      Reply(502, "5.5.1 AUTH not available");
      ++errors_;
      co_return;
    }
    if (!greeted_) {
      Reply(503, "5.5.1 Send EHLO first");
      ++errors_;
      co_return;
    }
    if (info_.authenticated) {
      Reply(503, "5.5.1 Already authenticated");
      co_return;
    }
    if (in_mail_) {
      Reply(503, "5.5.1 AUTH not allowed during a mail transaction");
      co_return;
    }
    if (!stream_.Tls() && opt_.auth_requires_tls) {
      Reply(538, "5.7.11 Encryption required for requested authentication mechanism");
      ++errors_;
      co_return;
    }
    std::string mech = argument.substr(0, argument.find(' '));
    for (char& ch : mech) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    std::string initial =
        argument.find(' ') == std::string::npos ? "" : argument.substr(argument.find(' ') + 1);
    std::string user, password;
    if (mech == "PLAIN") {
      if (initial.empty()) {
        Reply(334, "");
        std::optional<std::string> resp;
        bool ok5 = co_await ReadAuthResponse(&resp);
        if (!ok5) co_return;
        initial = *resp;
      }
      if (initial == "=") initial.clear();
      auto decoded = DecodeBase64(initial);
      // authzid NUL authcid NUL password
      size_t a = decoded ? decoded->find('\0') : std::string::npos;
      size_t b = a == std::string::npos ? a : decoded->find('\0', a + 1);
      if (!decoded || b == std::string::npos) {
        Reply(501, "5.5.2 Malformed AUTH PLAIN response");
        ++errors_;
        co_return;
      }
      user = decoded->substr(a + 1, b - a - 1);
      password = decoded->substr(b + 1);
    } else if (mech == "LOGIN") {
      std::optional<std::string> resp;
      if (initial.empty()) {
        Reply(334, "VXNlcm5hbWU6");  // "Username:"
        bool ok6 = co_await ReadAuthResponse(&resp);
        if (!ok6) co_return;
        initial = *resp;
      }
      auto u = DecodeBase64(initial);
      if (!u) {
        Reply(501, "5.5.2 Malformed AUTH LOGIN response");
        ++errors_;
        co_return;
      }
      Reply(334, "UGFzc3dvcmQ6");  // "Password:"
      bool ok7 = co_await ReadAuthResponse(&resp);
      if (!ok7) co_return;
      auto p = DecodeBase64(*resp);
      if (!p) {
        Reply(501, "5.5.2 Malformed AUTH LOGIN response");
        ++errors_;
        co_return;
      }
      user = *u;
      password = *p;
    } else {
      Reply(504, "5.5.4 Unrecognized authentication mechanism");
      ++errors_;
      co_return;
    }
    bool accepted = co_await handler_.Authenticate(user, password);
    if (accepted) {
      info_.authenticated = true;
      Reply(235, "2.7.0 Authentication successful");
    } else {
      Reply(535, "5.7.8 Authentication credentials invalid");
      ++errors_;
    }
  }

  // A line of an AUTH exchange; "*" cancels (RFC 4954 section 4). False: stop (answered or gone).
  asio::awaitable<bool> ReadAuthResponse(std::optional<std::string>* resp) {
    bool ok8 = co_await ReadLine(resp);
    if (!ok8) co_return false;
    if (!*resp) co_return false;
    if (**resp == "*") {
      Reply(501, "5.0.0 Authentication canceled");
      co_return false;
    }
    co_return true;
  }

  void Mail(const Command& c) {
    if (!greeted_) {
      Reply(503, "5.5.1 Send EHLO first");
      ++errors_;
      return;
    }
    if (opt_.auth_required && !info_.authenticated) {
      Reply(530, "5.7.0 Authentication required");
      ++errors_;
      return;
    }
    if (in_mail_) {
      Reply(503, "5.5.1 Nested MAIL command");
      ++errors_;
      return;
    }
    for (const auto& [k, v] : c.params) {
      if (k == "SIZE") {
        uint64_t size = 0;
        bool ok = !v.empty() && v.size() <= 19;
        for (char ch : v) ok = ok && ch >= '0' && ch <= '9';
        if (ok) size = std::stoull(v);
        if (!ok) {
          Reply(501, "5.5.4 Bad SIZE parameter");
          ++errors_;
          return;
        }
        if (size > opt_.max_message_bytes) {
          Reply(552, "5.3.4 Message size exceeds fixed limit of " +
                         std::to_string(opt_.max_message_bytes) + " bytes");
          return;
        }
      } else if (k == "BODY") {
        if (v != "7BIT" && v != "8BITMIME") {
          Reply(501, "5.5.4 Unsupported BODY parameter");
          ++errors_;
          return;
        }
      } else if (k == "SMTPUTF8" && opt_.smtputf8) {
      } else if (k == "AUTH") {  // RFC 4954 section 5: accepted and ignored
      } else {
        Reply(555, "5.5.4 Unsupported MAIL parameter " + k);
        ++errors_;
        return;
      }
    }
    ServerReply r = handler_.OnMail(c.path);
    if (r.code < 300) {
      in_mail_ = true;
      from_ = c.path;
    }
    Reply(r);
  }

  void Rcpt(const Command& c) {
    if (!in_mail_) {
      Reply(503, "5.5.1 Need MAIL before RCPT");
      ++errors_;
      return;
    }
    if (!c.params.empty()) {
      Reply(555, "5.5.4 Unsupported RCPT parameter " + c.params[0].first);
      ++errors_;
      return;
    }
    if (c.path.empty()) {
      Reply(501, "5.1.3 The null path is not a recipient");
      ++errors_;
      return;
    }
    if (rcpts_.size() >= opt_.max_recipients) {
      Reply(452, "4.5.3 Too many recipients");
      return;
    }
    ServerReply r = handler_.OnRcpt(c.path);
    if (r.code < 300) rcpts_.push_back(c.path);
    Reply(r);
  }

  asio::awaitable<void> Data() {
    if (!in_mail_) {
      Reply(503, "5.5.1 Need MAIL command");
      ++errors_;
      co_return;
    }
    if (rcpts_.empty()) {
      Reply(554, "5.5.1 No valid recipients");
      co_return;
    }
    Reply(354, "End data with <CR><LF>.<CR><LF>");
    DataReader reader(opt_.max_message_bytes);
    for (;;) {
      size_t used = reader.Feed(std::string_view(in_).substr(pos_));
      pos_ += used;
      if (reader.Done()) break;
      bool ok9 = co_await Fill();
      if (!ok9) {
        closing_ = true;
        co_return;
      }
    }
    if (reader.TooLarge()) {
      Reply(552, "5.3.4 Message size exceeds fixed limit of " +
                     std::to_string(opt_.max_message_bytes) + " bytes");
    } else if (reader.BareLineFeed()) {
      Reply(550, "5.6.11 Bare LF in message: lines must end with CRLF");
    } else {
      auto delay = handler_.ReplyDelay(rcpts_);
      if (delay.count() > 0) {
        co_await Flush();
        asio::steady_timer t(stream_.Executor(), delay);
        co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
      }
      ServerReply r = co_await handler_.OnData(from_, rcpts_, std::move(reader.Message()));
      if (r.code < 300) ++info_.messages;
      Reply(r);
    }
    ResetTransaction();
  }

  Stream& stream_;
  const ServerOptions& opt_;
  ServerHandler& handler_;
  SessionInfo info_;
  std::string in_;
  size_t pos_ = 0;
  std::string out_;
  bool closing_ = false, greeted_ = false, in_mail_ = false, timed_out_ = false;
  int errors_ = 0;
  std::string from_;
  std::vector<std::string> rcpts_;
};

}  // namespace

asio::awaitable<SessionInfo> RunServerSession(Stream& stream, const ServerOptions& options,
                                              ServerHandler& handler) {
  Session session(stream, options, handler);
  SessionInfo info = co_await session.Run();
  co_return info;
}

}  // namespace mp::smtp
