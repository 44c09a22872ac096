// Helpers shared by unit tests: a temporary directory that removes itself.
#pragma once

#include <string>

namespace mp::test {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace mp::test
