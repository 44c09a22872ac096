// mailplane sink: a fast SMTP server for tests, load tests and trying mailplane offline. It accepts
// everything by default; the recipient's local part (before any "+tag") picks a behaviour, like
// Amazon SES's mailbox simulator:
//   success@  250                      bounce@   550 5.1.1 at RCPT
//   defer@    451 4.7.1 the first N times for that address, then 250
//   tempfail@ 451 4.3.0 always          reject@   554 5.7.1 after DATA
//   slow@     250, after slow_ms
// plus random temporary and permanent failure rates, optional STARTTLS and Maildir output. It
// prints a JSON stats line (counts per behaviour) every stats_interval while they change, and a
// last one on SIGTERM/SIGINT.
#pragma once

#include <cstdint>
#include <string>

namespace mp {

struct SinkOptions {
  std::string listen = "127.0.0.1:2525";
  int threads = 0;  // 0 = one per core
  std::string hostname = "sink.localhost";
  std::string tls_cert, tls_key;  // STARTTLS when both are set
  std::string maildir;            // write every accepted message here (Maildir new/)
  int defer_count = 2;            // defer@ answers 451 this many times per address
  int slow_ms = 5000;             // slow@ waits this long before the DATA reply
  double tempfail_rate = 0;       // random 451 at RCPT, 0..1
  double bounce_rate = 0;         // random 550 at RCPT, 0..1
  uint64_t max_message_bytes = 50ull << 20;
  int stats_interval_ms = 1000;
};

int RunSink(const SinkOptions& options);

}  // namespace mp
