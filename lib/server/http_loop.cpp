#include "server/http_loop.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

namespace ecuup::server {

namespace {

using Clock = std::chrono::steady_clock;

// epoll keys: the listener and the stop event; connections count up from k_first_connection.
constexpr std::uint64_t k_listener_key = 0;
constexpr std::uint64_t k_stop_key = 1;
constexpr std::uint64_t k_first_connection = 2;
constexpr std::size_t k_read_chunk = 16 * 1024;
// Responses are gathered up to this size and sent with one write; larger bodies go out directly.
constexpr std::size_t k_write_gather = 64 * 1024;
constexpr int k_listen_backlog = 1024;
constexpr auto k_sweep_interval = std::chrono::milliseconds(500);
constexpr int k_epoll_wait_ms = 500;
constexpr std::uint32_t k_conn_events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
constexpr std::string_view k_head_end = "\r\n\r\n";
constexpr std::string_view k_close_header = "\r\nConnection: close\r\n";
constexpr std::string_view k_interim_prefix = "HTTP/1.1 1";
// After a refusal whose body was never read (413, 401 before the body), the server half-closes
// and reads on for at most this long (RFC 9112 section 9.6): closing with unread bytes makes the
// kernel send a reset, and a reset can reach the client before it has read the refusal.
constexpr auto k_linger = std::chrono::seconds(2);

// Where a connection is: waiting in epoll (armed), with a worker (busy), or being closed.
enum class ConnState { armed, busy };

struct Conn {
  std::uint64_t key = 0;
  int fd = -1;
  SSL* ssl = nullptr;
  bool handshaken = false;
  std::string in;  // received, not yet consumed
  std::size_t in_off = 0;
  std::string out;  // written by a handler, not yet sent
  std::string remote_ip;
  int remote_port = 0;
  std::string local_ip;
  int local_port = 0;
  std::size_t served = 0;
  std::atomic<ConnState> state{ConnState::busy};
  Clock::time_point deadline;  // while armed: when it is closed if nothing comes

  ~Conn() {
    if (ssl) SSL_free(ssl);
    if (fd >= 0) ::close(fd);
  }
  std::size_t buffered() const { return in.size() - in_off; }
  std::string_view pending() const { return std::string_view(in).substr(in_off); }
  void consume(std::size_t n) {
    in_off += n;
    if (in_off == in.size()) {
      in.clear();
      in_off = 0;
    }
  }
};

bool wait_for(int fd, short events, std::chrono::milliseconds timeout) {
  pollfd p{fd, events, 0};
  for (;;) {
    int rc = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (rc < 0 && errno == EINTR) continue;
    return rc > 0 && (p.revents & (events | POLLHUP | POLLERR)) != 0;
  }
}

enum class Io { data, again_read, again_write, eof, error };

// What SSL_read or SSL_write returning `rc` means: bytes moved in `n`, or why none were.
Io ssl_io(SSL* ssl, int rc, std::size_t& n) {
  if (rc > 0) {
    n = static_cast<std::size_t>(rc);
    return Io::data;
  }
  switch (SSL_get_error(ssl, rc)) {
    case SSL_ERROR_WANT_READ: return Io::again_read;
    case SSL_ERROR_WANT_WRITE: return Io::again_write;
    case SSL_ERROR_ZERO_RETURN: return Io::eof;
    default: ERR_clear_error(); return Io::error;
  }
}

// One non-blocking read or write on the connection (TLS or not): bytes moved in `n`.
Io raw_read(Conn& c, char* buf, std::size_t size, std::size_t& n) {
  n = 0;
  if (c.ssl) {
    int rc = SSL_read(c.ssl, buf, static_cast<int>(std::min<std::size_t>(size, INT32_MAX)));
    return ssl_io(c.ssl, rc, n);
  }
  for (;;) {
    ssize_t rc = ::recv(c.fd, buf, size, 0);
    if (rc > 0) {
      n = static_cast<std::size_t>(rc);
      return Io::data;
    }
    if (rc == 0) return Io::eof;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK ? Io::again_read : Io::error;
  }
}

Io raw_write(Conn& c, const char* buf, std::size_t size, std::size_t& n) {
  n = 0;
  if (c.ssl) {
    int rc = SSL_write(c.ssl, buf, static_cast<int>(std::min<std::size_t>(size, INT32_MAX)));
    const Io io = ssl_io(c.ssl, rc, n);
    return io == Io::eof ? Io::error : io;  // a peer that closed cannot take more
  }
  for (;;) {
    ssize_t rc = ::send(c.fd, buf, size, MSG_NOSIGNAL);
    if (rc >= 0) {
      n = static_cast<std::size_t>(rc);
      return Io::data;
    }
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK ? Io::again_write : Io::error;
  }
}

// Waits for what an again_* result needs; false on timeout or error.
bool wait_io(const Conn& c, Io io, std::chrono::milliseconds timeout) {
  if (io == Io::again_read) return wait_for(c.fd, POLLIN, timeout);
  if (io == Io::again_write) return wait_for(c.fd, POLLOUT, timeout);
  return false;
}

bool send_all(Conn& c, const char* data, std::size_t size, std::chrono::milliseconds timeout) {
  while (size > 0) {
    std::size_t n = 0;
    Io io = raw_write(c, data, size, n);
    if (io == Io::data) {
      data += n;
      size -= n;
    } else if (!wait_io(c, io, timeout)) {
      return false;
    }
  }
  return true;
}

// Blocking reads and gathered writes with timeouts over the non-blocking socket, for
// cpp-httplib's request processing. Notes whether the response asked to close the connection.
class ConnStream : public httplib::Stream {
 public:
  ConnStream(Conn& conn, std::chrono::milliseconds timeout) : m_conn(conn), m_timeout(timeout) {}

