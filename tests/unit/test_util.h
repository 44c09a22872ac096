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

class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace mp::test
