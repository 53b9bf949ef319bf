#include <catch2/catch.hpp>

#include <filesystem>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "net/http.hpp"
#include "net/http_fixture.hpp"
#include "support/temp_dir.hpp"
#include "util/cancel.hpp"
#include "util/fs.hpp"
#include "util/hash.hpp"

using namespace ecuup;
using ecuup::test::HttpFixture;
using ecuup::test::TempDir;
namespace fs = std::filesystem;

namespace {

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

void write_file(const fs::path& p, const std::string& content) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

HttpOptions fast_options(int attempts = 4) {
  HttpOptions o;
  o.max_attempts = attempts;
  o.backoff_base = std::chrono::milliseconds(10);
  o.backoff_max = std::chrono::milliseconds(50);
  o.connect_timeout = std::chrono::milliseconds(2000);
  o.low_speed_timeout = std::chrono::seconds(10);
  return o;
}

struct RecordingProgress : Progress {
  std::uint64_t last = 0;
  int advances = 0;
  std::vector<std::string> notes;
  std::uint64_t interrupt_at = 0;  // request an interrupt once this many bytes are on disk
  void begin(const std::string&, const std::string&, std::uint64_t) override {}
  void advance(std::uint64_t done) override {
    last = done;
    ++advances;
    if (interrupt_at && done >= interrupt_at) request_interrupt();
  }
  void end(bool) override {}
  void note(const std::string& m) override { notes.push_back(m); }
};

std::uint64_t sent(const nlohmann::json& stats, const std::string& path) {
  return stats["bytes_sent"].value(path, std::uint64_t{0});
}

constexpr std::size_t k_size = 3 * 1024 * 1024 + 123;

}  // namespace

TEST_CASE("download fetches a whole file byte-exact", "[http]") {
  TempDir tmp;
  std::string content = random_bytes(k_size, 1);
  write_file(tmp / "root/fw.bin", content);
  HttpFixture server(tmp / "root", tmp / "stats.json");
  HttpClient client(fast_options());
  RecordingProgress progress;
  auto r = client.download(server.url("fw.bin"), tmp / "fw.part", progress);
  REQUIRE(r.ok());
  CHECK(r->bytes_transferred == k_size);
  CHECK(r->file_size == k_size);
  CHECK_FALSE(r->resumed);
  CHECK(*sha256_file(tmp / "fw.part") == sha256_hex(std::string_view(content)));
  CHECK(progress.last == k_size);
  CHECK(fs::exists(download_meta_path(tmp / "fw.part")));
  auto stats = server.stats();
  CHECK(stats["requests"] == 1);
  CHECK(sent(stats, "/fw.bin") == k_size);
}

TEST_CASE("download follows redirects", "[http]") {
  TempDir tmp;
  std::string content = random_bytes(5000, 2);
  write_file(tmp / "root/fw.bin", content);
  HttpFixture server(tmp / "root", tmp / "stats.json");
  HttpClient client(fast_options());
  auto r = client.download(server.url("redirect/fw.bin"), tmp / "fw.part", null_progress());
  REQUIRE(r.ok());
  CHECK(read_file(tmp / "fw.part") == content);
}

TEST_CASE("a connection dropped mid-body is resumed and only the missing bytes move", "[http]") {
  TempDir tmp;
  std::string content = random_bytes(k_size, 3);
  write_file(tmp / "root/fw.bin", content);
  HttpFixture server(tmp / "root", tmp / "stats.json", {"--drop-after", "1000000", "--drop-count", "1"});
  HttpClient client(fast_options());
  RecordingProgress progress;
  auto r = client.download(server.url("fw.bin"), tmp / "fw.part", progress);
  REQUIRE(r.ok());
  CHECK(read_file(tmp / "fw.part") == content);
  CHECK(r->bytes_transferred == k_size);
  CHECK(r->file_size == k_size);
  CHECK(r->resumed);
  CHECK(progress.notes.size() == 1);
  auto stats = server.stats();
  CHECK(stats["requests"] == 2);
  CHECK(sent(stats, "/fw.bin") == k_size);
  REQUIRE(stats["ranges"].size() == 1);
  CHECK(stats["ranges"][0]["range"] == "bytes=1000000-");
  CHECK(stats["ranges"][0]["status"] == 206);
  CHECK(stats["ranges"][0]["if_range"].get<std::string>().front() == '"');  // the ETag
}

