// DnsmasqServer: a real DNS server (dnsmasq, from dnsmasq-base) on 127.0.0.1 at a free port, for
// tests that resolve names. The caller passes the records as dnsmasq options, for example
//   DnsmasqServer::Start({"--mx-host=mx.test,a.mx.test,10", "--host-record=a.mx.test,192.0.2.1",
//                         "--local-ttl=300"});
// dnsmasq answers for names under .test only (--local=/test/): unknown ones are NXDOMAIN, names
// outside .test are REFUSED. It runs in the foreground as a child of the test, dies with it
// (PR_SET_PDEATHSIG) and is stopped by the destructor. Note dnsmasq's default --local-ttl is 0
// (nothing cacheable); pass one when a test needs TTLs.
// SilentUdpPort: a UDP port on 127.0.0.1 that is bound but never read, a DNS server that never
// answers (timeouts).
// Header-only: tests/unit/CMakeLists.txt builds only *_test.cc files and test_util.cc.
// Thread-safety: use from one thread.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace mp::test {

class DnsmasqServer {
 public:
  static constexpr const char* kBinary = "/usr/sbin/dnsmasq";

  // Starts dnsmasq with `records` (extra options) and waits until it answers. Returns null, with
  // the reason in *error, if it does not come up.
  static std::unique_ptr<DnsmasqServer> Start(const std::vector<std::string>& records,
                                              std::string* error) {
    for (int attempt = 0; attempt < 3; ++attempt) {  // another process may take the port
      const uint16_t port = FreePort();
      if (port == 0) {
        *error = "no free port";
        return nullptr;
      }
      std::unique_ptr<DnsmasqServer> server(new DnsmasqServer(port));
      if (!server->Spawn(records, error)) return nullptr;
      if (server->WaitUntilAnswering()) return server;
      *error = "dnsmasq did not answer on port " + std::to_string(port);
    }
    return nullptr;
  }

  ~DnsmasqServer() { Stop(); }
  DnsmasqServer(const DnsmasqServer&) = delete;
  DnsmasqServer& operator=(const DnsmasqServer&) = delete;

  uint16_t port() const { return port_; }
  // "127.0.0.1:port", as [dns] servers takes it.
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  // SIGTERM, then SIGKILL if it has not exited within 2 s. Idempotent.
  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    for (int i = 0; i < 200; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  explicit DnsmasqServer(uint16_t port) : port_(port) {}

  // A port free for both UDP and TCP on 127.0.0.1 at the time of asking.
  static uint16_t FreePort() {
    for (int i = 0; i < 20; ++i) {
      int udp = socket(AF_INET, SOCK_DGRAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      socklen_t len = sizeof addr;
      if (udp < 0 || bind(udp, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
          getsockname(udp, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        if (udp >= 0) close(udp);
        return 0;
      }
      int tcp = socket(AF_INET, SOCK_STREAM, 0);
      const bool tcp_free =
          tcp >= 0 && bind(tcp, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
      if (tcp >= 0) close(tcp);
      close(udp);
      if (tcp_free) return ntohs(addr.sin_port);
    }
    return 0;
  }

  bool Spawn(const std::vector<std::string>& records, std::string* error) {
    std::vector<std::string> args = {
        kBinary,
        "--keep-in-foreground",
        "--no-resolv",
        "--no-hosts",
        "--bind-interfaces",
        "--listen-address=127.0.0.1",
        "--port=" + std::to_string(port_),
        "--conf-file=/dev/null",
        "--pid-file=",  // none
        "--log-facility=-",
        "--local=/test/",
    };
    args.insert(args.end(), records.begin(), records.end());
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid < 0) {
      *error = "fork failed";
      return false;
    }
    if (pid == 0) {
      // Only async-signal-safe calls between fork and exec.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
      int null_fd = open("/dev/null", O_RDWR);
      if (null_fd >= 0) {
        dup2(null_fd, STDIN_FILENO);
        dup2(null_fd, STDOUT_FILENO);
        dup2(null_fd, STDERR_FILENO);
      }
      execv(argv[0], argv.data());
      _exit(127);
    }
    pid_ = pid;
    return true;
  }

  // Sends a query for test. (SOA) until any answer comes back, for up to 3 s.
  bool WaitUntilAnswering() {
    static const uint8_t kQuery[] = {0x12, 0x34, 0x01, 0x00, 0,   1,   0, 0, 0, 0, 0,
                                     0,    4,    't',  'e',  's', 't', 0, 0, 6, 0, 1};
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) return false;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port_);
    bool up = false;
    for (int i = 0; i < 60 && !up; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {  // exited: bad option or port taken
        pid_ = -1;
        break;
      }
      sendto(fd, kQuery, sizeof kQuery, 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 50) == 1) {
        uint8_t buf[512];
        up = recv(fd, buf, sizeof buf, 0) > 0;
      }
    }
    close(fd);
    if (!up) Stop();
    return up;
  }

  uint16_t port_;
  pid_t pid_ = -1;
};

class SilentUdpPort {
 public:
  SilentUdpPort() {
    fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port_ = ntohs(addr.sin_port);
    }
  }
  ~SilentUdpPort() {
    if (fd_ >= 0) close(fd_);
  }
  SilentUdpPort(const SilentUdpPort&) = delete;
  SilentUdpPort& operator=(const SilentUdpPort&) = delete;

  uint16_t port() const { return port_; }  // 0 if binding failed
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

}  // namespace mp::test
