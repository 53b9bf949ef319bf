#include "api/live_log.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "util/cancel.hpp"
#include "util/time.hpp"

namespace ecuup::api {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

fs::path live_log_path(const fs::path& state_dir) { return state_dir / "progress.jsonl"; }

// The file and the run, shared by the lanes of parallel flashing.
struct LiveLog::Shared {
  std::mutex mutex;
  int fd = -1;
  bool started = false;
  std::string command;
  std::string run;
  Clock::time_point t0 = Clock::now();

  // One event, one write(2) of one whole line: a reader never sees half of one.
  void emit(nlohmann::json event) {
    std::lock_guard<std::mutex> lock(mutex);
    if (fd < 0) return;
    event["run"] = run;
    event["t"] = std::round(std::chrono::duration<double>(Clock::now() - t0).count() * 1000) / 1000;
    std::string line = event.dump() + "\n";
    if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
      ::close(fd);  // a full disk ends the log, never the run
      fd = -1;
    }
  }
};

nlohmann::json progress_position(const char* event, const ProgressTally& tally) {
  return {{"event", event},
          {"ecu", tally.ecu()},
          {"phase", tally.phase()},
          {"stage", tally.stage_name()},
          {"done", tally.done()},
          {"total", tally.total()},
          {"rate_bps", std::round(tally.rate())}};
}

// One job's view (one ECU at a time): its phase, stage and acknowledged bytes.
class LiveLog::Lane final : public Progress {
 public:
  Lane(Progress& inner, std::shared_ptr<Shared> shared) : m_inner(&inner), m_shared(std::move(shared)) {}
  Lane(std::unique_ptr<Progress> owned, std::shared_ptr<Shared> shared)
      : m_owned(std::move(owned)), m_inner(m_owned.get()), m_shared(std::move(shared)) {}

  void begin(const std::string& ecu, const std::string& phase, std::uint64_t total) override {
    m_inner->begin(ecu, phase, total);
    m_tally.begin(ecu, phase, total);
    m_last = {};
    m_shared->emit({{"event", "begin"}, {"ecu", ecu}, {"phase", phase}, {"total", total}});
  }
  void advance(std::uint64_t done) override {
    m_inner->advance(done);
    m_tally.advance(done);
    const auto now = Clock::now();
    if (now - m_last < std::chrono::milliseconds(250)) return;
    m_last = now;
    m_shared->emit(position("progress"));
  }
  void stage(const std::string& name) override {
    m_inner->stage(name);
    if (m_tally.stage(name)) m_shared->emit(position("stage"));
  }
  void end(bool ok) override {
    m_inner->end(ok);
    nlohmann::json j = position("end");
    j["ok"] = ok;
    j["seconds"] = m_tally.seconds();
    m_shared->emit(std::move(j));
  }
  void note(const std::string& message) override {
    m_inner->note(message);
    m_shared->emit({{"event", "note"}, {"ecu", m_tally.ecu()}, {"message", message}});
  }
  void on_bytes(std::uint64_t offset, ByteView data) override { m_inner->on_bytes(offset, data); }
  std::unique_ptr<Progress> concurrent_lane() override {
    return std::make_unique<Lane>(m_inner->concurrent_lane(), m_shared);
  }

 private:
  nlohmann::json position(const char* event) const {
    nlohmann::json j = progress_position(event, m_tally);
    if (auto eta = m_tally.eta_seconds()) j["eta_s"] = std::round(*eta * 10) / 10;
    return j;
  }

  std::unique_ptr<Progress> m_owned;
  Progress* m_inner;
  std::shared_ptr<Shared> m_shared;
  ProgressTally m_tally;
  Clock::time_point m_last;
};

LiveLog::LiveLog(Progress& inner, std::string command)
    : m_shared(std::make_shared<Shared>()), m_main(std::make_unique<Lane>(inner, m_shared)) {
  m_shared->command = std::move(command);
}

LiveLog::~LiveLog() {
  if (m_shared->fd >= 0) ::close(m_shared->fd);
}