TEST_CASE("a later call resumes a partial file from an earlier one", "[http]") {
  TempDir tmp;
  std::string content = random_bytes(k_size, 4);
  write_file(tmp / "root/fw.bin", content);
  HttpFixture server(tmp / "root", tmp / "stats.json", {"--drop-after", "700000"});
  {
    HttpClient once(fast_options(1));
    auto r = once.download(server.url("fw.bin"), tmp / "fw.part", null_progress());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::network);
    CHECK(fs::file_size(tmp / "fw.part") == 700000);
  }
  HttpClient client(fast_options());
  auto r = client.download(server.url("fw.bin"), tmp / "fw.part", null_progress());
  REQUIRE(r.ok());
  CHECK(r->resumed);
  CHECK(r->bytes_transferred == k_size - 700000);
  CHECK(r->file_size == k_size);
  CHECK(read_file(tmp / "fw.part") == content);
  CHECK(sent(server.stats(), "/fw.bin") == k_size);
}

TEST_CASE("resume uses Last-Modified when the server sends no ETag", "[http]") {
  TempDir tmp;
  std::string content = random_bytes(k_size, 5);
  write_file(tmp / "root/fw.bin", content);
  HttpFixture server(tmp / "root", tmp / "stats.json", {"--drop-after", "500000", "--no-etag"});
  HttpClient client(fast_options());
  auto r = client.download(server.url("fw.bin"), tmp / "fw.part", null_progress());
  REQUIRE(r.ok());
  CHECK(r->resumed);
  CHECK(read_file(tmp / "fw.part") == content);
  auto stats = server.stats();
  REQUIRE(stats["ranges"].size() == 1);
  CHECK(stats["ranges"][0]["status"] == 206);
  CHECK(stats["ranges"][0]["if_range"].get<std::string>().find("GMT") != std::string::npos);
}

TEST_CASE("a changed resource restarts the download from zero", "[http]") {
  TempDir tmp;
  std::string old_content = random_bytes(k_size, 6);
  write_file(tmp / "root/fw.bin", old_content);
  HttpFixture server(tmp / "root", tmp / "stats.json", {"--drop-after", "800000"});
  {
    HttpClient once(fast_options(1));
    REQUIRE_FALSE(once.download(server.url("fw.bin"), tmp / "fw.part", null_progress()).ok());
  }
  std::string new_content = random_bytes(k_size / 2, 7);
  write_file(tmp / "root/fw.bin", new_content);
  HttpClient client(fast_options());
  auto r = client.download(server.url("fw.bin"), tmp / "fw.part", null_progress());
  REQUIRE(r.ok());
  CHECK_FALSE(r->resumed);
  CHECK(r->file_size == new_content.size());
  CHECK(read_file(tmp / "fw.part") == new_content);
  auto stats = server.stats();
  REQUIRE(stats["ranges"].size() == 1);
  CHECK(stats["ranges"][0]["range"] == "bytes=800000-");
  CHECK(stats["ranges"][0]["status"] == 200);  // If-Range did not match
}

TEST_CASE("a server that ignores Range gets a clean restart", "[http]") {
  TempDir tmp;
  std::string content = random_bytes(k_size, 8);
  write_file(tmp / "root/fw.bin", content);
  HttpFixture server(tmp / "root", tmp / "stats.json", {"--drop-after", "600000", "--ignore-range"});
  HttpClient client(fast_options());
  auto r = client.download(server.url("fw.bin"), tmp / "fw.part", null_progress());
  REQUIRE(r.ok());
  CHECK_FALSE(r->resumed);
  CHECK(r->bytes_transferred == 600000 + k_size);
  CHECK(read_file(tmp / "fw.part") == content);
}

