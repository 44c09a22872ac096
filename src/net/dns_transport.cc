#include "net/dns_transport.h"

#include <ares.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <utility>

#include "net/dns_message.h"

namespace mp::net {
namespace {

// ares_library_init/cleanup are reference counted but not thread-safe.
std::mutex& LibraryMutex() {
  static std::mutex mu;
  return mu;
}

// Turns the configured servers into the csv ares_set_servers_ports_csv reads, checking each.
Result<std::string> ServersCsv(const std::vector<std::string>& servers) {
  std::string csv;
  for (const std::string& server : servers) {
    std::string host;
    uint16_t port = 0;
    in6_addr addr{};
    const bool ok = SplitHostPort(server, &host, &port) && port != 0 &&
                    (inet_pton(AF_INET, host.c_str(), &addr) == 1 ||
                     inet_pton(AF_INET6, host.c_str(), &addr) == 1);
    if (!ok) {
      return MakeError(
          Code::kInvalidValue,
          "DNS server must be an IP address and port (ip:port or [v6]:port), got '" + server + "'",
          "dns.servers");
    }
    if (!csv.empty()) csv += ',';
    csv += host.find(':') == std::string::npos ? host + ":" + std::to_string(port)
                                               : "[" + host + "]:" + std::to_string(port);
  }
  return csv;
}

std::string DescribeStatus(int status) {
  switch (status) {
    case ARES_ETIMEOUT:
      return "timeout";
    case ARES_ESERVFAIL:
      return "SERVFAIL";
    case ARES_EREFUSED:
      return "REFUSED";
    case ARES_ENOTIMP:
      return "NOTIMP";
    case ARES_EFORMERR:
      return "FORMERR";
    case ARES_ECONNREFUSED:
      // c-ares 1.18 tries the next server on SERVFAIL and REFUSED, and when all have failed it
      // reports the status it started with, which is this one; so it cannot tell them apart.
      return "SERVFAIL, REFUSED or connection refused";
    case ARES_EBADRESP:
      return "malformed response";
    default:
      return ares_strerror(status);
  }
}

// What OnAnswer needs: c-ares passes one pointer through.
struct QueryContext {
  DnsTransport* transport;
  DnsTransport::Callback done;
};

}  // namespace

Result<std::unique_ptr<DnsTransport>> DnsTransport::Create(const DnsConfig& config) {
  Result<std::string> csv = ServersCsv(config.servers);
  if (!csv) return csv.error();
  if (config.timeout_ms < 1 || config.tries < 1) {
    return MakeError(Code::kInvalidValue, "dns.timeout_ms and dns.tries must be at least 1");
  }
  {
    std::lock_guard lock(LibraryMutex());
    if (int rc = ares_library_init(ARES_LIB_INIT_ALL); rc != ARES_SUCCESS) {
      return MakeError(Code::kInternal, std::string("ares_library_init: ") + ares_strerror(rc));
    }
  }
  std::unique_ptr<DnsTransport> t(new DnsTransport());
  // From here the destructor cleans up whatever was set up.
  t->wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (t->wake_fd_ < 0) return MakeError(Code::kInternal, "eventfd failed");

  ares_options options{};
  // NOSEARCH and NOALIASES: names are always fully qualified; never append search domains or
  // consult HOSTALIASES.
  options.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
  options.timeout = config.timeout_ms;
  options.tries = config.tries;
  options.sock_state_cb = &DnsTransport::OnSocketState;
  options.sock_state_cb_data = t.get();
  const int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB;
  ares_channel channel = nullptr;
  if (int rc = ares_init_options(&channel, &options, mask); rc != ARES_SUCCESS) {
    return MakeError(Code::kInternal, std::string("ares_init_options: ") + ares_strerror(rc));
  }
  t->channel_ = channel;
  if (!csv.value().empty()) {
    if (int rc = ares_set_servers_ports_csv(channel, csv.value().c_str()); rc != ARES_SUCCESS) {
      return MakeError(Code::kInvalidValue,
                       std::string("DNS servers rejected by c-ares: ") + ares_strerror(rc),
                       "dns.servers");
    }
  }
  t->thread_ = std::thread([p = t.get()] { p->Run(); });
  return t;
}

DnsTransport::~DnsTransport() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) {
    Wake();
    thread_.join();
  } else if (channel_ != nullptr) {
    ares_destroy(channel_);  // Create failed before the thread started: nothing is pending
  }
  if (wake_fd_ >= 0) close(wake_fd_);
  std::lock_guard lock(LibraryMutex());
  ares_library_cleanup();
}