void LiveLog::start(const fs::path& state_dir) {
  {
    std::lock_guard<std::mutex> lock(m_shared->mutex);
    if (m_shared->started) return;
    m_shared->started = true;
    const fs::path path = live_log_path(state_dir);
    m_shared->fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (m_shared->fd < 0) {
      const std::string why = std::strerror(errno);
      m_main->note(fmt::format("cannot write the live progress log {}: {}", path.string(), why));
      return;
    }
    m_shared->run = fmt::format("{}-{}", ::getpid(), now_iso8601());
    m_shared->t0 = Clock::now();
  }
  m_shared->emit({{"event", "run"},
                  {"schema", k_live_schema},
                  {"pid", ::getpid()},
                  {"command", m_shared->command},
                  {"at", now_iso8601()}});
}

void LiveLog::finish(int exit_code) {
  m_shared->emit({{"event", "exit"}, {"exit_code", exit_code}, {"at", now_iso8601()}});
}

void LiveLog::begin(const std::string& ecu, const std::string& phase, std::uint64_t total) {
  m_main->begin(ecu, phase, total);
}
void LiveLog::advance(std::uint64_t done) { m_main->advance(done); }
void LiveLog::stage(const std::string& name) { m_main->stage(name); }
void LiveLog::end(bool ok) { m_main->end(ok); }
void LiveLog::note(const std::string& message) { m_main->note(message); }
void LiveLog::on_bytes(std::uint64_t offset, ByteView data) { m_main->on_bytes(offset, data); }
std::unique_ptr<Progress> LiveLog::concurrent_lane() { return m_main->concurrent_lane(); }

namespace {

bool process_alive(long pid) { return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM); }

// Reads what the file holds past `offset`; false when it shrank (a new run emptied it).
bool read_more(const fs::path& path, std::uint64_t& offset, std::string& pending) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const off_t size = ::lseek(fd, 0, SEEK_END);
  if (size < 0 || static_cast<std::uint64_t>(size) < offset) {
    ::close(fd);
    return false;
  }
  char buf[8192];
  while (true) {
    const ssize_t n = ::pread(fd, buf, sizeof buf, static_cast<off_t>(offset));
    if (n <= 0) break;
    pending.append(buf, static_cast<std::size_t>(n));
    offset += static_cast<std::uint64_t>(n);
  }
  ::close(fd);
  return true;
}

// Whole lines out of `pending`, parsed; a line that is not JSON is skipped.
std::vector<nlohmann::json> take_events(std::string& pending) {
  std::vector<nlohmann::json> out;
  std::size_t from = 0;
  for (std::size_t nl; (nl = pending.find('\n', from)) != std::string::npos; from = nl + 1) {
    auto j = nlohmann::json::parse(pending.begin() + static_cast<long>(from), pending.begin() + static_cast<long>(nl),
                                   nullptr, false);
    if (!j.is_discarded() && j.is_object()) out.push_back(std::move(j));
  }
  pending.erase(0, from);
  return out;
}

}  // namespace

Result<FollowEnd> follow_live_log(const fs::path& state_dir, const std::function<void(const nlohmann::json&)>& on_event,
                                  std::chrono::milliseconds poll) {
  const fs::path path = live_log_path(state_dir);
  FollowEnd end;
  std::uint64_t offset = 0;
  std::string pending;
  if (!read_more(path, offset, pending)) return end;
  std::vector<nlohmann::json> events = take_events(pending);
  // In progress: the log starts with a run event, holds no exit event, and its process lives.
  if (events.empty() || events.front().value("event", "") != "run") return end;
  const long pid = events.front().value("pid", 0L);
  const std::string run = events.front().value("run", "");
  for (const auto& e : events)
    if (e.value("event", "") == "exit") return end;
  if (!process_alive(pid)) return end;
  end.followed = true;
  for (bool alive = true;;) {
    for (const auto& e : events) {
      on_event(e);
      if (e.value("event", "") == "exit") {
        end.exit_code = e.value("exit_code", -1);
        return end;
      }
    }
    if (!alive || interrupt_requested()) break;
    std::this_thread::sleep_for(poll);
    alive = process_alive(pid);  // read once more after it is gone: its last lines may be new
    if (!read_more(path, offset, pending)) break;  // emptied: a new run began after ours ended
    events = take_events(pending);
    events.erase(std::remove_if(events.begin(), events.end(), [&](const nlohmann::json& e) { return e.value("run", "") != run; }),
                 events.end());
  }
  end.vanished = !interrupt_requested();
  return end;
}

}  // namespace ecuup::api