TEST_CASE("416 on a complete partial file means done", "[http]") {
  TempDir tmp;
  std::string content = random_bytes(k_size, 9);
  write_file(tmp / "root/fw.bin", content);
  HttpFixture server(tmp / "root", tmp / "stats.json");
  HttpClient client(fast_options());
  REQUIRE(client.download(server.url("fw.bin"), tmp / "fw.part", null_progress()).ok());
  auto r = client.download(server.url("fw.bin"), tmp / "fw.part", null_progress());
  REQUIRE(r.ok());
  CHECK(r->bytes_transferred == 0);
  CHECK(r->file_size == k_size);
  CHECK(read_file(tmp / "fw.part") == content);
  auto stats = server.stats();
  CHECK(stats["requests"] == 2);
  CHECK(stats["statuses"][1] == 416);
  CHECK(sent(stats, "/fw.bin") == k_size);
}

TEST_CASE("416 with a partial file longer than the resource restarts", "[http]") {
  TempDir tmp;
  std::string content = random_bytes(100000, 10);
  write_file(tmp / "root/fw.bin", content);
  HttpFixture server(tmp / "root", tmp / "stats.json");
  HttpClient client(fast_options());
  REQUIRE(client.download(server.url("fw.bin"), tmp / "fw.part", null_progress()).ok());
  {
    std::ofstream grow(tmp / "fw.part", std::ios::binary | std::ios::app);
    grow << "trailing garbage";
  }
  auto r = client.download(server.url("fw.bin"), tmp / "fw.part", null_progress());
  REQUIRE(r.ok());
  CHECK_FALSE(r->resumed);
  CHECK(read_file(tmp / "fw.part") == content);
  auto stats = server.stats();
  CHECK(stats["statuses"] == nlohmann::json::array({200, 416, 200}));
}

TEST_CASE("503 and 429 are retried, then the download succeeds", "[http]") {
  TempDir tmp;
  std::string content = random_bytes(10000, 11);
  write_file(tmp / "root/fw.bin", content);
  HttpFixture server(tmp / "root", tmp / "stats.json", {"--status-sequence", "503,429"});
  HttpClient client(fast_options());
  RecordingProgress progress;
  auto r = client.download(server.url("fw.bin"), tmp / "fw.part", progress);
  REQUIRE(r.ok());
  CHECK(read_file(tmp / "fw.part") == content);
  CHECK(server.stats()["statuses"] == nlohmann::json::array({503, 429, 200}));
  CHECK(progress.notes.size() == 2);
}

TEST_CASE("request retries 5xx and 429 with Retry-After", "[http]") {
  TempDir tmp;
  fs::create_directories(tmp / "root");
  HttpFixture server(tmp / "root", tmp / "stats.json", {"--status-sequence", "500,429", "--retry-after", "0"});
  HttpClient client(fast_options());
  auto r = client.request("POST", server.url("echo"), R"({"x":1})");
  REQUIRE(r.ok());
  CHECK(r->status == 200);
  CHECK(server.stats()["requests"] == 3);
}

TEST_CASE("a persistent 503 ends in Errc::network after the last attempt", "[http]") {
  TempDir tmp;
  fs::create_directories(tmp / "root");
  HttpFixture server(tmp / "root", tmp / "stats.json", {"--status-sequence", "503,503,503,503,503"});
  HttpClient client(fast_options(3));
  auto r = client.request("GET", server.url("anything"));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::network);
  CHECK_THAT(r.error().message, Catch::Contains("HTTP 503 after 3 attempts"));
  CHECK(server.stats()["requests"] == 3);
}

