#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include "support/temp_dir.hpp"
#include "util/lock.hpp"
#include "util/version.hpp"

using namespace ecuup;

TEST_CASE("version ordering", "[util][version]") {
  CHECK(compare_versions("1.2.0", "1.10.0") < 0);
  CHECK(compare_versions("1.10.0", "1.9.9") > 0);
  CHECK(compare_versions("1.2", "1.2.0") == 0);
  CHECK(compare_versions("01.2", "1.2") == 0);
  CHECK(compare_versions("1.2.0-rc1", "1.2.0") < 0);
  CHECK(compare_versions("1.2.0-rc2", "1.2.0-rc10") < 0);
  CHECK(compare_versions("1.2.0+build5", "1.2.0") == 0);
  CHECK(compare_versions("2.0.0", "10.0.0") < 0);
  CHECK(compare_versions("1.2.a", "1.2.0") > 0);
  CHECK(compare_versions("SW0102", "SW0103") < 0);
}

TEST_CASE("lock is exclusive across processes and released on close", "[util][lock]") {
  test::TempDir dir;
  auto path = dir / "manifest.lock";
  {
    auto first = FileLock::acquire(path);
    REQUIRE(first.ok());
    // flock is per open file description: a child process opening the file again must be refused.
    pid_t child = ::fork();
    if (child == 0) {
      auto second = FileLock::acquire(path);
      ::_exit(!second.ok() && second.error().code == Errc::locked ? 0 : 1);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  auto again = FileLock::acquire(path);
  CHECK(again.ok());
}

TEST_CASE("lock waits for the holder when asked to", "[util][lock]") {
  test::TempDir dir;
  auto path = dir / "manifest.lock";
  pid_t child = ::fork();
  if (child == 0) {
    auto held = FileLock::acquire(path);
    ::usleep(300 * 1000);
    ::_exit(held.ok() ? 0 : 1);
  }
  ::usleep(100 * 1000);
  auto no_wait = FileLock::acquire(path);
  CHECK((!no_wait.ok() && no_wait.error().code == Errc::locked));
  auto waited = FileLock::acquire(path, std::chrono::milliseconds(5000));
  CHECK(waited.ok());
  int status = 0;
  ::waitpid(child, &status, 0);
}
