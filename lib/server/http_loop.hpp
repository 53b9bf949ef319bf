#pragma once
// ecuup-server's connection handling: an epoll event loop served by a fixed pool of worker threads
// sized to the cores, instead of cpp-httplib's thread per connection. An idle keep-alive
// connection costs a socket and a small buffer, never a thread. A worker picks up a connection
// once a whole request head (and a small body) has arrived, so a slow or idle client never holds
// it; it then lets cpp-httplib parse the request and run the handlers (RequestProcessor), and puts
// the connection back into the loop. Requests that stream large bodies (artifact downloads,
// uploads; Lane::transfer) run on a second fixed pool, so they never hold a worker that polls
// need. TLS is OpenSSL on the same sockets.
#include <httplib.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "server/router.hpp"
#include "util/result.hpp"

using SSL_CTX = struct ssl_ctx_st;

namespace ecuup::server {

// cpp-httplib's request parsing, handler dispatch and response writing for one request on a
// stream the loop provides. Configure handlers on it as on any httplib::Server; never listen().
class RequestProcessor : public httplib::Server {
 public:
  // cpp-httplib stops streaming a response body once its own listening socket is gone, and this
  // server never opens one: mark it present (it is never used as a socket).
  RequestProcessor() { svr_sock_ = k_no_own_listener; }

  // One request from `stream`; false when the connection cannot go on (closed, unreadable,
  // write failed). `connection_closed`: the client asked to close after this request.
  bool serve_one(httplib::Stream& stream, bool close_connection, bool& connection_closed) {
    return process_request(stream, close_connection, connection_closed, nullptr);
  }

 private:
  static constexpr socket_t k_no_own_listener = 0;
};

struct LoopOptions {
  std::size_t workers = 2;            // Lane::quick
  std::size_t transfer_workers = 16;  // Lane::transfer
  std::chrono::milliseconds keep_alive_timeout{5000};
  std::size_t keep_alive_max_count = 1000;  // requests per connection before it is closed
  // How long a started request, or one read or write of it, may stall.
  std::chrono::milliseconds io_timeout{5000};
  std::size_t max_head_bytes = 16 * 1024;  // request line and headers
  // A body up to this size (with Content-Length) is buffered before a worker takes the request;
  // a larger one is read by a transfer worker as it arrives.
  std::size_t max_buffered_body = 64 * 1024;
};

// An OpenSSL server context from a PEM certificate (chain may follow) and its key.
// Errc::config when they cannot be loaded or do not match.
Result<std::shared_ptr<SSL_CTX>> make_tls_context(const std::string& cert_file, const std::string& key_file);

class HttpLoop {
 public:
  // `lane_of(method, target)` puts a request on its lane from its request line alone.
  using LaneOf = std::function<Lane(std::string_view method, std::string_view target)>;
  // `tls` null: plain HTTP.
  HttpLoop(RequestProcessor& processor, LoopOptions options, LaneOf lane_of, std::shared_ptr<SSL_CTX> tls);
  ~HttpLoop();
  HttpLoop(const HttpLoop&) = delete;
  HttpLoop& operator=(const HttpLoop&) = delete;

  // Listens on host:port (port 0: an ephemeral one); returns the port.
  Result<int> bind(const std::string& host, int port);
  // Serves until stop(); then closes every connection.
  Result<void> run();
  // From any thread (not from a signal handler).
  void stop();

  // Connections open now (for tests).
  std::size_t connections() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> m_impl;
};

}  // namespace ecuup::server
