#include "smtp/client_session.h"

#include <sodium.h>

#include "smtp/dot_stuff.h"

namespace mp::smtp {
namespace {

std::string Base64(std::string_view in) {
  std::string out(sodium_base64_encoded_len(in.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(in.data()),
                    in.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

Reply Local(int code, EnhancedCode enhanced, std::string text) {
  Reply r;
  r.code = code;
  r.enhanced = enhanced;
  r.lines = {std::move(text)};
  return r;
}

}  // namespace

Reply ClientSession::Lost(const std::string& why) {
  usable_ = false;
  lost_why_ = why;
  stream_.Close();
  return Local(451, {4, 4, 2}, "connection lost: " + why);
}

asio::awaitable<Reply> ClientSession::ReadReply(std::chrono::milliseconds timeout) {
  char chunk[16384];
  for (;;) {
    auto next = parser_.Next();
    if (!next.ok()) co_return Lost("protocol error: " + next.error().detail);
    if (next.value()) co_return std::move(*next.value());
    size_t got = 0;
    error_code ec = co_await stream_.ReadSome(chunk, sizeof chunk, &got, timeout);
    if (ec == asio::error::operation_aborted) co_return Lost("timeout waiting for a reply");
    if (ec) co_return Lost(ec == asio::error::eof ? "closed by the server" : ec.message());
    parser_.Feed(std::string_view(chunk, got));
  }
}

asio::awaitable<bool> ClientSession::WriteAll(std::string_view data,
                                              std::chrono::milliseconds timeout) {
  error_code ec = co_await stream_.Write(data, timeout);
  if (ec) {
    usable_ = false;
    stream_.Close();
  }
  co_return !ec;
}

asio::awaitable<Reply> ClientSession::Command(std::string line) {
  bool written = co_await WriteAll(line, opt_.timeouts.command);
  if (!written) co_return Lost("write failed");
  Reply reply = co_await ReadReply(opt_.timeouts.command);
  co_return reply;
}

asio::awaitable<Reply> ClientSession::Ehlo() {
  std::string ehlo = "EHLO " + opt_.helo_name + "\r\n";
  Reply r = co_await Command(ehlo);
  if (r.Positive()) {
    ext_ = ParseEhloReply(r);
    co_return r;
  }
  if (!usable_ || r.code == 421) co_return r;
  // RFC 5321 section 3.2: a server that does not know EHLO gets HELO, and no extensions.
  ext_ = Extensions{};
  std::string helo = "HELO " + opt_.helo_name + "\r\n";
  Reply reply = co_await Command(helo);
  co_return reply;
}

asio::awaitable<OpenResult> ClientSession::Open() {
  OpenResult res;
  Reply greeting = co_await ReadReply(opt_.timeouts.greeting);
  if (greeting.code != 220) {
    res.reply = greeting;
    res.next_host = true;  // 4xx, 5xx (RFC 5321 section 3.1: "554" means no service here) or lost
    if (usable_) co_await Quit();
    co_return res;
  }
  Reply ehlo = co_await Ehlo();
  if (!ehlo.Positive()) {
    res.reply = ehlo;
    res.next_host = true;
    if (usable_) co_await Quit();
    co_return res;
  }
  bool want_tls = opt_.tls != TlsPolicy::kDisabled && opt_.tls_context != nullptr;
  bool must_tls = opt_.tls == TlsPolicy::kRequired || opt_.tls == TlsPolicy::kVerify;
  if (want_tls && ext_.starttls) {
    std::string starttls = "STARTTLS\r\n";
    Reply r = co_await Command(starttls);
    if (r.code != 220) {
      if (!usable_ || must_tls) {
        res.reply = usable_ ? Local(451, {4, 7, 5}, "STARTTLS refused: " + r.Summary()) : r;
        res.next_host = true;
        if (usable_) co_await Quit();
        co_return res;
      }
      // Opportunistic: carry on in clear.
    } else {
      error_code ec = co_await stream_.StartTlsClient(
          *opt_.tls_context, opt_.tls_host, opt_.tls == TlsPolicy::kVerify, opt_.timeouts.command);
      if (ec) {
        // The connection is unusable after a failed handshake; with opportunistic TLS the caller
        // connects again without TLS (RFC 7435: opportunistic security never blocks delivery).
        res.reply = Lost("TLS handshake failed: " + ec.message());
        res.reply.enhanced = EnhancedCode{4, 7, 5};
        res.next_host = true;
        res.tls_failed = true;
        co_return res;
      }
      parser_ = ReplyParser();  // nothing read before TLS may be used after it
      ehlo = co_await Ehlo();
      if (!ehlo.Positive()) {
        res.reply = ehlo;
        res.next_host = true;
        if (usable_) co_await Quit();
        co_return res;
      }
    }
  } else if (must_tls) {
    res.reply = Local(451, {4, 7, 5},
                      "TLS is required on this route and the server does not offer STARTTLS");
    res.next_host = true;
    co_await Quit();
    co_return res;
  }
  if (!opt_.auth_user.empty()) {
    // Credentials never travel in clear unless the route says TLS is disabled on purpose.
    if (!stream_.Tls() && opt_.tls != TlsPolicy::kDisabled) {
      res.reply = Local(451, {4, 7, 0},
                        "not sending AUTH credentials without TLS (the relay "
                        "did not offer STARTTLS; set tls = \"disabled\" to allow it)");
      co_await Quit();
      co_return res;
    }
    OpenResult auth = co_await Authenticate();
    co_return auth;
  }
  res.ok = true;
  co_return res;
}

asio::awaitable<OpenResult> ClientSession::Authenticate() {
  OpenResult res;
  Reply r;
  if (ext_.auth.count("PLAIN")) {
    std::string token;
    token.push_back('\0');
    token.append(opt_.auth_user).push_back('\0');
    token.append(opt_.auth_password);
    std::string line = "AUTH PLAIN " + Base64(token) + "\r\n";
    r = co_await Command(line);
  } else if (ext_.auth.count("LOGIN")) {
    std::string login = "AUTH LOGIN\r\n";
    std::string user = Base64(opt_.auth_user) + "\r\n";
    std::string password = Base64(opt_.auth_password) + "\r\n";
    r = co_await Command(login);
    if (r.code == 334) r = co_await Command(user);
    if (r.code == 334) r = co_await Command(password);
  } else {
    res.reply = Local(451, {4, 7, 0},
                      "the relay offers neither AUTH PLAIN nor AUTH LOGIN" +
                          std::string(stream_.Tls() ? "" : " (before TLS)"));
    co_await Quit();
    co_return res;
  }
  if (r.code != 235) {
    // A refused login is a configuration problem on our side: defer, never bounce, the mail.
    res.reply =
        r.Transient() || !usable_ ? r : Local(451, {4, 7, 8}, "relay refused AUTH: " + r.Summary());
    if (usable_) co_await Quit();
    co_return res;
  }
  res.ok = true;
  co_return res;
}

asio::awaitable<void> ClientSession::Send(Transaction& t, std::string_view message) {
  std::string lines;
  for (;;) {
    switch (t.Next(&lines)) {
      case Transaction::Step::kSendCommands: {
        bool written1 = co_await WriteAll(lines, opt_.timeouts.command);
        if (!written1) {
          t.OnConnectionLost("write failed");
          co_return;
        }
        break;
      }
      case Transaction::Step::kAwaitReplies: {
        auto timeout = opt_.timeouts.command;
        auto w = t.WaitingFor();
        if (w == Transaction::Waiting::kDataInit) timeout = opt_.timeouts.data_init;
        if (w == Transaction::Waiting::kDataEnd) timeout = opt_.timeouts.data_end;
        Reply r = co_await ReadReply(timeout);
        if (!usable_) {
          t.OnConnectionLost(lost_why_);
          co_return;
        }
        t.OnReply(r);
        if (t.ProtocolError()) {
          usable_ = false;
          stream_.Close();
          co_return;
        }
        break;
      }
      case Transaction::Step::kSendData: {
        std::string data;
        data.reserve(message.size() + message.size() / 64 + 8);
        DotStuffer stuffer;
        constexpr size_t kBlock = 256 * 1024;
        for (size_t off = 0; off < message.size(); off += kBlock) {
          stuffer.Feed(message.substr(off, kBlock), data);
          if (data.size() >= kBlock) {
            bool written2 = co_await WriteAll(data, opt_.timeouts.data_block);
            if (!written2) {
              t.OnConnectionLost("write failed during data");
              co_return;
            }
            data.clear();
          }
        }
        stuffer.Finish(data);
        bool written3 = co_await WriteAll(data, opt_.timeouts.data_block);
        if (!written3) {
          t.OnConnectionLost("write failed during data");
          co_return;
        }
        break;
      }
      case Transaction::Step::kDone:
        co_return;
    }
  }
}

asio::awaitable<bool> ClientSession::Reset() {
  if (!usable_) co_return false;
  std::string rset = "RSET\r\n";
  Reply r = co_await Command(rset);
  if (!r.Positive()) {
    usable_ = false;
    stream_.Close();
  }
  co_return usable_;
}

asio::awaitable<void> ClientSession::Quit() {
  if (usable_) {
    std::string quit = "QUIT\r\n";
    bool written = co_await WriteAll(quit, opt_.timeouts.command);
    if (written) {
      // A short wait for 221; the message outcomes do not depend on it.
      co_await ReadReply(std::chrono::seconds(5));
    }
  }
  usable_ = false;
  co_await stream_.Shutdown();
}

}  // namespace mp::smtp
