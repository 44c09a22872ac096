// What `mailplane sink` sends back for its ooto@ and complaint@ mailboxes, so the whole
// asynchronous feedback loop can be tested: an RFC 3834 auto-reply ("out of the office") and an
// ARF complaint report (RFC 5965), each sent with the null sender to the message's return path
// over SMTP, to --report-to (host:port) whatever the return path's domain. A background thread
// sends them one at a time, from a bounded queue (reports past 10,000 waiting are dropped and
// counted), so the sink's SMTP sessions never wait for it.
// SECURITY: a test tool; it sends only to the one --report-to address, never to a real MX.
// Thread-safety: Enqueue from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

namespace mp {

// An auto-reply from rcpt to return_path about original (its Subject is quoted).
std::string MakeAutoReply(const std::string& rcpt, const std::string& return_path,
                          const std::string& original);
// An ARF abuse report about original (mail_from -> rcpt, received from peer_ip), sent to
// return_path, with the original's header block as text/rfc822-headers.
std::string MakeComplaintReport(const std::string& rcpt, const std::string& mail_from,
                                const std::string& return_path, const std::string& peer_ip,
                                const std::string& original, const std::string& hostname);
// One SMTP transaction: MAIL FROM:<> RCPT TO:<rcpt> DATA message. "" or what went wrong.
std::string SendMessage(const std::string& host_port, const std::string& rcpt,
                        const std::string& message, const std::string& helo);

class ReportSender {
 public:
  ReportSender(std::string host_port, std::string helo);
  ~ReportSender();
  void Enqueue(std::string rcpt, std::string message);
  uint64_t sent() const { return sent_.load(); }
  uint64_t failed() const { return failed_.load(); }

 private:
  void Run();
  std::string host_port_, helo_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<std::string, std::string>> queue_;
  bool stopping_ = false;
  std::atomic<uint64_t> sent_{0}, failed_{0};
  std::thread thread_;
};

}  // namespace mp
