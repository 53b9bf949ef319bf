#include "net/http.hpp"

#include <curl/curl.h>
#include <fmt/format.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "net/http_status.hpp"
#include "util/cancel.hpp"
#include "util/fs.hpp"
#include "util/pipelined_writer.hpp"

namespace ecuup {

namespace fs = std::filesystem;

namespace {

constexpr long k_max_redirects = 10;
// A large receive buffer keeps loopback downloads close to the curl command line's speed.
constexpr long k_receive_buffer_bytes = 512 * 1024;
constexpr std::size_t k_download_chunk_bytes = 1024 * 1024;  // one write(2) per MiB
constexpr std::size_t k_download_chunks = 4;                  // how far hashing may lag behind
// request() keeps the body in memory; anything larger is not an API answer.
constexpr std::size_t k_max_response_body_bytes = 64u * 1024u * 1024u;
constexpr auto k_sleep_slice = std::chrono::milliseconds(50);
// CURLOPT_SSL_VERIFYHOST: 2 = the certificate must name the host we asked for.
constexpr long k_verify_host_name = 2;
// Retry-After seconds beyond this (~31 years) are nonsense; they saturate instead of overflowing.
constexpr std::size_t k_max_retry_after_digits = 9;

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct EasyDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
using EasyHandle = std::unique_ptr<CURL, EasyDeleter>;

struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

struct UrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};

std::string to_lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string trim(const std::string& s) {
  std::size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return {};
  std::size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

struct UrlParts {
  std::string scheme;
  std::string host;
  std::string port;
  std::string path;  // URL-decoded
};

std::optional<UrlParts> parse_url(const std::string& url) {
  std::unique_ptr<CURLU, UrlDeleter> u(curl_url());
  if (!u || curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) return std::nullopt;
  UrlParts parts;
  auto get = [&](CURLUPart part, unsigned flags, std::string& out) {
    char* value = nullptr;
    if (curl_url_get(u.get(), part, &value, flags) == CURLUE_OK && value) {
      out = value;
      curl_free(value);
    }
  };
  get(CURLUPART_SCHEME, 0, parts.scheme);
  get(CURLUPART_HOST, 0, parts.host);
  get(CURLUPART_PORT, CURLU_DEFAULT_PORT, parts.port);
  get(CURLUPART_PATH, CURLU_URLDECODE, parts.path);
  parts.scheme = to_lower(parts.scheme);
  return parts;
}

bool is_file_url(const std::string& url) {
  return to_lower(url.substr(0, std::min<std::size_t>(url.size(), 7))) == "file://";
}

bool is_secret_parameter(std::string name) {
  name = to_lower(std::move(name));
  for (const char* word : {"token", "sig", "key", "secret", "pass", "auth", "credential"})
    if (name.find(word) != std::string::npos) return true;
  return false;
}

// For messages: credentials in the user-info part and in query parameters such as a presigned
// URL's signature are replaced by "***". Request headers are never quoted at all.
std::string redacted_url(const std::string& url) {
  std::string out = url;
  std::size_t scheme_end = out.find("://");
  if (scheme_end != std::string::npos) {
    std::size_t authority = scheme_end + 3;
    std::size_t authority_end = out.find_first_of("/?#", authority);
    std::size_t at = out.find('@', authority);
    if (at != std::string::npos && (authority_end == std::string::npos || at < authority_end))
      out = out.substr(0, authority) + "***@" + out.substr(at + 1);
  }
  std::size_t query = out.find('?');
  if (query == std::string::npos) return out;
  std::size_t fragment = out.find('#', query);
  std::string tail = fragment == std::string::npos ? std::string() : out.substr(fragment);
  std::string params = out.substr(query + 1, fragment == std::string::npos ? std::string::npos : fragment - query - 1);
  std::string rebuilt;
  std::size_t start = 0;
  while (start <= params.size()) {
    std::size_t amp = params.find('&', start);
    if (amp == std::string::npos) amp = params.size();
    std::string param = params.substr(start, amp - start);
    std::size_t eq = param.find('=');
    if (eq != std::string::npos && is_secret_parameter(param.substr(0, eq))) param = param.substr(0, eq + 1) + "***";
    if (!rebuilt.empty() || start > 0) rebuilt += '&';
    rebuilt += param;
    start = amp + 1;
  }
  return out.substr(0, query + 1) + rebuilt + tail;
}

bool is_retryable_status(long status) {
  return status == k_http_too_many_requests ||
         (status >= k_http_server_error_min && status <= k_http_server_error_max);
}

bool is_tls_error(CURLcode code) {
  switch (code) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
      return true;
    default:
      return false;
  }
}

// Connection loss and timeouts may heal; everything else (bad URL, TLS, redirects) will not.
bool is_retryable_transport(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
      return true;
    default:
      return false;
  }
}

