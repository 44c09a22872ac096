// ServerSession: the server side of one SMTP connection (RFC 5321), shared by `mailplane sink` and
// the submission listener (RFC 6409). It speaks the protocol: greeting, EHLO/HELO, STARTTLS
// (RFC 3207), AUTH PLAIN and LOGIN (RFC 4954), MAIL/RCPT/DATA with PIPELINING (RFC 2920), SIZE,
// 8BITMIME, ENHANCEDSTATUSCODES, RSET, NOOP, VRFY, HELP, QUIT, and the limits. What to accept is
// the ServerHandler's business: authentication, senders, recipients and what to do with a message.
//
// SECURITY: every byte comes from an untrusted client. Limits: 1,000 octets a command line, the
// configured message size (SIZE advertised, 552 past it), recipients per transaction (452 past
// it), a timeout per read (421), 20 errors a connection (421). Commands pipelined behind STARTTLS
// are discarded (CVE-2011-0411). A bare LF in data refuses the message (SMTP smuggling).
// Thread-safety: a session lives on one executor; the handler is called from it only.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "smtp/stream.h"

namespace mp::smtp {

struct ServerReply {
  int code = 250;
  std::string text;  // "2.0.0 Ok": enhanced code first, as the client will see it
};

struct ServerOptions {
  std::string hostname = "localhost";
  std::string banner = "ESMTP mailplane";
  uint64_t max_message_bytes = 25ull << 20;
  size_t max_recipients = 1000;
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};
  asio::ssl::context* tls = nullptr;  // STARTTLS offered when set
  bool auth = false;                  // AUTH PLAIN LOGIN offered
  bool auth_requires_tls = true;      // AUTH only after STARTTLS
  bool auth_required = false;         // MAIL needs a successful AUTH first
  bool smtputf8 = false;              // advertise SMTPUTF8
};

// What the session asks of its owner. One handler per connection.
class ServerHandler {
 public:
  virtual ~ServerHandler() = default;
  // The connection is open, before the greeting: the client's IP address and the local address
  // it connected to ("" when unknown; IPv4-mapped IPv6 addresses are given as IPv4). nullopt (the
  // default) sends the usual 220 greeting; a reply is sent instead of it and ends the session
  // (meant for 421, RFC 5321 section 3.8).
  virtual std::optional<ServerReply> OnConnect(const std::string& peer_ip,
                                               const std::string& local_ip) {
    return std::nullopt;
  }
  // A successful AUTH makes the session authenticated; false -> 535.
  virtual asio::awaitable<bool> Authenticate(std::string user, std::string password) {
    co_return false;
  }
  // A 421 from OnMail, OnRcpt or OnData is sent, then the session closes (RFC 5321 section 3.8).
  virtual ServerReply OnMail(const std::string& from) { return {250, "2.1.0 Ok"}; }
  virtual ServerReply OnRcpt(const std::string& rcpt) { return {250, "2.1.5 Ok"}; }
  // The whole message, dot-unstuffed, for the accepted recipients. The reply is sent as it is.
  virtual asio::awaitable<ServerReply> OnData(std::string from, std::vector<std::string> rcpts,
                                              std::string message) = 0;
  // A reply is about to be delayed (sink "slow@"); default none.
  virtual std::chrono::milliseconds ReplyDelay(const std::vector<std::string>& rcpts) {
    return std::chrono::milliseconds(0);
  }
};

struct SessionInfo {
  std::string helo;
  bool tls = false;
  bool authenticated = false;
  uint64_t messages = 0;
};

// Runs the session to its end (QUIT, timeout, error, client gone). Never throws.
asio::awaitable<SessionInfo> RunServerSession(Stream& stream, const ServerOptions& options,
                                              ServerHandler& handler);

}  // namespace mp::smtp
