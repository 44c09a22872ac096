// ClientSession: the client side of one SMTP connection (RFC 5321) to an MX host or a relay, over
// a connected Stream: greeting, EHLO with HELO fallback, STARTTLS by policy (RFC 3207) and EHLO
// again, AUTH PLAIN or LOGIN (RFC 4954) for relays, then any number of transactions (each driven
// by a Transaction, with PIPELINING when offered), RSET between them when needed, and QUIT.
// Timeouts per phase follow RFC 5321 section 4.5.3.2 and are the caller's to choose.
// SECURITY: reads untrusted server replies (through ReplyParser, which bounds them).
// Thread-safety: none; a session lives on one executor.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <string>
#include <string_view>

#include "core/config.h"
#include "smtp/extensions.h"
#include "smtp/reply.h"
#include "smtp/stream.h"
#include "smtp/transaction.h"

namespace mp::smtp {

struct ClientTimeouts {
  std::chrono::milliseconds greeting{std::chrono::minutes(5)};
  std::chrono::milliseconds command{std::chrono::minutes(5)};  // EHLO, STARTTLS, AUTH, MAIL, RCPT
  std::chrono::milliseconds data_init{std::chrono::minutes(2)};
  std::chrono::milliseconds data_block{std::chrono::minutes(3)};
  std::chrono::milliseconds data_end{std::chrono::minutes(10)};
};

struct ClientOptions {
  std::string helo_name = "localhost";
  TlsPolicy tls = TlsPolicy::kOpportunistic;
  asio::ssl::context* tls_context = nullptr;  // needed unless tls is kDisabled
  std::string tls_host;                       // SNI and the name a verified certificate must carry
  std::string auth_user, auth_password;       // AUTH when set
  ClientTimeouts timeouts;
};

// Why a connection could not be used for mail. The reply is the server's, or one made up for a
// local failure (connection lost 451 4.4.2, TLS required 451 4.7.5 ...), so every recipient's
// outcome always carries a reply.
struct OpenResult {
  bool ok = false;
  Reply reply;
  bool next_host = false;   // worth trying the next MX host (connection trouble, 4xx greeting)
  bool tls_failed = false;  // the TLS handshake failed (opportunistic: retry in clear)
};

class ClientSession {
 public:
  ClientSession(Stream& stream, const ClientOptions& options) : stream_(stream), opt_(options) {}

  asio::awaitable<OpenResult> Open();
  // Runs the transaction to its end. The message is the stored RFC 5322 text; it is dot-stuffed
  // here. A connection failure ends the transaction with 451 for every recipient still open.
  asio::awaitable<void> Send(Transaction& transaction, std::string_view message);
  // RSET; false when the connection is no longer usable.
  asio::awaitable<bool> Reset();
  asio::awaitable<void> Quit();

  const Extensions& ServerExtensions() const { return ext_; }
  bool Usable() const { return usable_; }

 private:
  // Reads one complete reply; on failure returns a 451 4.4.2 reply and marks the session unusable.
  asio::awaitable<Reply> ReadReply(std::chrono::milliseconds timeout);
  asio::awaitable<bool> WriteAll(std::string_view data, std::chrono::milliseconds timeout);
  asio::awaitable<Reply> Command(std::string line);
  asio::awaitable<Reply> Ehlo();
  asio::awaitable<OpenResult> Authenticate();
  Reply Lost(const std::string& why);

  Stream& stream_;
  const ClientOptions& opt_;
  ReplyParser parser_;
  Extensions ext_;
  bool usable_ = true;
  std::string lost_why_;  // why the connection was lost, for the recipients' replies
};

}  // namespace mp::smtp