TEST_CASE("404 is not retried", "[http]") {
  TempDir tmp;
  fs::create_directories(tmp / "root");
  HttpFixture server(tmp / "root", tmp / "stats.json");
  HttpClient client(fast_options());
  auto d = client.download(server.url("missing.bin"), tmp / "x.part", null_progress());
  REQUIRE_FALSE(d.ok());
  CHECK(d.error().code == Errc::not_found);
  CHECK_THAT(d.error().message, Catch::Contains("HTTP 404"));
  CHECK(server.stats()["requests"] == 1);
  auto r = client.request("GET", server.url("missing.json"));
  REQUIRE(r.ok());  // the caller decides what a 404 means
  CHECK(r->status == 404);
  CHECK(server.stats()["requests"] == 2);
}

TEST_CASE("connection refused ends quickly in Errc::network naming the address", "[http]") {
  TempDir tmp;
  int port = ecuup::test::unused_loopback_port();
  HttpClient client(fast_options(3));
  auto start = std::chrono::steady_clock::now();
  auto r = client.download("http://127.0.0.1:" + std::to_string(port) + "/fw.bin", tmp / "fw.part",
                           null_progress());
  auto elapsed = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::network);
  CHECK_THAT(r.error().message,
             Catch::Contains("connect to 127.0.0.1:" + std::to_string(port) + ": Connection refused"));
  CHECK_THAT(r.error().message, Catch::Contains("after 3 attempts"));
  CHECK(elapsed < std::chrono::seconds(10));  // a bound, not a speed claim: no backoff blow-up
  auto q = client.request("GET", "http://127.0.0.1:" + std::to_string(port) + "/x");
  REQUIRE_FALSE(q.ok());
  CHECK(q.error().code == Errc::network);
}

// The dir repository's own files; a server's link never gets file:// (allow_file_urls).
HttpOptions file_options() {
  HttpOptions o = fast_options();
  o.allow_file_urls = true;
  return o;
}

TEST_CASE("file:// is refused unless allowed, for the request and for redirects", "[http]") {
  TempDir tmp;
  write_file(tmp / "src/fw.bin", "firmware");
  auto refused = HttpClient(fast_options(1)).download("file://" + (tmp / "src/fw.bin").string(), tmp / "a.part",
                                                      null_progress());
  REQUIRE_FALSE(refused.ok());
  CHECK(read_file(tmp / "a.part").empty());
  auto ftp = HttpClient(file_options()).download("ftp://127.0.0.1:9/fw.bin", tmp / "b.part", null_progress());
  REQUIRE_FALSE(ftp.ok());
}

TEST_CASE("a body longer than max_bytes is cut off there and refused", "[http]") {
  TempDir tmp;
  std::string content = random_bytes(300000, 15);
  write_file(tmp / "src/fw.bin", content);
  auto r = HttpClient(file_options()).download("file://" + (tmp / "src/fw.bin").string(), tmp / "fw.part",
                                               null_progress(), 100000);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::verify);
  CHECK(fs::file_size(tmp / "fw.part") <= 100000);
  auto exact = HttpClient(file_options()).download("file://" + (tmp / "src/fw.bin").string(), tmp / "ok.part",
                                                   null_progress(), 300000);
  REQUIRE(exact.ok());
  CHECK(read_file(tmp / "ok.part") == content);
}

TEST_CASE("file:// downloads and resumes", "[http]") {
  TempDir tmp;
  std::string content = random_bytes(k_size, 12);
  write_file(tmp / "src/fw.bin", content);
  std::string url = "file://" + (tmp / "src/fw.bin").string();
  HttpClient client(file_options());
  auto r = client.download(url, tmp / "fw.part", null_progress());
  REQUIRE(r.ok());
  CHECK(read_file(tmp / "fw.part") == content);
  CHECK(r->file_size == k_size);
  fs::resize_file(tmp / "fw.part", 1000000);
  r = client.download(url, tmp / "fw.part", null_progress());
  REQUIRE(r.ok());
  CHECK(r->resumed);
  CHECK(r->bytes_transferred == k_size - 1000000);
  CHECK(read_file(tmp / "fw.part") == content);

  auto missing = client.download("file://" + (tmp / "nope.bin").string(), tmp / "nope.part", null_progress());
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == Errc::not_found);
}