  bool is_readable() const override {
    if (m_conn.buffered() > 0 || (m_conn.ssl && SSL_pending(m_conn.ssl) > 0)) return true;
    return wait_for(m_conn.fd, POLLIN, m_timeout);
  }
  bool is_writable() const override { return m_failed ? false : wait_for(m_conn.fd, POLLOUT, m_timeout); }

  ssize_t read(char* ptr, std::size_t size) override {
    // An interim "100 Continue" must reach the client before it sends the body.
    if (!flush()) return -1;
    if (m_conn.buffered() == 0) {
      char chunk[k_read_chunk];
      // Small reads (cpp-httplib reads the head a byte at a time) are served from the buffer.
      bool direct = size >= sizeof chunk;
      char* into = direct ? ptr : chunk;
      std::size_t want = direct ? size : sizeof chunk;
      std::size_t n = 0;
      for (;;) {
        Io io = raw_read(m_conn, into, want, n);
        if (io == Io::data) break;
        if (io == Io::eof) return 0;
        if (!wait_io(m_conn, io, m_timeout)) return -1;
      }
      if (direct) return static_cast<ssize_t>(n);
      m_conn.in.assign(chunk, n);
      m_conn.in_off = 0;
    }
    std::size_t n = std::min(size, m_conn.buffered());
    std::memcpy(ptr, m_conn.in.data() + m_conn.in_off, n);
    m_conn.consume(n);
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, std::size_t size) override {
    if (m_failed) return -1;
    if (m_head_pending) note_head(std::string_view(ptr, size));
    if (m_conn.out.size() + size <= k_write_gather) {
      m_conn.out.append(ptr, size);
      return static_cast<ssize_t>(size);
    }
    if (!flush() || !send_all(m_conn, ptr, size, m_timeout)) {
      m_failed = true;
      return -1;
    }
    return static_cast<ssize_t>(size);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = m_conn.remote_ip;
    port = m_conn.remote_port;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = m_conn.local_ip;
    port = m_conn.local_port;
  }
  socket_t socket() const override { return m_conn.fd; }

  // Sends what was gathered.
  bool flush() {
    if (m_conn.out.empty()) return !m_failed;
    bool ok = !m_failed && send_all(m_conn, m_conn.out.data(), m_conn.out.size(), m_timeout);
    m_conn.out.clear();
    m_failed = m_failed || !ok;
    return ok;
  }

  // The response's head said "Connection: close" (a refusal whose body was never read).
  bool close_requested() const { return m_close; }