std::chrono::milliseconds backoff_delay(const HttpOptions& options, int attempt) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  auto cap = std::max(options.backoff_max.count(), std::chrono::milliseconds::rep{0});
  std::chrono::milliseconds::rep delay = std::max(options.backoff_base.count(), std::chrono::milliseconds::rep{0});
  for (int i = 1; i < attempt && delay < cap; ++i) delay *= 2;
  delay = std::min(delay, cap);
  if (delay <= 1) return std::chrono::milliseconds(delay);
  // Jitter spreads the retries of a fleet that lost the server at the same moment.
  std::uniform_int_distribution<std::chrono::milliseconds::rep> dist(delay / 2, delay);
  return std::chrono::milliseconds(dist(rng));
}

// Sleeps in slices so an interrupt ends the wait promptly.
bool sleep_interruptible(std::chrono::milliseconds delay) {
  auto until = std::chrono::steady_clock::now() + delay;
  while (std::chrono::steady_clock::now() < until) {
    if (interrupt_requested()) return false;
    auto left = until - std::chrono::steady_clock::now();
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(left, k_sleep_slice));
  }
  return !interrupt_requested();
}

std::optional<std::chrono::milliseconds> parse_retry_after(const std::map<std::string, std::string>& headers) {
  auto it = headers.find("retry-after");
  if (it == headers.end()) return std::nullopt;
  const std::string& v = it->second;
  if (v.empty() || !std::all_of(v.begin(), v.end(), [](unsigned char c) { return std::isdigit(c); }))
    return std::nullopt;  // an HTTP-date: fall back to our own backoff
  if (v.size() > k_max_retry_after_digits) return std::chrono::milliseconds::max();
  return std::chrono::seconds(std::stol(v));
}

// One transfer's state, shared with libcurl's callbacks.
struct Transfer {
  std::map<std::string, std::string> headers;
  std::string body;
  bool body_too_large = false;
  // download only
  int fd = -1;
  bool download = false;
  bool decided = false;  // first body byte seen: status known, file prepared
  bool write_to_file = false;
  bool range_requested = false;
  bool restarted = false;  // server sent the whole resource: file truncated
  std::uint64_t offset = 0;  // bytes on disk before this response's body
  std::uint64_t received = 0;
  std::uint64_t max_bytes = 0;  // 0: no limit
  bool too_long = false;        // the body ran past max_bytes
  int write_errno = 0;
  bool bad_range = false;  // 206 for another range than asked
  const fs::path* meta = nullptr;
  Progress* progress = nullptr;
  CURL* handle = nullptr;
  // Writes the body (and feeds Progress::on_bytes) on its own thread, in large chunks: libcurl
  // hands the body over 16 KiB at a time.
  std::unique_ptr<PipelinedWriter> writer;
};

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::size_t n = size * count;
  std::string line(data, n);
  if (line.rfind("HTTP/", 0) == 0) {
    t->headers.clear();  // a new response (redirect, 100 Continue): forget the previous one
    return n;
  }
  std::size_t colon = line.find(':');
  if (colon != std::string::npos) t->headers[to_lower(trim(line.substr(0, colon)))] = trim(line.substr(colon + 1));
  return n;
}

