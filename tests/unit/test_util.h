// Helpers shared by unit tests: a temporary directory that removes itself.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace mp::test {

// tests/tools, where the independent verifiers (dkimpy, mailauth, standardwebhooks) live.
std::filesystem::path ToolsDir();
// s in single quotes for sh.
std::string ShellQuote(std::string_view s);

struct RunResult {
  int status = -1;  // as pclose returns it
  std::string output;
};
// Runs command with sh, standard error with standard output.
RunResult RunCommand(const std::string& command);

// A self-signed P-256 certificate for CN "localhost" with the given subjectAltNames
// ("DNS:localhost,IP:127.0.0.1"), and its key, PEM in memory; empty strings (and *error set) if
// OpenSSL fails.
struct PemCert {
  std::string cert_pem, key_pem;
};
PemCert MakeSelfSignedPem(const char* subject_alt_names, std::string* error = nullptr);

class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace mp::test
