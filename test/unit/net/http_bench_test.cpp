// Hidden benchmark (run explicitly: ecuup_unit_tests "[bench]"): download time against the curl
// command line on loopback, and peak RSS growth. Prints figures; asserts only correctness.
// ECUUP_BENCH_BYTES sets the size (default 1 GiB).
#include <catch2/catch.hpp>

#include <sys/resource.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "net/http.hpp"
#include "net/http_fixture.hpp"
#include "support/temp_dir.hpp"

using namespace ecuup;
using ecuup::test::HttpFixture;
using ecuup::test::TempDir;
namespace fs = std::filesystem;

namespace {

long peak_rss_kib() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

TEST_CASE("download throughput and memory against curl", "[.][bench][http]") {
  std::uint64_t size = 1ull << 30;
  if (const char* env = std::getenv("ECUUP_BENCH_BYTES")) size = std::stoull(env);
  TempDir tmp;
  fs::create_directories(tmp / "root");
  {
    std::ofstream out(tmp / "root/big.bin", std::ios::binary);
    std::vector<char> block(1 << 20);
    for (std::size_t i = 0; i < block.size(); ++i) block[i] = static_cast<char>((i * 131) ^ (i >> 7));
    for (std::uint64_t done = 0; done < size; done += block.size()) {
      auto n = static_cast<std::streamsize>(std::min<std::uint64_t>(block.size(), size - done));
      out.write(block.data(), n);
    }
  }
  HttpFixture server(tmp / "root", {});
  HttpClient client;
  REQUIRE(client.request("HEAD", server.url("big.bin")).ok());  // the fixture computes its ETag once

  for (int round = 0; round < 2; ++round) {
    auto curl_start = std::chrono::steady_clock::now();
    std::string cmd = "curl -s -o '" + (tmp / "curl.out").string() + "' " + server.url("big.bin");
    bool have_curl = std::system(cmd.c_str()) == 0;
    double curl_s = seconds_since(curl_start);
    fs::remove(tmp / "curl.out");

    long rss_before = peak_rss_kib();
    auto start = std::chrono::steady_clock::now();
    auto r = client.download(server.url("big.bin"), tmp / "big.part", null_progress());
    double ours_s = seconds_since(start);
    long rss_after = peak_rss_kib();
    REQUIRE(r.ok());
    CHECK(r->file_size == size);
    fs::remove(tmp / "big.part");
    fs::remove(download_meta_path(tmp / "big.part"));

    auto file_start = std::chrono::steady_clock::now();
    HttpOptions local;
    local.allow_file_urls = true;  // as the dir repository has for its own files
    auto f = HttpClient(local).download("file://" + (tmp / "root/big.bin").string(), tmp / "file.part", null_progress());
    double file_s = seconds_since(file_start);
    REQUIRE(f.ok());
    fs::remove(tmp / "file.part");
    fs::remove(download_meta_path(tmp / "file.part"));

    std::cout << "bench round " << round << ": " << size << " bytes: ecuup http " << ours_s << " s ("
              << static_cast<double>(size) / ours_s / 1e6 << " MB/s), curl "
              << (have_curl ? std::to_string(curl_s) + " s" : std::string("unavailable")) << ", file:// " << file_s
              << " s; peak RSS " << rss_before << " -> " << rss_after << " KiB\n";
  }
}