long response_code(CURL* h) {
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  return status;
}

bool is_success_status(long status, bool file_url) {
  if (file_url) return true;
  return status == k_http_ok || status == k_http_partial_content;
}

std::string validator_from(const std::map<std::string, std::string>& headers) {
  auto etag = headers.find("etag");
  // RFC 9110 13.1.5: If-Range needs a strong validator; a weak ETag cannot be used.
  if (etag != headers.end() && !etag->second.empty() && etag->second.rfind("W/", 0) != 0) return etag->second;
  auto modified = headers.find("last-modified");
  if (modified != headers.end()) return modified->second;
  return {};
}

// "bytes 100-199/12345" -> 100
std::optional<std::uint64_t> content_range_start(const std::map<std::string, std::string>& headers) {
  auto it = headers.find("content-range");
  if (it == headers.end()) return std::nullopt;
  std::string v = trim(it->second);
  if (v.rfind("bytes ", 0) != 0) return std::nullopt;
  std::size_t dash = v.find('-', 6);
  if (dash == std::string::npos || dash == 6) return std::nullopt;
  std::string start = v.substr(6, dash - 6);
  if (!std::all_of(start.begin(), start.end(), [](unsigned char c) { return std::isdigit(c); })) return std::nullopt;
  return std::stoull(start);
}

// Called at the first body byte: the status of the final response is known by then.
void start_writer(Transfer& t) {
  PipelinedWriter::Observer observer;
  if (t.progress) observer = [p = t.progress](std::uint64_t offset, ByteView data) { p->on_bytes(offset, data); };
  // The file is opened O_APPEND and t.offset is its size now: chunks land at t.offset onwards.
  // Direct I/O: the download is fsynced and read once to flash; caching it only costs.
  t.writer = std::make_unique<PipelinedWriter>(t.fd, t.offset, std::move(observer), k_download_chunk_bytes,
                                               k_download_chunks, DirectIo::where_aligned);
}

bool prepare_file_for(Transfer& t);

bool prepare_file(Transfer& t) {
  bool ok = prepare_file_for(t);
  if (ok && t.write_to_file) start_writer(t);
  return ok;
}

bool prepare_file_for(Transfer& t) {
  t.decided = true;
  long status = response_code(t.handle);
  bool file_url = status == 0;
  t.write_to_file = is_success_status(status, file_url);
  if (!t.write_to_file) return true;
  if (status == k_http_partial_content && t.range_requested) {
    // A 206 must continue exactly where our bytes end, or the file would be corrupt.
    auto start = content_range_start(t.headers);
    if (!start || *start != t.offset) {
      t.bad_range = true;
      return false;
    }
    return true;
  }
  if (!file_url) {
    if (t.offset > 0) {
      // 200 to a ranged request: the resource changed (If-Range) or ranges are unsupported.
      if (::ftruncate(t.fd, 0) != 0) {
        t.write_errno = errno;
        return false;
      }
      t.restarted = true;
      t.offset = 0;
    }
    std::string validator = validator_from(t.headers);
    std::error_code ec;
    if (validator.empty()) {
      fs::remove(*t.meta, ec);
    } else if (!write_file_atomic(*t.meta, validator + "\n")) {
      t.write_errno = errno ? errno : EIO;
      return false;
    }
  }
  return true;
}

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::size_t n = size * count;
  if (!t->download) {
    if (t->body.size() + n > k_max_response_body_bytes) {
      t->body_too_large = true;
      return 0;
    }
    t->body.append(data, n);
    return n;
  }
  if (!t->decided && !prepare_file(*t)) return 0;
  if (!t->write_to_file) return n;  // an error page: not part of the file
  if (t->max_bytes != 0 && t->offset + t->received + n > t->max_bytes) {
    // Endless data: keep what fits, refuse the rest.
    std::size_t fits = static_cast<std::size_t>(t->max_bytes - std::min(t->max_bytes, t->offset + t->received));
    if (fits > 0 && t->writer->append(reinterpret_cast<const std::uint8_t*>(data), fits)) t->received += fits;
    t->too_long = true;
    return 0;
  }
  if (!t->writer->append(reinterpret_cast<const std::uint8_t*>(data), n)) {
    t->write_errno = t->writer->error();
    return 0;
  }
  t->received += n;
  return n;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  if (interrupt_requested()) return 1;
  if (t->progress && t->write_to_file) t->progress->advance(t->offset + t->received);
  return 0;
}

