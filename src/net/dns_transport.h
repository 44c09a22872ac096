// DnsTransport: sends DNS queries through a c-ares channel on one dedicated thread and hands back
// the raw response messages; the Resolver parses, caches and interprets them.
//
// c-ares channels are not thread-safe, so only the transport's thread touches the channel: Query
// queues the question and wakes the thread through an eventfd; the thread polls the channel's
// sockets (tracked with ARES_OPT_SOCK_STATE_CB) with ares_timeout as the poll timeout. Queries go
// out with ares_query (no search domains), class IN, to the configured name servers or, if there
// are none, those of /etc/resolv.conf. Each try waits timeout_ms (c-ares doubles it on each new
// round through the servers) and each server is tried `tries` times. Truncated UDP answers are
// retried over TCP by c-ares.
// SECURITY: the answers are untrusted network input; they are handed on as bytes, unparsed.
// Thread-safety: Query may be called from any thread, also from a callback. Callbacks run on the
// transport's thread (or inline in Query once the transport is shutting down or its queue is
// full). The destructor must not be called from a callback.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/config.h"
#include "core/error.h"

struct ares_channeldata;

namespace mp::net {

class DnsTransport final {
 public:
  struct Reply {
    std::vector<uint8_t> answer;  // the server's response (any RCODE c-ares passes on); or empty
    std::string error;            // why there is no answer: "timeout", "SERVFAIL", ...
    bool shut_down = false;       // the transport was destroyed before an answer came
  };
  using Callback = std::function<void(Reply)>;

  // Most questions queued and not yet answered; more fail at once ("too many DNS queries").
  static constexpr size_t kMaxPending = 65536;
  static constexpr const char* kShutDownError = "resolver shut down";

  // Uses config.servers ("ip:port" or "[v6]:port"; empty = /etc/resolv.conf), timeout_ms, tries.
  // A malformed server list is a kInvalidValue error.
  static Result<std::unique_ptr<DnsTransport>> Create(const DnsConfig& config);
  // Stops the thread; questions not answered yet are called back with shut_down set.
  ~DnsTransport();

  DnsTransport(const DnsTransport&) = delete;
  DnsTransport& operator=(const DnsTransport&) = delete;

  // Asks for records of `type` (kTypeMx, ...) of `name`, a domain name without escapes.
  void Query(std::string name, uint16_t type, Callback done);

 private:
  struct Question {
    std::string name;
    uint16_t type;
    Callback done;
  };
  struct SocketInterest {
    bool read = false;
    bool write = false;
  };

  DnsTransport() = default;
  void Run();
  void Start(Question q);
  void Wake() const;
  static void OnSocketState(void* data, int fd, int readable, int writable);
  static void OnAnswer(void* arg, int status, int timeouts, unsigned char* abuf, int alen);

  ares_channeldata* channel_ = nullptr;
  int wake_fd_ = -1;
  std::map<int, SocketInterest> sockets_;  // transport thread only
  std::mutex mu_;
  std::deque<Question> queue_;  // guarded by mu_
  size_t pending_ = 0;          // guarded by mu_: queued and started, not yet answered
  bool stopping_ = false;       // guarded by mu_
  std::thread thread_;
};

}  // namespace mp::net
