#pragma once
// Anticipated failures travel as Result<T>; only the CLI boundary turns them into a message and
// an exit code. An Error carries a kind (what a script can act on) and a message that gains
// context as it rises ("flash bms: TransferData block 17: ...").
#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace ecuup {

enum class Errc {
  usage,            // bad command line
  config,           // bad config file or bad input file (YAML, image)
  io,               // local file system
  manifest,         // manifest unreadable or inconsistent
  locked,           // another ecuup holds the manifest lock
  network,          // server unreachable, connection dropped, HTTP 5xx/429: retry later
  server,           // server answered something we cannot use (4xx, bad JSON)
  auth,             // server refused our credentials, or TLS trust failed (exit 8, not "retry later")
  verify,           // a hash, size or version check failed before anything was touched
  wrong_vehicle,    // the vehicle answering is not the one the config names (VIN); nothing touched
  preconditions,    // a precondition (battery, speed, bench) is not met; nothing touched
  not_found,
  timeout,          // a peer (ECU, server) went silent
  protocol,         // a peer broke the protocol (unexpected frame, malformed response)
  negative_response,// an ECU answered a UDS request with an NRC
  ecu,              // an ECU driver failed (vendor tool exit status, flash write)
  flash_restored,   // flash failed, the backup was programmed back and verified
  flash_unrestored, // flash failed and restore failed too: the ECU needs a person
  no_backup,        // refusing to flash without a verified backup
  cancelled,        // the server cancelled the action
  interrupted,      // SIGINT/SIGTERM
  unsupported,
  internal,
};

const char* errc_name(Errc code);

struct Error {
  Errc code = Errc::internal;
  std::string message;

  // Prefix context: Error{..., "timeout"}.context("flash bms") -> "flash bms: timeout".
  Error context(const std::string& where) const& { return Error{code, where + ": " + message}; }
  Error context(const std::string& where) && {
    message = where + ": " + message;
    return std::move(*this);
  }
};

inline Error make_error(Errc code, std::string message) { return Error{code, std::move(message)}; }

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : m_v(std::move(value)) {}
  Result(Error error) : m_v(std::move(error)) {}

  bool ok() const { return m_v.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(m_v); }
  const T& value() const& { assert(ok()); return std::get<0>(m_v); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(m_v)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& { assert(!ok()); return std::get<1>(m_v); }
  Error&& error() && { assert(!ok()); return std::get<1>(std::move(m_v)); }

  // On error, prefix the message with `where`; a value passes through.
  Result with_context(const std::string& where) && {
    if (!ok()) std::get<1>(m_v) = std::get<1>(std::move(m_v)).context(where);
    return std::move(*this);
  }

 private:
  std::variant<T, Error> m_v;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : m_error(std::move(error)), m_ok(false) {}

  bool ok() const { return m_ok; }
  explicit operator bool() const { return m_ok; }
  const Error& error() const& { assert(!m_ok); return m_error; }
  Error&& error() && { assert(!m_ok); return std::move(m_error); }

  Result with_context(const std::string& where) && {
    if (!m_ok) m_error = std::move(m_error).context(where);
    return std::move(*this);
  }

 private:
  Error m_error;
  bool m_ok = true;
};

inline Result<void> success() { return {}; }

}  // namespace ecuup

// Propagate an error from an expression yielding Result<...>, optionally adding context.
#define ECUUP_TRY(expr)                               \
  do {                                                \
    auto ecuup_try_r_ = (expr);                       \
    if (!ecuup_try_r_) return std::move(ecuup_try_r_).error(); \
  } while (0)

#define ECUUP_CONCAT_INNER(a, b) a##b
#define ECUUP_CONCAT(a, b) ECUUP_CONCAT_INNER(a, b)
// ECUUP_ASSIGN(auto x, f()); — binds the value or returns the error.
#define ECUUP_ASSIGN(decl, expr) ECUUP_ASSIGN_IMPL(ECUUP_CONCAT(ecuup_assign_r_, __LINE__), decl, expr)
#define ECUUP_ASSIGN_IMPL(tmp, decl, expr)      \
  auto tmp = (expr);                            \
  if (!tmp) return std::move(tmp).error();      \
  decl = std::move(tmp).value()
