#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "support/temp_dir.hpp"
#include "util/pipelined_writer.hpp"

using namespace ecuup;
using namespace std::chrono_literals;

namespace {

std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  std::uint32_t x = 0x9e3779b9;
  for (auto& c : s) {
    x = x * 1664525 + 1013904223;
    c = static_cast<char>(x >> 24);
  }
  return s;
}

const std::uint8_t* bytes(const std::string& s) { return reinterpret_cast<const std::uint8_t*>(s.data()); }

struct Fd {
  int fd;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

TEST_CASE("pipelined writer: the file and the observer get every byte, in order, at the right offsets",
          "[util][pipelined_writer]") {
  test::TempDir dir;
  auto file = dir / "out.part";
  const std::string prefix = "already here";  // a resumed download: bytes before the writer's offset
  std::ofstream(file, std::ios::binary) << prefix;
  Fd fd(::open(file.c_str(), O_WRONLY | O_APPEND));
  REQUIRE(fd.fd >= 0);

  const std::string body = pattern(10'000);
  std::string observed;
  std::uint64_t next_offset = prefix.size();
  bool offsets_contiguous = true;
  {
    PipelinedWriter w(fd.fd, prefix.size(), [&](std::uint64_t offset, ByteView data) {
      offsets_contiguous = offsets_contiguous && offset == next_offset;
      next_offset = offset + data.size();
      observed.append(reinterpret_cast<const char*>(data.data()), data.size());
    }, 97, 3);
    const std::size_t pieces[] = {1, 96, 97, 98, 500, 3};  // smaller, equal and larger than a chunk
    for (std::size_t at = 0, i = 0; at < body.size(); ++i) {
      std::size_t n = std::min(pieces[i % std::size(pieces)], body.size() - at);
      REQUIRE(w.append(bytes(body) + at, n));
      at += n;
    }
    CHECK(w.drain() == 0);
    CHECK(observed == body);  // drain waits for the observer
  }
  CHECK(offsets_contiguous);
  CHECK(read_all(file) == prefix + body);
}

TEST_CASE("pipelined writer without an observer just writes in chunks", "[util][pipelined_writer]") {
  test::TempDir dir;
  auto file = dir / "plain";
  Fd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644));
  REQUIRE(fd.fd >= 0);
  const std::string body = pattern(4096 + 5);
  PipelinedWriter w(fd.fd, 0, nullptr, 1024);
  REQUIRE(w.append(bytes(body), 3000));
  CHECK(read_all(file).size() == 2048);  // whole chunks are written as they fill
  REQUIRE(w.append(bytes(body) + 3000, body.size() - 3000));
  CHECK(w.drain() == 0);
  CHECK(read_all(file) == body);
}

TEST_CASE("pipelined writer reports a failed write and stops", "[util][pipelined_writer]") {
  test::TempDir dir;
  auto file = dir / "ro";
  std::ofstream(file) << "";
  Fd fd(::open(file.c_str(), O_RDONLY));  // writing to it fails with EBADF
  REQUIRE(fd.fd >= 0);
  int observed = 0;
  PipelinedWriter w(fd.fd, 0, [&](std::uint64_t, ByteView) { ++observed; }, 16, 2);
  const std::string body = pattern(100);
  CHECK_FALSE(w.append(bytes(body), body.size()));
  CHECK(w.error() == EBADF);
  CHECK_FALSE(w.append(bytes(body), 1));
  CHECK(w.drain() == EBADF);
  CHECK(observed == 0);  // nothing unwritten is ever shown to the observer
}

TEST_CASE("pipelined writer holds the producer back when the observer lags", "[util][pipelined_writer]") {
  test::TempDir dir;
  auto file = dir / "slow";
  Fd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644));
  REQUIRE(fd.fd >= 0);
  constexpr std::size_t chunk = 64, chunks = 2;
  std::atomic<std::uint64_t> observed_end{0};
  std::uint64_t worst_lag = 0;
  PipelinedWriter w(fd.fd, 0, [&](std::uint64_t offset, ByteView data) {
    std::this_thread::sleep_for(1ms);
    observed_end = offset + data.size();
  }, chunk, chunks);
  const std::string body = pattern(chunk * 40);
  for (std::size_t at = 0; at < body.size(); at += 16) {
    REQUIRE(w.append(bytes(body) + at, 16));
    worst_lag = std::max<std::uint64_t>(worst_lag, at + 16 - observed_end);
  }
  CHECK(w.drain() == 0);
  CHECK(observed_end == body.size());
  // Appended but not yet observed never exceeds the chunks it owns (plus the one being filled).
  CHECK(worst_lag <= chunk * (chunks + 1));
  CHECK(worst_lag >= chunk);  // the observer really was behind: the bound was exercised
}

TEST_CASE("pipelined writer: direct I/O for aligned chunks, buffered head and tail", "[util][pipelined_writer]") {
  constexpr std::size_t align = PipelinedWriter::k_direct_align;
  test::TempDir dir;
  auto file = dir / "direct.part";
  const std::string head(1000, 'h');  // a resumed file: its end is not on an aligned offset
  std::ofstream(file, std::ios::binary) << head;
  Fd fd(::open(file.c_str(), O_WRONLY | O_APPEND));
  REQUIRE(fd.fd >= 0);
  const std::string body = pattern(5 * align + 123);
  std::string observed;
  std::uint64_t direct = 0;
  {
    PipelinedWriter w(fd.fd, head.size(), [&](std::uint64_t, ByteView d) {
      observed.append(reinterpret_cast<const char*>(d.data()), d.size());
    }, 2 * align, 2, DirectIo::where_aligned);
    for (std::size_t at = 0; at < body.size(); at += 1500)
      REQUIRE(w.append(bytes(body) + at, std::min<std::size_t>(1500, body.size() - at)));
    CHECK(w.drain() == 0);
    direct = w.direct_bytes();
    CHECK((::fcntl(fd.fd, F_GETFL) & O_DIRECT) == 0);  // the caller's fd is as it was
  }
  CHECK(read_all(file) == head + body);
  CHECK(observed == body);
  // 1000 + (2*4096 - 1000) brings the file into line; after that whole chunks go direct, the tail does not.
  const std::uint64_t first = 2 * align - head.size();
  const std::uint64_t aligned_whole = (body.size() - first) / (2 * align) * (2 * align);
  if (direct == 0) WARN("the file system under " << dir.path() << " refused O_DIRECT; buffered fallback used");
  else CHECK(direct == aligned_whole);
}

TEST_CASE("pipelined writer falls back to buffered writes where O_DIRECT is refused", "[util][pipelined_writer]") {
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);  // sockets cannot take O_DIRECT
  Fd reader(sv[0]), writer_end(sv[1]);
  const std::string body = pattern(3 * PipelinedWriter::k_direct_align);
  std::uint64_t seen = 0;
  {
    PipelinedWriter w(writer_end.fd, 0, [&](std::uint64_t, ByteView d) { seen += d.size(); },
                      PipelinedWriter::k_direct_align, 2, DirectIo::where_aligned);
    REQUIRE(w.append(bytes(body), body.size()));
    CHECK(w.drain() == 0);
    CHECK(w.direct_bytes() == 0);
  }
  CHECK(seen == body.size());
  std::string got(body.size(), '\0');
  std::size_t have = 0;
  while (have < got.size()) {
    ssize_t n = ::read(reader.fd, got.data() + have, got.size() - have);
    REQUIRE(n > 0);
    have += static_cast<std::size_t>(n);
  }
  CHECK(got == body);
}