TEST_CASE("file:// restarts when the source file changed", "[http]") {
  TempDir tmp;
  write_file(tmp / "src/fw.bin", random_bytes(200000, 13));
  std::string url = "file://" + (tmp / "src/fw.bin").string();
  HttpClient client(file_options());
  REQUIRE(client.download(url, tmp / "fw.part", null_progress()).ok());
  fs::resize_file(tmp / "fw.part", 50000);
  std::string changed = random_bytes(300000, 14);
  write_file(tmp / "src/fw.bin", changed);
  auto r = client.download(url, tmp / "fw.part", null_progress());
  REQUIRE(r.ok());
  CHECK_FALSE(r->resumed);
  CHECK(read_file(tmp / "fw.part") == changed);
}

TEST_CASE("request sends JSON and returns the answer", "[http]") {
  TempDir tmp;
  fs::create_directories(tmp / "root");
  HttpFixture server(tmp / "root", tmp / "stats.json");
  HttpClient client(fast_options());
  nlohmann::json sent_body = {{"status", {{"execution", "closed"}}}, {"details", {"a", "b"}}};
  auto r = client.request("POST", server.url("feedback?x=1"), sent_body.dump());
  REQUIRE(r.ok());
  CHECK(r->status == 200);
  CHECK(r->headers["content-type"] == "application/json");
  auto echo = nlohmann::json::parse(r->body);
  CHECK(echo["method"] == "POST");
  CHECK(echo["path"] == "/feedback?x=1");
  CHECK(echo["content_type"] == "application/json");
  CHECK(echo["json"] == sent_body);

  auto put = client.request("PUT", server.url("p"), "plain", "text/plain");
  REQUIRE(put.ok());
  CHECK(nlohmann::json::parse(put->body)["content_type"] == "text/plain");
}

TEST_CASE("credentials never appear in error text", "[http]") {
  TempDir tmp;
  write_file(tmp / "root/fw.bin", "payload");
  HttpFixture server(tmp / "root", tmp / "stats.json", {"--require-header", "Authorization: TargetToken right-one"});
  const std::string secret = "s3cr3t-wr0ng-t0ken";
  HttpOptions o = fast_options(2);
  o.headers = {"Authorization: TargetToken " + secret};
  HttpClient wrong(o);
  RecordingProgress progress;
  auto d = wrong.download(server.url("fw.bin"), tmp / "fw.part", progress);
  REQUIRE_FALSE(d.ok());
  CHECK(d.error().code == Errc::auth);
  CHECK(d.error().message.find(secret) == std::string::npos);

  auto r = wrong.request("GET", server.url("fw.bin"));
  REQUIRE(r.ok());
  CHECK(r->status == 401);

  int port = ecuup::test::unused_loopback_port();
  auto refused = wrong.download("http://user:" + secret + "@127.0.0.1:" + std::to_string(port) + "/fw.bin",
                                tmp / "x.part", progress);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message.find(secret) == std::string::npos);
  for (const auto& n : progress.notes) CHECK(n.find(secret) == std::string::npos);

  auto presigned = wrong.download("http://127.0.0.1:" + std::to_string(port) + "/fw.bin?X-Amz-Signature=" + secret +
                                      "&part=1&access_token=" + secret,
                                  tmp / "y.part", progress);
  REQUIRE_FALSE(presigned.ok());
  CHECK(presigned.error().message.find(secret) == std::string::npos);
  CHECK_THAT(presigned.error().message, Catch::Contains("part=1"));

  o.headers = {"Authorization: TargetToken right-one"};
  HttpClient right(o);
  auto ok = right.download(server.url("fw.bin"), tmp / "fw2.part", null_progress());
  REQUIRE(ok.ok());
  CHECK(read_file(tmp / "fw2.part") == "payload");
}

