#include "app/sink_reports.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <istream>

#include "core/clock.h"
#include "core/config.h"
#include "core/id.h"
#include "smtp/dot_stuff.h"

namespace mp {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr size_t kMaxQueued = 10000;

// The header block of a message (up to the first empty line), CRLF line ends.
std::string HeaderBlock(const std::string& message) {
  size_t end = message.find("\r\n\r\n");
  if (end == std::string::npos) end = message.size();
  return message.substr(0, std::min(end, size_t{64} * 1024)) + "\r\n";
}

std::string Header(const std::string& message, std::string_view name) {
  std::string headers = HeaderBlock(message);
  size_t at = 0;
  while (at < headers.size()) {
    size_t eol = headers.find("\r\n", at);
    if (eol == std::string::npos) break;
    std::string_view line(headers.data() + at, eol - at);
    if (line.size() > name.size() && line[name.size()] == ':' &&
        strncasecmp(line.data(), name.data(), name.size()) == 0) {
      std::string v(line.substr(name.size() + 1));
      while (!v.empty() && v.front() == ' ') v.erase(0, 1);
      return v;
    }
    at = eol + 2;
  }
  return "";
}

std::string NowRfc5322() {
  char buf[64];
  time_t t = time(nullptr);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return buf;
}

// Reads one (possibly multi-line) reply; its code, or 0 on error.
int ReadReply(tcp::socket& s, asio::streambuf& buf) {
  for (;;) {
    boost::system::error_code ec;
    asio::read_until(s, buf, "\r\n", ec);
    if (ec) return 0;
    std::istream in(&buf);
    std::string line;
    std::getline(in, line);
    if (line.size() < 4) return 0;
    if (line[3] == ' ') return std::atoi(line.substr(0, 3).c_str());
  }
}

}  // namespace

std::string MakeAutoReply(const std::string& rcpt, const std::string& return_path,
                          const std::string& original) {
  std::string subject = Header(original, "Subject");
  std::string out;
  out += "From: <" + rcpt + ">\r\n";
  out += "To: <" + return_path + ">\r\n";
  out += "Subject: Out of Office: " + subject + "\r\n";
  out += "Date: " + NowRfc5322() + "\r\n";
  out += "Message-ID: <" + NewId(Clock::System()).ToString() + "@sink.localhost>\r\n";
  out += "Auto-Submitted: auto-replied\r\n";
  out += "MIME-Version: 1.0\r\n";
  out += "Content-Type: text/plain; charset=utf-8\r\n\r\n";
  out += "I am out of the office until next week (mailplane sink ooto@).\r\n";
  return out;
}

std::string MakeComplaintReport(const std::string& rcpt, const std::string& mail_from,
                                const std::string& return_path, const std::string& peer_ip,
                                const std::string& original, const std::string& hostname) {
  const std::string boundary = "sink-arf-" + NewId(Clock::System()).ToString();
  std::string out;
  out += "From: <abuse@" + hostname + ">\r\n";
  out += "To: <" + return_path + ">\r\n";
  out += "Subject: Abuse report for a message to " + rcpt + "\r\n";
  out += "Date: " + NowRfc5322() + "\r\n";
  out += "Message-ID: <" + NewId(Clock::System()).ToString() + "@" + hostname + ">\r\n";
  out += "MIME-Version: 1.0\r\n";
  out += "Content-Type: multipart/report; report-type=feedback-report;\r\n\tboundary=\"" +
         boundary + "\"\r\n\r\n";
  out += "--" + boundary + "\r\n";
  out += "Content-Type: text/plain; charset=utf-8\r\n\r\n";
  out += "A user marked this message as spam (mailplane sink complaint@).\r\n\r\n";
  out += "--" + boundary + "\r\n";
  out += "Content-Type: message/feedback-report\r\n\r\n";
  out += "Feedback-Type: abuse\r\n";
  out += "User-Agent: mailplane-sink/1\r\n";
  out += "Version: 1\r\n";
  out += "Original-Mail-From: <" + mail_from + ">\r\n";
  out += "Original-Rcpt-To: <" + rcpt + ">\r\n";
  out += "Arrival-Date: " + NowRfc5322() + "\r\n";
  out += "Source-IP: " + peer_ip + "\r\n";
  out += "Reported-Domain: " + mail_from.substr(mail_from.rfind('@') + 1) + "\r\n\r\n";
  out += "--" + boundary + "\r\n";
  out += "Content-Type: text/rfc822-headers\r\n\r\n";
  out += HeaderBlock(original);
  out += "\r\n--" + boundary + "--\r\n";
  return out;
}

std::string SendMessage(const std::string& host_port, const std::string& rcpt,
                        const std::string& message, const std::string& helo) {
  std::string host;
  uint16_t port = 0;
  if (!SplitHostPort(host_port, &host, &port)) return "bad --report-to " + host_port;
  asio::io_context io;
  tcp::socket s(io);
  boost::system::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec) return "--report-to needs an IP address: " + host;
  s.connect(tcp::endpoint(address, port), ec);
  if (ec) return "connect to " + host_port + ": " + ec.message();
  timeval tv{10, 0};
  setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(s.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  asio::streambuf buf;
  auto step = [&](const std::string& line, int want) -> std::string {
    if (!line.empty()) {
      asio::write(s, asio::buffer(line), ec);
      if (ec) return "write: " + ec.message();
    }
    int code = ReadReply(s, buf);
    if (code / 100 != want / 100) {
      return "unexpected reply " + std::to_string(code) + " to " + line.substr(0, 20);
    }
    return "";
  };
  for (auto [line, want] : {std::pair<std::string, int>{"", 220},
                            {"EHLO " + helo + "\r\n", 250},
                            {"MAIL FROM:<>\r\n", 250},
                            {"RCPT TO:<" + rcpt + ">\r\n", 250},
                            {"DATA\r\n", 354}}) {
    if (std::string err = step(line, want); !err.empty()) return err;
  }
  if (std::string err = step(smtp::DotStuffer::Stuff(message), 250); !err.empty()) return err;
  step("QUIT\r\n", 221);
  return "";
}

ReportSender::ReportSender(std::string host_port, std::string helo)
    : host_port_(std::move(host_port)), helo_(std::move(helo)), thread_([this] { Run(); }) {}

ReportSender::~ReportSender() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void ReportSender::Enqueue(std::string rcpt, std::string message) {
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= kMaxQueued) {
      failed_++;
      return;
    }
    queue_.emplace_back(std::move(rcpt), std::move(message));
  }
  cv_.notify_one();
}

void ReportSender::Run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    auto [rcpt, message] = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    std::string err = SendMessage(host_port_, rcpt, message, helo_);
    (err.empty() ? sent_ : failed_)++;
    lock.lock();
  }
}

}  // namespace mp
