#include "test_util.h"

#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <stdexcept>

namespace mp::test {

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "mp-unit-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::filesystem::path ToolsDir() {
  return std::filesystem::path(__FILE__).parent_path().parent_path() / "tools";
}

std::string ShellQuote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out.push_back(c);
    }
  }
  return out + "'";
}

RunResult RunCommand(const std::string& command) {
  RunResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return result;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) result.output.append(buf, n);
  result.status = pclose(pipe);
  return result;
}

}  // namespace mp::test