// Options every transfer shares: timeouts, redirects, TLS, credentials headers.
Result<Slist> configure(CURL* h, const HttpOptions& o, const std::string& url, Transfer& t, char* errbuf,
                        const std::vector<std::string>& extra_headers) {
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(h, CURLOPT_MAXREDIRS, k_max_redirects);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, o.allow_file_urls ? "http,https,file" : "http,https");
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(o.connect_timeout.count()));
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, o.low_speed_limit_bps);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, static_cast<long>(o.low_speed_timeout.count()));
  curl_easy_setopt(h, CURLOPT_BUFFERSIZE, k_receive_buffer_bytes);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "ecuup/" ECUUP_VERSION);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, o.verify_tls ? 1L : 0L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, o.verify_tls ? k_verify_host_name : 0L);
  if (!o.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, o.ca_file.c_str());
  if (!o.client_cert.empty()) curl_easy_setopt(h, CURLOPT_SSLCERT, o.client_cert.c_str());
  if (!o.client_key.empty()) curl_easy_setopt(h, CURLOPT_SSLKEY, o.client_key.c_str());
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, &t);
  curl_slist* list = nullptr;
  // "Expect: 100-continue" only costs a round trip with the servers we talk to.
  list = curl_slist_append(list, "Expect:");
  for (const auto& hdr : o.headers) {
    if (list) list = curl_slist_append(list, hdr.c_str());
  }
  for (const auto& hdr : extra_headers) {
    if (list) list = curl_slist_append(list, hdr.c_str());
  }
  if (!list) return make_error(Errc::internal, "cannot build the request headers");
  Slist headers(list);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  return headers;
}

// Describes a failed transfer without ever quoting a request header.
std::string describe_transport(CURL* h, CURLcode code, const std::string& url, const HttpOptions& o,
                               const char* errbuf) {
  std::string detail = errbuf && *errbuf ? std::string(errbuf) : std::string(curl_easy_strerror(code));
  if (code == CURLE_COULDNT_CONNECT) {
    long os_errno = 0;
    curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
    auto parts = parse_url(url);
    std::string where = parts ? parts->host + ":" + parts->port : redacted_url(url);
    return "connect to " + where + ": " +
           (os_errno ? std::string(std::strerror(static_cast<int>(os_errno))) : detail);
  }
  if (code == CURLE_COULDNT_RESOLVE_HOST) {
    auto parts = parse_url(url);
    return "cannot resolve host " + (parts ? parts->host : redacted_url(url)) + ": " + detail;
  }
  if (is_tls_error(code)) {
    std::string ca = o.ca_file.empty() ? std::string("the system trust store") : "CA file " + o.ca_file;
    switch (code) {
      case CURLE_SSL_CERTPROBLEM:
        return "TLS client certificate " + o.client_cert + " unusable: " + detail;
      case CURLE_SSL_CACERT_BADFILE:
      case CURLE_SSL_CRL_BADFILE:
        return "TLS certificate verification failed: cannot use " + ca + ": " + detail;
      case CURLE_SSL_CONNECT_ERROR:
      case CURLE_SSL_CIPHER:
        return "TLS handshake failed (using " + ca + "): " + detail;
      default:
        return "TLS certificate verification failed (using " + ca + "): " + detail;
    }
  }
  if (code == CURLE_OPERATION_TIMEDOUT) return "timed out: " + detail;
  return detail;
}

std::string plural_attempts(int n) { return std::to_string(n) + (n == 1 ? " attempt" : " attempts"); }