TEST_CASE("an interrupt stops the download and keeps the partial file", "[http]") {
  TempDir tmp;
  std::string content = random_bytes(k_size, 15);
  write_file(tmp / "root/fw.bin", content);
  HttpFixture server(tmp / "root", tmp / "stats.json", {"--chunk-delay-ms", "20"});
  HttpClient client(fast_options());
  RecordingProgress progress;
  progress.interrupt_at = 1;
  auto r = client.download(server.url("fw.bin"), tmp / "fw.part", progress);
  clear_interrupt();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::interrupted);
  auto kept = fs::file_size(tmp / "fw.part");
  CHECK(kept > 0);
  CHECK(kept < k_size);

  auto again = client.download(server.url("fw.bin"), tmp / "fw.part", null_progress());
  REQUIRE(again.ok());
  CHECK(again->resumed);
  CHECK(again->bytes_transferred == k_size - kept);
  CHECK(read_file(tmp / "fw.part") == content);
}

namespace {

// A self-signed certificate for 127.0.0.1 made with the openssl command line; false without it.
bool make_certificate(const fs::path& dir, const std::string& name) {
  if (std::system("command -v openssl >/dev/null 2>&1") != 0) return false;
  std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "
                    "/CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout '" +
                    (dir / (name + ".key")).string() + "' -out '" + (dir / (name + ".pem")).string() +
                    "' >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

}  // namespace

TEST_CASE("TLS is verified against the system store or the configured CA", "[http][tls]") {
  TempDir tmp;
  if (!make_certificate(tmp.path(), "server") || !make_certificate(tmp.path(), "other")) {
    WARN("openssl command line not found: TLS test skipped");
    return;
  }
  write_file(tmp / "root/fw.bin", "over tls");
  HttpFixture server(tmp / "root", tmp / "stats.json",
                     {"--tls-cert", (tmp / "server.pem").string(), "--tls-key", (tmp / "server.key").string()});
  std::string url = "https://127.0.0.1:" + std::to_string(server.port()) + "/fw.bin";

  HttpClient system_store(fast_options(1));
  auto r = system_store.request("GET", url);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::auth);  // refused (exit 8): no retry fixes trust
  CHECK_THAT(r.error().message, Catch::Contains("certificate verification failed"));
  CHECK_THAT(r.error().message, Catch::Contains("system trust store"));

  HttpOptions wrong_ca = fast_options(1);
  wrong_ca.ca_file = (tmp / "other.pem").string();
  auto w = HttpClient(wrong_ca).download(url, tmp / "w.part", null_progress());
  REQUIRE_FALSE(w.ok());
  CHECK(w.error().code == Errc::auth);
  CHECK_THAT(w.error().message, Catch::Contains("certificate verification failed"));
  CHECK_THAT(w.error().message, Catch::Contains(wrong_ca.ca_file));

  HttpOptions right_ca = fast_options(1);
  right_ca.ca_file = (tmp / "server.pem").string();
  auto ok = HttpClient(right_ca).download(url, tmp / "ok.part", null_progress());
  REQUIRE(ok.ok());
  CHECK(read_file(tmp / "ok.part") == "over tls");

  HttpOptions insecure = fast_options(1);
  insecure.verify_tls = false;
  auto i = HttpClient(insecure).request("GET", url);
  REQUIRE(i.ok());
  CHECK(i->status == 200);
}

TEST_CASE("a client certificate is presented when configured", "[http][tls]") {
  TempDir tmp;
  if (!make_certificate(tmp.path(), "server") || !make_certificate(tmp.path(), "client")) {
    WARN("openssl command line not found: TLS test skipped");
    return;
  }
  write_file(tmp / "root/fw.bin", "mutual");
  HttpFixture server(tmp / "root", tmp / "stats.json",
                     {"--tls-cert", (tmp / "server.pem").string(), "--tls-key", (tmp / "server.key").string(),
                      "--tls-client-ca", (tmp / "client.pem").string()});
  std::string url = "https://127.0.0.1:" + std::to_string(server.port()) + "/fw.bin";
  HttpOptions o = fast_options(1);
  o.ca_file = (tmp / "server.pem").string();
  auto without = HttpClient(o).request("GET", url);
  REQUIRE_FALSE(without.ok());
  CHECK(without.error().code == Errc::network);

  o.client_cert = (tmp / "client.pem").string();
  o.client_key = (tmp / "client.key").string();
  auto with = HttpClient(o).request("GET", url);
  REQUIRE(with.ok());
  CHECK(with->body == "mutual");

  o.client_cert = (tmp / "missing.pem").string();
  auto bad = HttpClient(o).request("GET", url);
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.error().message, Catch::Contains("missing.pem"));
}