void DnsTransport::Query(std::string name, uint16_t type, Callback done) {
  std::unique_lock lock(mu_);
  if (!stopping_ && pending_ < kMaxPending) {
    ++pending_;
    queue_.push_back(Question{std::move(name), type, std::move(done)});
    lock.unlock();
    Wake();
    return;
  }
  Reply refused;
  refused.shut_down = stopping_;
  refused.error = stopping_ ? kShutDownError : "too many DNS queries in flight";
  lock.unlock();
  done(std::move(refused));
}

void DnsTransport::Wake() const {
  const uint64_t one = 1;
  // EAGAIN means the counter is already non-zero: the thread will wake anyway.
  [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof one);
}

void DnsTransport::Run() {
  std::vector<pollfd> fds;
  for (;;) {
    std::deque<Question> batch;
    {
      std::lock_guard lock(mu_);
      if (stopping_) break;
      batch.swap(queue_);
    }
    for (Question& q : batch) Start(std::move(q));

    fds.clear();
    fds.push_back(pollfd{wake_fd_, POLLIN, 0});
    for (const auto& [fd, interest] : sockets_) {
      const auto events =
          static_cast<short>((interest.read ? POLLIN : 0) | (interest.write ? POLLOUT : 0));
      fds.push_back(pollfd{fd, events, 0});
    }
    timeval tv{};
    const timeval* next = ares_timeout(channel_, nullptr, &tv);
    const int timeout_ms =
        next == nullptr ? -1 : static_cast<int>(next->tv_sec * 1000 + (next->tv_usec + 999) / 1000);
    if (poll(fds.data(), fds.size(), timeout_ms) < 0) {
      // EINTR (or worse): no socket is known to be ready, but timeouts still run below.
      for (pollfd& p : fds) p.revents = 0;
    }
    if (fds[0].revents != 0) {
      uint64_t count;
      [[maybe_unused]] ssize_t r = read(wake_fd_, &count, sizeof count);
    }
    for (size_t i = 1; i < fds.size(); ++i) {
      const short ev = fds[i].revents;
      if (ev == 0) continue;
      const bool readable = (ev & (POLLIN | POLLERR | POLLHUP)) != 0;
      const bool writable = (ev & POLLOUT) != 0;
      ares_process_fd(channel_, readable ? fds[i].fd : ARES_SOCKET_BAD,
                      writable ? fds[i].fd : ARES_SOCKET_BAD);
    }
    // Runs the timeouts (c-ares handles expired tries in every ares_process_fd call).
    ares_process_fd(channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
  }
  // ares_destroy calls every outstanding callback with ARES_EDESTRUCTION.
  ares_destroy(channel_);
  channel_ = nullptr;
  std::deque<Question> rest;
  {
    std::lock_guard lock(mu_);
    rest.swap(queue_);
  }
  for (Question& q : rest) {
    Reply reply;
    reply.error = kShutDownError;
    reply.shut_down = true;
    q.done(std::move(reply));
  }
}

void DnsTransport::Start(Question q) {
  auto* context = new QueryContext{this, std::move(q.done)};
  // c-ares owns the context until OnAnswer, which it calls exactly once (perhaps right here).
  ares_query(channel_, q.name.c_str(), kClassIn, q.type, &DnsTransport::OnAnswer, context);
}

void DnsTransport::OnSocketState(void* data, int fd, int readable, int writable) {
  auto* self = static_cast<DnsTransport*>(data);
  if (readable == 0 && writable == 0) {
    self->sockets_.erase(fd);
  } else {
    self->sockets_[fd] = SocketInterest{readable != 0, writable != 0};
  }
}

void DnsTransport::OnAnswer(void* arg, int status, int timeouts, unsigned char* abuf, int alen) {
  std::unique_ptr<QueryContext> context(static_cast<QueryContext*>(arg));
  Reply reply;
  // SUCCESS, ENODATA (NOERROR, no answer records) and ENOTFOUND (NXDOMAIN) carry the response;
  // the resolver reads the RCODE and the records from it.
  const bool answered =
      status == ARES_SUCCESS || status == ARES_ENODATA || status == ARES_ENOTFOUND;
  if (answered && abuf != nullptr && alen > 0) {
    reply.answer.assign(abuf, abuf + alen);
  } else if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) {
    reply.error = kShutDownError;
    reply.shut_down = true;
  } else {
    reply.error = DescribeStatus(status);
  }
  {
    std::lock_guard lock(context->transport->mu_);
    --context->transport->pending_;
  }
  context->done(std::move(reply));
}

}  // namespace mp::net