Errc errc_for_status(long status) {
  if (status == k_http_unauthorized || status == k_http_forbidden) return Errc::auth;
  if (status == k_http_not_found || status == k_http_gone) return Errc::not_found;
  if (is_retryable_status(status)) return Errc::network;
  return Errc::server;
}

std::uint64_t file_size_of(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return 0;
  return static_cast<std::uint64_t>(st.st_size);
}

std::string read_validator(const fs::path& meta) {
  auto text = read_text_file(meta);
  if (!text) return {};
  return trim(*text);
}

// "bytes */12345" or "bytes 0-99/12345" -> 12345
std::optional<std::uint64_t> content_range_total(const std::map<std::string, std::string>& headers) {
  auto it = headers.find("content-range");
  if (it == headers.end()) return std::nullopt;
  std::size_t slash = it->second.rfind('/');
  if (slash == std::string::npos) return std::nullopt;
  std::string total = trim(it->second.substr(slash + 1));
  if (total.empty() || !std::all_of(total.begin(), total.end(), [](unsigned char c) { return std::isdigit(c); }))
    return std::nullopt;
  return std::stoull(total);
}

// The local file behind a file:// URL: size and mtime stand in for an ETag.
std::string file_url_validator(const std::string& url) {
  auto parts = parse_url(url);
  if (!parts) return {};
  struct stat st {};
  if (::stat(parts->path.c_str(), &st) != 0) return {};
  return "file:" + std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
         std::to_string(st.st_mtim.tv_nsec);
}

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : m_fd(fd) {}
  ~FileDescriptor() {
    if (m_fd >= 0) ::close(m_fd);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return m_fd; }

 private:
  int m_fd;
};

}  // namespace

fs::path download_meta_path(const fs::path& partial) {
  fs::path meta = partial;
  meta += ".meta";
  return meta;
}

HttpClient::HttpClient(HttpOptions options) : m_options(std::move(options)) { global_init(); }

Result<HttpResponse> HttpClient::request(const std::string& method, const std::string& url,
                                         const std::string& body, const std::string& content_type) {
  const std::string what = method + " " + redacted_url(url);
  int attempts = std::max(1, m_options.max_attempts);
  std::string last_failure;
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    if (interrupt_requested()) return make_error(Errc::interrupted, what + ": interrupted");
    EasyHandle handle(curl_easy_init());
    if (!handle) return make_error(Errc::internal, what + ": cannot create a libcurl handle");
    CURL* h = handle.get();
    Transfer t;
    t.handle = h;
    char errbuf[CURL_ERROR_SIZE] = {};
    std::vector<std::string> extra;
    if (!body.empty() && !content_type.empty()) extra.push_back("Content-Type: " + content_type);
    ECUUP_ASSIGN(Slist headers, configure(h, m_options, url, t, errbuf, extra));
    if (method == "GET") {
      curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (method == "HEAD") {
      curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else {
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
    }
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
    }
    CURLcode rc = curl_easy_perform(h);
    if (rc == CURLE_ABORTED_BY_CALLBACK) return make_error(Errc::interrupted, what + ": interrupted");
    if (rc == CURLE_WRITE_ERROR && t.body_too_large)
      return make_error(Errc::server, what + ": response larger than " +
                                          std::to_string(k_max_response_body_bytes) + " bytes");
    std::optional<std::chrono::milliseconds> server_delay;
    if (rc != CURLE_OK) {
      last_failure = describe_transport(h, rc, url, m_options, errbuf);
      if (!is_retryable_transport(rc))
        return make_error(is_tls_error(rc) ? Errc::auth : Errc::network, what + ": " + last_failure);
    } else {
      long status = response_code(h);
      if (!is_retryable_status(status)) {
        HttpResponse response;
        response.status = status;
        response.body = std::move(t.body);
        response.headers = std::move(t.headers);
        return response;
      }
      last_failure = "HTTP " + std::to_string(status);
      server_delay = parse_retry_after(t.headers);
    }
    if (attempt == attempts) break;
    auto delay = backoff_delay(m_options, attempt);
    if (server_delay) delay = std::min(std::max(delay, *server_delay), m_options.backoff_max);
    if (!sleep_interruptible(delay)) return make_error(Errc::interrupted, what + ": interrupted");
  }
  return make_error(Errc::network, what + ": " + last_failure + " after " + plural_attempts(attempts));
}