 private:
  // cpp-httplib writes a response's status line and headers with one write.
  void note_head(std::string_view data) {
    if (data.starts_with(k_interim_prefix)) return;
    m_head_pending = false;
    auto end = data.find(k_head_end);
    m_close = data.substr(0, end == std::string_view::npos ? data.size() : end + 2).find(k_close_header) !=
              std::string_view::npos;
  }

  Conn& m_conn;
  std::chrono::milliseconds m_timeout;
  bool m_head_pending = true;
  bool m_close = false;
  bool m_failed = false;
};

bool iequals_ascii(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

// What the loop needs to know of a request before it is parsed in full.
struct HeadFacts {
  std::string_view method;
  std::string_view target;
  std::optional<std::uint64_t> content_length;
  bool chunked = false;
  bool expect_continue = false;
  std::size_t head_size = 0;  // bytes up to and including the blank line
};

std::optional<HeadFacts> scan_head(std::string_view data) {
  auto end = data.find(k_head_end);
  if (end == std::string_view::npos) return std::nullopt;
  HeadFacts facts;
  facts.head_size = end + k_head_end.size();
  std::string_view head = data.substr(0, end + 2);
  auto line_end = head.find("\r\n");
  std::string_view line = head.substr(0, line_end);
  auto sp1 = line.find(' ');
  auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 != std::string_view::npos) {
    facts.method = line.substr(0, sp1);
    facts.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  }
  std::size_t pos = line_end + 2;
  while (pos < head.size()) {
    auto next = head.find("\r\n", pos);
    std::string_view header = head.substr(pos, next - pos);
    pos = next + 2;
    auto colon = header.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = header.substr(0, colon);
    std::string_view value = header.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (iequals_ascii(name, "Content-Length")) {
      std::uint64_t n = 0;
      bool digits = !value.empty();
      for (char ch : value) {
        if (ch < '0' || ch > '9' || n > UINT64_MAX / 10) {
          digits = false;
          break;
        }
        n = n * 10 + static_cast<std::uint64_t>(ch - '0');
      }
      // cpp-httplib answers a malformed length itself; the loop only must not wait for a body.
      facts.content_length = digits ? std::optional<std::uint64_t>(n) : std::optional<std::uint64_t>(UINT64_MAX);
    } else if (iequals_ascii(name, "Transfer-Encoding")) {
      facts.chunked = true;
    } else if (iequals_ascii(name, "Expect")) {
      facts.expect_continue = true;
    }
  }
  return facts;
}

std::pair<std::string, int> address_text(const sockaddr_storage& addr, socklen_t len) {
  char host[NI_MAXHOST] = "";
  char port[NI_MAXSERV] = "";
  if (::getnameinfo(reinterpret_cast<const sockaddr*>(&addr), len, host, sizeof host, port, sizeof port,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return {"", 0};
  }
  return {host, std::atoi(port)};
}

}  // namespace

Result<std::shared_ptr<SSL_CTX>> make_tls_context(const std::string& cert_file, const std::string& key_file) {
  std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  if (!ctx) return make_error(Errc::internal, "cannot create a TLS context");
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_COMPRESSION | SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION);
  // Writes may be retried with the same bytes from another buffer (ConnStream gathers them).
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert_file.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx.get(), key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx.get()) != 1) {
    ERR_clear_error();
    return make_error(Errc::config,
                      "TLS certificate " + cert_file + " or key " + key_file + " could not be loaded");
  }
  return ctx;
}

struct HttpLoop::Impl {
  Impl(RequestProcessor& p, LoopOptions o, LaneOf l, std::shared_ptr<SSL_CTX> t)
      : processor(p), options(o), lane_of(std::move(l)), tls(std::move(t)) {}

  RequestProcessor& processor;
  const LoopOptions options;
  const LaneOf lane_of;
  const std::shared_ptr<SSL_CTX> tls;

  int listen_fd = -1;
  int epoll_fd = -1;
  int stop_fd = -1;
  std::atomic<bool> stopping{false};

  mutable std::mutex registry_mutex;
  std::unordered_map<std::uint64_t, std::shared_ptr<Conn>> registry;
  std::uint64_t next_key = k_first_connection;

