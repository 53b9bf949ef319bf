#pragma once
// Each test runs in its own temporary directory, removed afterwards.
#include <cstdlib>
#include <filesystem>
#include <string>

namespace ecuup::test {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ecuup-test-XXXXXX").string();
    char* made = ::mkdtemp(tmpl.data());
    m_path = made ? made : tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(m_path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return m_path; }
  std::filesystem::path operator/(const std::string& name) const { return m_path / name; }

 private:
  std::filesystem::path m_path;
};

}  // namespace ecuup::test