Result<DownloadResult> HttpClient::download(const std::string& url, const fs::path& partial, Progress& progress,
                                            std::uint64_t max_bytes) {
  const std::string what = "download " + redacted_url(url);
  const fs::path meta = download_meta_path(partial);
  const bool file_url = is_file_url(url);
  int attempts = std::max(1, m_options.max_attempts);
  DownloadResult result;
  std::string last_failure;
  Errc last_errc = Errc::network;
  bool restarted_after_416 = false;

  int raw_fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (raw_fd < 0) return make_error(Errc::io, what + ": cannot open " + partial.string() + ": " + std::strerror(errno));
  FileDescriptor fd(raw_fd);

  for (int attempt = 1; attempt <= attempts; ++attempt) {
    if (interrupt_requested()) return make_error(Errc::interrupted, what + ": interrupted");
    std::uint64_t on_disk = file_size_of(fd.get());
    if (max_bytes != 0 && on_disk > max_bytes) {
      // More than the artifact may have (an earlier server's endless data): start over.
      if (::ftruncate(fd.get(), 0) != 0)
        return make_error(Errc::io, what + ": cannot truncate " + partial.string() + ": " + std::strerror(errno));
      on_disk = 0;
    }
    std::string validator;
    if (on_disk > 0) {
      validator = read_validator(meta);
      std::string current = file_url ? file_url_validator(url) : std::string();
      // Without a validator the bytes on disk may belong to another version: start over.
      bool usable = file_url ? (!validator.empty() && validator == current) : !validator.empty();
      if (!usable) {
        if (::ftruncate(fd.get(), 0) != 0)
          return make_error(Errc::io, what + ": cannot truncate " + partial.string() + ": " + std::strerror(errno));
        on_disk = 0;
        result.resumed = false;
      }
    }
    if (file_url && on_disk == 0) {
      std::string current = file_url_validator(url);
      if (!current.empty() && !write_file_atomic(meta, current + "\n"))
        return make_error(Errc::io, what + ": cannot write " + meta.string());
    }

    EasyHandle handle(curl_easy_init());
    if (!handle) return make_error(Errc::internal, what + ": cannot create a libcurl handle");
    CURL* h = handle.get();
    Transfer t;
    t.handle = h;
    t.download = true;
    t.fd = fd.get();
    t.meta = &meta;
    t.progress = &progress;
    t.offset = on_disk;
    t.max_bytes = max_bytes;
    char errbuf[CURL_ERROR_SIZE] = {};
    std::vector<std::string> extra;
    std::string range = std::to_string(on_disk) + "-";
    if (on_disk > 0 && !file_url) {
      extra.push_back("If-Range: " + validator);
      t.range_requested = true;
    }
    ECUUP_ASSIGN(Slist headers, configure(h, m_options, url, t, errbuf, extra));
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    if (on_disk > 0) {
      if (file_url)
        curl_easy_setopt(h, CURLOPT_RESUME_FROM_LARGE, static_cast<curl_off_t>(on_disk));
      else
        curl_easy_setopt(h, CURLOPT_RANGE, range.c_str());
    }
    CURLcode rc = curl_easy_perform(h);
    if (t.writer) {
      int write_errno = t.writer->drain();  // every received byte is in the file from here on
      if (write_errno != 0 && t.write_errno == 0) t.write_errno = write_errno;
    }
    result.bytes_transferred += t.received;
    if (t.restarted) result.resumed = false;
    if (t.write_to_file && t.received > 0 && t.range_requested && !t.restarted) result.resumed = true;
    if (file_url && on_disk > 0 && rc == CURLE_OK) result.resumed = true;

    if (rc == CURLE_ABORTED_BY_CALLBACK) {
      ::fsync(fd.get());
      return make_error(Errc::interrupted, what + ": interrupted after " + std::to_string(file_size_of(fd.get())) +
                                               " bytes (kept in " + partial.string() + ")");
    }
    if (t.bad_range)
      return make_error(Errc::server, what + ": server answered 206 for another range than bytes=" + range);
    if (t.write_errno != 0)
      return make_error(Errc::io, what + ": cannot write " + partial.string() + ": " + std::strerror(t.write_errno));
    if (t.too_long) {
      ::fsync(fd.get());
      return make_error(Errc::verify, fmt::format("{}: the server sent more than the {} bytes announced; cut off "
                                                  "there and refused",
                                                  what, max_bytes));
    }

    std::optional<std::chrono::milliseconds> server_delay;
    if (rc != CURLE_OK) {
      last_failure = describe_transport(h, rc, url, m_options, errbuf);
      last_errc = Errc::network;
      if (file_url && rc == CURLE_BAD_DOWNLOAD_RESUME) {
        // The local file shrank below what we have: start over.
        if (::ftruncate(fd.get(), 0) != 0)
          return make_error(Errc::io, what + ": cannot truncate " + partial.string() + ": " + std::strerror(errno));
        continue;
      }
      if (file_url && rc == CURLE_FILE_COULDNT_READ_FILE)
        return make_error(Errc::not_found, what + ": " + last_failure);
      if (!is_retryable_transport(rc))
        return make_error(is_tls_error(rc) ? Errc::auth : Errc::network, what + ": " + last_failure);
    } else {
      long status = file_url ? 0 : response_code(h);
      if (is_success_status(status, file_url)) {
        if (!t.decided) {
          // Empty body: no write callback ran, so settle the file here.
          t.handle = h;
          if (!prepare_file(t) && t.bad_range)
            return make_error(Errc::server, what + ": server answered 206 for another range than bytes=" + range);
          if (t.write_errno != 0)
            return make_error(Errc::io, what + ": cannot write " + partial.string() + ": " +
                                            std::strerror(t.write_errno));
          if (t.restarted) result.resumed = false;
        }
        if (::fsync(fd.get()) != 0)
          return make_error(Errc::io, what + ": cannot fsync " + partial.string() + ": " + std::strerror(errno));
        result.file_size = file_size_of(fd.get());
        progress.advance(result.file_size);
        return result;
      }
      if (status == k_http_range_not_satisfiable && t.range_requested) {
        auto total = content_range_total(t.headers);
        if (total && *total == on_disk) {
          result.file_size = on_disk;
          result.resumed = true;
          progress.advance(on_disk);
          return result;
        }
        // We hold more than the resource has (or the server will not say): start over.
        if (::ftruncate(fd.get(), 0) != 0)
          return make_error(Errc::io, what + ": cannot truncate " + partial.string() + ": " + std::strerror(errno));
        std::error_code ec;
        fs::remove(meta, ec);
        result.resumed = false;
        // A restart is not a failed attempt; without a range the next answer cannot be 416 again.
        if (!restarted_after_416) --attempt;
        restarted_after_416 = true;
        continue;
      }
      last_failure = "HTTP " + std::to_string(status);
      last_errc = errc_for_status(status);
      if (!is_retryable_status(status)) return make_error(last_errc, what + ": " + last_failure);
      server_delay = parse_retry_after(t.headers);
    }
    if (attempt == attempts) break;
    auto delay = backoff_delay(m_options, attempt);
    if (server_delay) delay = std::min(std::max(delay, *server_delay), m_options.backoff_max);
    progress.note(what + ": " + last_failure + ", retrying in " + std::to_string(delay.count()) + " ms (attempt " +
                  std::to_string(attempt + 1) + " of " + std::to_string(attempts) + ")");
    if (!sleep_interruptible(delay)) return make_error(Errc::interrupted, what + ": interrupted");
  }
  return make_error(last_errc, what + ": " + last_failure + " after " + plural_attempts(attempts));
}

}  // namespace ecuup