  std::mutex sweep_mutex;
  std::atomic<Clock::rep> last_sweep{0};

  std::mutex transfer_mutex;
  std::condition_variable transfer_ready;
  std::deque<std::shared_ptr<Conn>> transfers;

  ~Impl() {
    if (listen_fd >= 0) ::close(listen_fd);
    if (epoll_fd >= 0) ::close(epoll_fd);
    if (stop_fd >= 0) ::close(stop_fd);
  }

  std::shared_ptr<Conn> find(std::uint64_t key) {
    std::scoped_lock lock(registry_mutex);
    auto it = registry.find(key);
    return it == registry.end() ? nullptr : it->second;
  }

  void close_conn(const std::shared_ptr<Conn>& c, bool linger = false) {
    ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c->fd, nullptr);
    if (c->ssl && c->handshaken) {
      // A close_notify, best effort: the socket is non-blocking and closed next.
      SSL_shutdown(c->ssl);
      ERR_clear_error();
    }
    if (linger) drain_after_half_close(c->fd);
    std::scoped_lock lock(registry_mutex);
    registry.erase(c->key);
  }

  // Half-closes and throws away what the client still sends, until it closes too or k_linger has
  // passed; TLS records are thrown away unread as well.
  static void drain_after_half_close(int fd) {
    ::shutdown(fd, SHUT_WR);
    auto until = Clock::now() + k_linger;
    char sink[k_read_chunk];
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
      if (left.count() <= 0 || !wait_for(fd, POLLIN, left)) return;
      ssize_t n = ::recv(fd, sink, sizeof sink, 0);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) return;
    }
  }

  // Back into epoll until the next request; `deadline` closes it if nothing comes.
  void arm(const std::shared_ptr<Conn>& c, std::chrono::milliseconds wait) {
    c->deadline = Clock::now() + wait;
    c->state.store(ConnState::armed, std::memory_order_release);
    epoll_event ev{};
    ev.events = k_conn_events;
    ev.data.u64 = c->key;
    if (::epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c->fd, &ev) != 0) {
      ConnState armed = ConnState::armed;
      if (c->state.compare_exchange_strong(armed, ConnState::busy)) close_conn(c);
    }
  }

  void accept_all() {
    for (;;) {
      sockaddr_storage peer{};
      socklen_t peer_len = sizeof peer;
      int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&peer), &peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        // Out of descriptors: the pending connections wait in the backlog a moment.
        if (errno == EMFILE || errno == ENFILE) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        break;
      }
      int yes = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
      auto c = std::make_shared<Conn>();
      c->fd = fd;
      std::tie(c->remote_ip, c->remote_port) = address_text(peer, peer_len);
      sockaddr_storage local{};
      socklen_t local_len = sizeof local;
      if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) == 0) {
        std::tie(c->local_ip, c->local_port) = address_text(local, local_len);
      }
      if (tls) {
        c->ssl = SSL_new(tls.get());
        if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1) continue;  // ~Conn closes it
        SSL_set_accept_state(c->ssl);
      }
      {
        std::scoped_lock lock(registry_mutex);
        c->key = next_key++;
        registry.emplace(c->key, c);
      }
      c->deadline = Clock::now() + options.io_timeout;
      c->state.store(ConnState::armed, std::memory_order_release);
      epoll_event ev{};
      ev.events = k_conn_events;
      ev.data.u64 = c->key;
      if (::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        std::scoped_lock lock(registry_mutex);
        registry.erase(c->key);
      }
    }
  }

  // Closes connections whose wait ran out: idle keep-alives, and clients that stall mid-head.
  void sweep() {
    auto now = Clock::now();
    auto last = Clock::time_point(Clock::duration(last_sweep.load()));
    if (now - last < k_sweep_interval) return;
    std::unique_lock guard(sweep_mutex, std::try_to_lock);
    if (!guard) return;
    last_sweep.store(now.time_since_epoch().count());
    std::vector<std::shared_ptr<Conn>> expired;
    {
      std::scoped_lock lock(registry_mutex);
      for (auto& [key, c] : registry) {
        if (c->state.load(std::memory_order_acquire) != ConnState::armed || c->deadline > now) continue;
        ConnState armed = ConnState::armed;
        if (c->state.compare_exchange_strong(armed, ConnState::busy)) expired.push_back(c);
      }
    }
    for (auto& c : expired) close_conn(c);
  }

  // Reads what has arrived, without waiting. false: the peer is gone or the stream broke.
  bool fill(Conn& c) {
    for (;;) {
      if (c.buffered() > options.max_head_bytes + options.max_buffered_body) return true;
      char chunk[k_read_chunk];
      std::size_t n = 0;
      Io io = raw_read(c, chunk, sizeof chunk, n);
      if (io == Io::again_read) return true;
      if (io == Io::again_write) return wait_io(c, io, options.io_timeout);
      if (io != Io::data) return false;
      if (c.in_off > 0) {
        c.in.erase(0, c.in_off);
        c.in_off = 0;
      }
      c.in.append(chunk, n);
      if (n < sizeof chunk && !(c.ssl && SSL_pending(c.ssl) > 0)) return true;
    }
  }

  // Serves the connection a worker has just taken; it ends armed again, queued for a transfer
  // worker, or closed.
  void handle(const std::shared_ptr<Conn>& c, Lane worker_lane) {
    Conn& conn = *c;
    for (;;) {
      if (conn.ssl && !conn.handshaken) {
        int rc = SSL_accept(conn.ssl);
        if (rc != 1) {
          int err = SSL_get_error(conn.ssl, rc);
          ERR_clear_error();
          if (err == SSL_ERROR_WANT_READ) return arm(c, options.io_timeout);
          if (err == SSL_ERROR_WANT_WRITE && wait_for(conn.fd, POLLOUT, options.io_timeout)) continue;
          return close_conn(c);
        }
        conn.handshaken = true;
      }
      bool alive = true;
      if (worker_lane == Lane::quick) alive = fill(conn);
      auto facts = scan_head(conn.pending());
      if (!facts) {
        if (!alive || conn.buffered() > options.max_head_bytes) return close_conn(c);
        // Half a head: wait for the rest, but no longer than a read may stall.
        return arm(c, conn.buffered() == 0 ? options.keep_alive_timeout : options.io_timeout);
      }
      Lane lane = lane_of(facts->method, facts->target);
      std::uint64_t body = facts->content_length.value_or(0);
      bool small_body = !facts->chunked && !facts->expect_continue && body <= options.max_buffered_body;
      if (!small_body) {
        lane = Lane::transfer;
      } else if (worker_lane == Lane::quick && conn.buffered() < facts->head_size + body) {
        if (!alive) return close_conn(c);
        return arm(c, options.io_timeout);
      }
      if (lane == Lane::transfer && worker_lane == Lane::quick) {
        {
          std::scoped_lock lock(transfer_mutex);
          transfers.push_back(c);
        }
        transfer_ready.notify_one();
        return;
      }
      // A refusal of a request that declared a body is lingered over: the client may still be sending it.
      const bool body_declared = facts->chunked || body > 0;
      ConnStream stream(conn, options.io_timeout);
      bool last = ++conn.served >= options.keep_alive_max_count;
      bool client_closes = false;
      bool ok = processor.serve_one(stream, last, client_closes);
      ok = stream.flush() && ok;
      if (ok && stream.close_requested()) return close_conn(c, /*linger=*/body_declared);
      if (!ok || last || client_closes) return close_conn(c);
      // A pipelined request already here is served at once, on the worker it needs.
      if (conn.buffered() > 0 || (conn.ssl && SSL_pending(conn.ssl) > 0)) {
        worker_lane = Lane::quick;
        continue;
      }
      return arm(c, options.keep_alive_timeout);
    }
  }

  void quick_worker() {
    while (!stopping.load()) {
      epoll_event ev{};
      int n = ::epoll_wait(epoll_fd, &ev, 1, k_epoll_wait_ms);
      sweep();
      if (n <= 0 || stopping.load()) continue;
      if (ev.data.u64 == k_stop_key) continue;
      if (ev.data.u64 == k_listener_key) {
        accept_all();
        epoll_event again{};
        again.events = EPOLLIN | EPOLLONESHOT;
        again.data.u64 = k_listener_key;
        ::epoll_ctl(epoll_fd, EPOLL_CTL_MOD, listen_fd, &again);
        continue;
      }
      auto c = find(ev.data.u64);
      if (!c) continue;
      ConnState armed = ConnState::armed;
      if (!c->state.compare_exchange_strong(armed, ConnState::busy)) continue;  // the sweeper took it
      handle(c, Lane::quick);
    }
  }

  void transfer_worker() {
    for (;;) {
      std::shared_ptr<Conn> c;
      {
        std::unique_lock lock(transfer_mutex);
        transfer_ready.wait(lock, [&] { return stopping.load() || !transfers.empty(); });
        if (stopping.load()) return;
        c = std::move(transfers.front());
        transfers.pop_front();
      }
      handle(c, Lane::transfer);
    }
  }
};

