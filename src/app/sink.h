// mailplane sink: a fast SMTP server for tests, load tests and trying mailplane offline. It accepts
// everything by default; the recipient's local part (before any "+tag") picks a behaviour, like
// Amazon SES's mailbox simulator:
//   success@  250                      bounce@   550 5.1.1 at RCPT
//   defer@    451 4.7.1 the first N times for that address, then 250
//   tempfail@ 451 4.3.0 always          reject@   554 5.7.1 after DATA
//   slow@     250, after slow_ms
// plus random temporary and permanent failure rates, optional STARTTLS and Maildir output. It
// prints a JSON stats line (counts per behaviour, per client address and per local address) every
// stats_interval while they change, and a last one on SIGTERM/SIGINT.
//
// It can listen on several addresses (one sink playing several MX hosts) and turn hostile for all
// clients, one client address or one local address, from the start (--mode) or on command through
// a line-based control port (--control): `mode <behaviour> [peer <ip>] [local <ip>]`, `stats`,
// `reset`. Behaviours: normal, throttle (421 4.7.28 at MAIL, then close), throttle-470 (421 4.7.0
// at MAIL, then close), busy (450 4.2.1 at RCPT), block (550 5.7.1 at RCPT), greeting-421.
// SECURITY: SMTP clients and control clients are untrusted; the SMTP limits are the session's, a
// control line is at most 1024 bytes, idle control connections close after 30 minutes, at most 16
// at once. The control port has no authentication: bind it to loopback.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mp {

struct SinkOptions {
  std::vector<std::string> listen = {"127.0.0.1:2525"};  // each host:port; port 0 = a free one
  std::string control;                                   // host:port of the control port, or ""
  std::string mode = "normal";                           // the global behaviour at start
  int threads = 0;                                       // 0 = one per core
  std::string hostname = "sink.localhost";
  std::string tls_cert, tls_key;  // STARTTLS when both are set
  std::string maildir;            // write every accepted message here (Maildir new/)
  int defer_count = 2;            // defer@ answers 451 this many times per address
  int slow_ms = 5000;             // slow@ waits this long before the DATA reply
  double tempfail_rate = 0;       // random 451 at RCPT, 0..1
  double bounce_rate = 0;         // random 550 at RCPT, 0..1
  uint64_t max_message_bytes = 50ull << 20;
  int stats_interval_ms = 1000;
  std::string report_to;  // host:port where ooto@ / complaint@ reports are sent ("" = none)
};

int RunSink(const SinkOptions& options);

}  // namespace mp