TEST_CASE("a stalled transfer is abandoned after the low-speed timeout and retried", "[http]") {
  TempDir tmp;
  std::string content = random_bytes(100000, 16);
  write_file(tmp / "root/fw.bin", content);
  // Silent right after the headers: libcurl averages speed over a few seconds, so a stall after
  // many bytes takes longer to notice; resuming after a broken transfer is tested above.
  HttpFixture server(tmp / "root", tmp / "stats.json", {"--stall-after", "0", "--stall-ms", "20000"});
  HttpOptions o = fast_options();
  o.low_speed_timeout = std::chrono::seconds(1);
  HttpClient client(o);
  auto r = client.download(server.url("fw.bin"), tmp / "fw.part", null_progress());
  REQUIRE(r.ok());
  CHECK(read_file(tmp / "fw.part") == content);
  CHECK(server.stats()["requests"] == 2);
}

TEST_CASE("Retry-After is honoured up to backoff_max", "[http]") {
  TempDir tmp;
  fs::create_directories(tmp / "root");
  HttpFixture server(tmp / "root", tmp / "stats.json", {"--status-sequence", "503", "--retry-after", "1"});
  HttpOptions o = fast_options();
  o.backoff_max = std::chrono::milliseconds(5000);
  HttpClient client(o);
  auto start = std::chrono::steady_clock::now();
  auto r = client.request("POST", server.url("echo"), "{}");
  auto waited = std::chrono::steady_clock::now() - start;
  REQUIRE(r.ok());
  CHECK(r->status == 200);
  CHECK(waited >= std::chrono::milliseconds(900));  // the server asked for one second
}

TEST_CASE("an empty resource downloads to an empty file", "[http]") {
  TempDir tmp;
  write_file(tmp / "root/empty.bin", "");
  HttpFixture server(tmp / "root", tmp / "stats.json");
  HttpClient client(fast_options());
  write_file(tmp / "e.part", "stale bytes without a validator");
  auto r = client.download(server.url("empty.bin"), tmp / "e.part", null_progress());
  REQUIRE(r.ok());
  CHECK(r->file_size == 0);
  CHECK(fs::file_size(tmp / "e.part") == 0);
}

TEST_CASE("proxy environment variables are honoured", "[http]") {
  TempDir tmp;
  write_file(tmp / "root/fw.bin", "via proxy");
  HttpFixture proxy(tmp / "root", tmp / "stats.json");
  std::string saved_no_proxy[2];
  const char* no_proxy_names[2] = {"no_proxy", "NO_PROXY"};
  for (int i = 0; i < 2; ++i) {
    if (const char* v = std::getenv(no_proxy_names[i])) saved_no_proxy[i] = v;
    ::unsetenv(no_proxy_names[i]);
  }
  ::setenv("http_proxy", proxy.base().c_str(), 1);
  HttpClient client(fast_options(1));
  // .invalid never resolves (RFC 2606): only the proxy can answer this.
  auto r = client.download("http://ecuup-update.invalid/fw.bin", tmp / "fw.part", null_progress());
  ::unsetenv("http_proxy");
  for (int i = 0; i < 2; ++i)
    if (!saved_no_proxy[i].empty()) ::setenv(no_proxy_names[i], saved_no_proxy[i].c_str(), 1);
  REQUIRE(r.ok());
  CHECK(read_file(tmp / "fw.part") == "via proxy");
}