HttpLoop::HttpLoop(RequestProcessor& processor, LoopOptions options, LaneOf lane_of, std::shared_ptr<SSL_CTX> tls)
    : m_impl(std::make_unique<Impl>(processor, options, std::move(lane_of), std::move(tls))) {}

HttpLoop::~HttpLoop() = default;

Result<int> HttpLoop::bind(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  std::string service = std::to_string(port);
  std::string where = host + ":" + (port == 0 ? std::string("(ephemeral port)") : service);
  if (::getaddrinfo(host.c_str(), service.c_str(), &hints, &found) != 0) {
    return make_error(Errc::io, "cannot listen on " + where + ": unknown host");
  }
  int fd = -1;
  int last_errno = 0;
  for (addrinfo* a = found; a && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    // SO_REUSEADDR allows a quick restart; no SO_REUSEPORT, which would let a second server bind
    // the same port and take half the connections.
    int yes = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (a->ai_family == AF_INET6) {
      int no = 0;
      ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &no, sizeof no);
    }
    if (::bind(fd, a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd, k_listen_backlog) != 0) {
      last_errno = errno;
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(found);
  if (fd < 0) return make_error(Errc::io, "cannot listen on " + where + ": " + std::strerror(last_errno));
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  if (m_impl->listen_fd >= 0) ::close(m_impl->listen_fd);
  m_impl->listen_fd = fd;
  return address_text(addr, len).second;
}

Result<void> HttpLoop::run() {
  Impl& impl = *m_impl;
  if (impl.listen_fd < 0) return make_error(Errc::internal, "HttpLoop::run before bind");
  impl.epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  impl.stop_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (impl.epoll_fd < 0 || impl.stop_fd < 0) return make_error(Errc::io, "epoll: " + std::string(std::strerror(errno)));
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLONESHOT;
  ev.data.u64 = k_listener_key;
  ::epoll_ctl(impl.epoll_fd, EPOLL_CTL_ADD, impl.listen_fd, &ev);
  // Level-triggered and never consumed: once stop() writes it, every worker's wait returns.
  ev.events = EPOLLIN;
  ev.data.u64 = k_stop_key;
  ::epoll_ctl(impl.epoll_fd, EPOLL_CTL_ADD, impl.stop_fd, &ev);
  if (impl.stopping.load()) return success();

  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < std::max<std::size_t>(1, impl.options.workers); ++i) {
    threads.emplace_back([&impl] { impl.quick_worker(); });
  }
  for (std::size_t i = 0; i < std::max<std::size_t>(1, impl.options.transfer_workers); ++i) {
    threads.emplace_back([&impl] { impl.transfer_worker(); });
  }
  for (auto& t : threads) t.join();
  std::scoped_lock lock(impl.registry_mutex);
  impl.registry.clear();
  impl.transfers.clear();
  return success();
}

void HttpLoop::stop() {
  Impl& impl = *m_impl;
  impl.stopping.store(true);
  if (impl.stop_fd >= 0) {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(impl.stop_fd, &one, sizeof one);
  }
  {
    std::scoped_lock lock(impl.transfer_mutex);
  }
  impl.transfer_ready.notify_all();
}

std::size_t HttpLoop::connections() const {
  std::scoped_lock lock(m_impl->registry_mutex);
  return m_impl->registry.size();
}

}  // namespace ecuup::server
