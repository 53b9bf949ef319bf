#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "server/http_loop.hpp"

using namespace ecuup;
using namespace ecuup::server;

namespace {

// A loop on 127.0.0.1 with one quick worker and one transfer worker, running on its own thread.
class TestServer {
 public:
  explicit TestServer(RequestProcessor& processor, std::size_t workers = 1) {
    LoopOptions options{.workers = workers, .transfer_workers = 1};
    m_loop = std::make_unique<HttpLoop>(
        processor, options,
        [](std::string_view, std::string_view target) {
          return target.starts_with("/slow") ? Lane::transfer : Lane::quick;
        },
        nullptr);
    auto port = m_loop->bind("127.0.0.1", 0);
    REQUIRE(port);
    m_port = *port;
    m_thread = std::thread([this] { m_result = m_loop->run(); });
  }
  ~TestServer() {
    m_loop->stop();
    m_thread.join();
  }
  int port() const { return m_port; }
  HttpLoop& loop() { return *m_loop; }

 private:
  std::unique_ptr<HttpLoop> m_loop;
  int m_port = 0;
  std::thread m_thread;
  Result<void> m_result = success();
};

// A plain TCP client for what httplib::Client would not do (pipelining, half requests).
class RawClient {
 public:
  explicit RawClient(int port) {
    m_fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(m_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  }
  ~RawClient() { ::close(m_fd); }
  void send(std::string_view data) { REQUIRE(::send(m_fd, data.data(), data.size(), MSG_NOSIGNAL) == ssize_t(data.size())); }
  // Reads until `count` occurrences of `needle` arrived, the peer closed, or 10 s passed.
  std::string read_until(std::string_view needle, int count = 1) {
    std::string got;
    while (occurrences(got, needle) < count) {
      pollfd p{m_fd, POLLIN, 0};
      if (::poll(&p, 1, 10000) <= 0) break;
      char buf[4096];
      ssize_t n = ::recv(m_fd, buf, sizeof buf, 0);
      if (n <= 0) {
        m_eof = true;
        break;
      }
      got.append(buf, static_cast<std::size_t>(n));
    }
    return got;
  }
  // Whether the server closed the connection (within 10 s).
  bool closed_by_peer() {
    read_until("\x01never\x01");
    return m_eof;
  }

 private:
  static int occurrences(const std::string& text, std::string_view needle) {
    int n = 0;
    for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) ++n;
    return n;
  }
  int m_fd = -1;
  bool m_eof = false;
};

void install_echo(RequestProcessor& processor) {
  processor.Get("/hello", [](const httplib::Request& req, httplib::Response& res) {
    res.set_content("hello " + req.remote_addr, "text/plain");
  });
  processor.Post("/echo", [](const httplib::Request& req, httplib::Response& res) {
    res.set_content(req.body, "text/plain");
  });
  processor.Get("/refuse", [](const httplib::Request&, httplib::Response& res) {
    res.status = 413;
    res.set_header("Connection", "close");
    res.set_content("no", "text/plain");
  });
}

}  // namespace

TEST_CASE("http loop: serves requests on a keep-alive connection", "[server][http_loop]") {
  RequestProcessor processor;
  install_echo(processor);
  TestServer server(processor);
  httplib::Client client("127.0.0.1", server.port());
  client.set_keep_alive(true);
  for (int i = 0; i < 20; ++i) {
    auto res = client.Get("/hello");
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(res->body == "hello 127.0.0.1");
  }
  CHECK(server.loop().connections() == 1);
  auto posted = client.Post("/echo", std::string(100000, 'x'), "text/plain");
  REQUIRE(posted);
  CHECK(posted->body.size() == 100000);
  auto missing = client.Get("/nothing");
  REQUIRE(missing);
  CHECK(missing->status == 404);
}

TEST_CASE("http loop: an idle or half-sent connection holds no worker", "[server][http_loop]") {
  RequestProcessor processor;
  install_echo(processor);
  TestServer server(processor, 1);
  RawClient idle(server.port());
  RawClient half(server.port());
  half.send("GET /hello HTTP/1.1\r\nHost: x\r\n");
  // With one worker, a thread per connection would now be stuck on `idle` or `half`.
  httplib::Client client("127.0.0.1", server.port());
  client.set_read_timeout(10, 0);
  auto res = client.Get("/hello");
  REQUIRE(res);
  CHECK(res->status == 200);
  // The rest of the half-sent head completes its request.
  half.send("\r\n");
  CHECK(half.read_until("hello 127.0.0.1").find("200 OK") != std::string::npos);
}

TEST_CASE("http loop: pipelined requests are answered in order", "[server][http_loop]") {
  RequestProcessor processor;
  install_echo(processor);
  TestServer server(processor);
  RawClient raw(server.port());
  raw.send(
      "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nabcde"
      "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string got = raw.read_until("HTTP/1.1 ", 3);
  got += raw.read_until("\r\n\r\n");
  auto first = got.find("hello 127.0.0.1");
  auto second = got.find("abcde");
  auto third = got.find("404");
  REQUIRE(first != std::string::npos);
  REQUIRE(second != std::string::npos);
  REQUIRE(third != std::string::npos);
  CHECK(first < second);
  CHECK(second < third);
}

TEST_CASE("http loop: a connection is closed when the client or the response says so", "[server][http_loop]") {
  RequestProcessor processor;
  install_echo(processor);
  TestServer server(processor);
  {
    RawClient raw(server.port());
    raw.send("GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(raw.read_until("hello").find("200 OK") != std::string::npos);
    CHECK(raw.closed_by_peer());
  }
  {
    RawClient raw(server.port());
    raw.send("GET /refuse HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(raw.read_until("no").find("413") != std::string::npos);
    CHECK(raw.closed_by_peer());
  }
  {
    // HTTP/1.0 without keep-alive closes too.
    RawClient raw(server.port());
    raw.send("GET /hello HTTP/1.0\r\n\r\n");
    CHECK(raw.closed_by_peer());
  }
}

TEST_CASE("http loop: a request on the transfer lane does not hold the quick worker", "[server][http_loop]") {
  RequestProcessor processor;
  install_echo(processor);
  std::mutex mutex;
  std::condition_variable cv;
  bool release = false;
  bool entered = false;
  processor.Get("/slow", [&](const httplib::Request&, httplib::Response& res) {
    std::unique_lock lock(mutex);
    entered = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
    res.set_content("slow done", "text/plain");
  });
  TestServer server(processor, 1);
  RawClient slow(server.port());
  slow.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
  {
    std::unique_lock lock(mutex);
    cv.wait(lock, [&] { return entered; });
  }
  httplib::Client client("127.0.0.1", server.port());
  auto res = client.Get("/hello");
  REQUIRE(res);
  CHECK(res->status == 200);
  {
    std::scoped_lock lock(mutex);
    release = true;
  }
  cv.notify_all();
  CHECK(slow.read_until("slow done").find("200 OK") != std::string::npos);
}
