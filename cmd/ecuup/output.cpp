#include "output.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <chrono>
#include <optional>

#include <fmt/format.h>

#include "bar_board.hpp"
#include "api/live_log.hpp"
#include "util/progress_tally.hpp"
#include "util/time.hpp"

namespace ecuup::cli {

namespace {

std::string human_bytes(std::uint64_t n) {
  if (n >= 10ull << 20) return fmt::format("{:.1f} MiB", static_cast<double>(n) / (1 << 20));
  if (n >= 10ull << 10) return fmt::format("{:.1f} KiB", static_cast<double>(n) / (1 << 10));
  return fmt::format("{} B", n);
}

// Shared bookkeeping: which phase is running, and throttling so output stays cheap.
class ProgressBase : public Progress {
 public:
  explicit ProgressBase(Output& out) : m_out(out) {}
  void begin(const std::string& ecu, const std::string& phase, std::uint64_t total) override {
    m_tally.begin(ecu, phase, total);
    m_last = {};
    started();
  }
  void advance(std::uint64_t done) override {
    m_tally.advance(done);
    auto now = std::chrono::steady_clock::now();
    if (now - m_last < interval()) return;
    m_last = now;
    update();
  }
  void stage(const std::string& name) override {
    if (!m_tally.stage(name)) return;
    m_last = {};
    staged();
  }
  void end(bool ok) override { finished(ok); }
  void note(const std::string& message) override { m_out.info(message); }

 protected:
  virtual void started() {}
  virtual void staged() { update(); }
  virtual void update() = 0;
  virtual void finished(bool ok) = 0;
  virtual std::chrono::milliseconds interval() const { return std::chrono::milliseconds(100); }
  std::string label() const { return m_tally.ecu().empty() ? m_tally.phase() : m_tally.ecu() + " " + m_tally.phase(); }
  // The label with the stage: "bms flash: erase".
  std::string staged_label() const {
    return m_tally.stage_name().empty() ? label() : label() + ": " + m_tally.stage_name();
  }
  // Whole seconds left, for "ETA m:ss".
  std::optional<std::uint64_t> eta_whole_seconds() const {
    auto eta = m_tally.eta_seconds();
    if (!eta) return std::nullopt;
    return static_cast<std::uint64_t>(*eta);
  }
  Output& m_out;
  ProgressTally m_tally;
  std::chrono::steady_clock::time_point m_last;
};

// A bar per running job on a terminal; jobs in parallel get a line each (BarBoard).
class BarProgress final : public ProgressBase {
 public:
  BarProgress(Output& out, std::shared_ptr<BarBoard> board) : ProgressBase(out), m_board(std::move(board)) {}
  BarProgress(const BarProgress&) = delete;
  BarProgress& operator=(const BarProgress&) = delete;
  // A job that never ended (an error unwound past it) must not stay on the board as if running.
  ~BarProgress() override {
    if (m_row) m_board->finish(*m_row, summary("stopped"));
  }
  std::unique_ptr<Progress> concurrent_lane() override { return std::make_unique<BarProgress>(m_out, m_board); }
  void note(const std::string& message) override {
    m_board->print_above([&] { m_out.info(message); });
  }
  void started() override {
    if (m_row) m_board->finish(*m_row, summary("stopped"));
    m_row = m_board->add_row(line());
  }
  void update() override {
    if (m_row) m_board->set(*m_row, line());
  }
  void finished(bool ok) override {
    if (!m_row) return;
    m_board->finish(*m_row, summary(ok ? "done" : "FAILED"));
    m_row.reset();
  }

 private:
  // The line a finished job leaves behind: the average over the whole phase.
  std::string summary(std::string_view outcome) const {
    double average = m_tally.seconds() > 0 ? static_cast<double>(m_tally.done()) / m_tally.seconds() : 0;
    return fmt::format("{} {}: {} in {:.1f} s ({}/s)", label(), outcome, human_bytes(m_tally.done()),
                       m_tally.seconds(), human_bytes(static_cast<std::uint64_t>(average)));
  }
  std::string line() const {
    double rate = m_tally.rate();
    std::string bar;
    if (m_tally.total()) {
      double fraction = std::min(1.0, static_cast<double>(m_tally.done()) / static_cast<double>(m_tally.total()));
      auto filled = static_cast<std::size_t>(k_bar_width * fraction);
      bar = fmt::format("[{}{}] {:3d}% ", std::string(filled, '#'), std::string(k_bar_width - filled, '.'),
                        static_cast<int>(100.0 * fraction));
    }
    std::string text = fmt::format("{} {}{} / {}  {}/s", staged_label(), bar, human_bytes(m_tally.done()),
                                   m_tally.total() ? human_bytes(m_tally.total()) : "?",
                                   human_bytes(static_cast<std::uint64_t>(rate)));
    if (auto eta_s = eta_whole_seconds()) text += fmt::format("  ETA {}:{:02d}", *eta_s / 60, *eta_s % 60);
    return text;
  }
  static constexpr std::size_t k_bar_width = 24;
  std::shared_ptr<BarBoard> m_board;
  std::optional<BarBoard::RowId> m_row;
};

class PlainProgress final : public ProgressBase {
 public:
  using ProgressBase::ProgressBase;
  std::unique_ptr<Progress> concurrent_lane() override { return std::make_unique<PlainProgress>(m_out); }
  void started() override {
    m_next_pct = 10;
    std::fprintf(stderr, "%s: started (%s)\n", label().c_str(),
                 m_tally.total() ? human_bytes(m_tally.total()).c_str() : "size unknown");
  }
  void staged() override { std::fprintf(stderr, "%s\n", staged_label().c_str()); }
  void update() override {
    if (!m_tally.total()) return;
    int pct = static_cast<int>(100.0 * static_cast<double>(m_tally.done()) / static_cast<double>(m_tally.total()));
    if (pct < m_next_pct || pct >= 100) return;
    std::fprintf(stderr, "%s: %d%% (%s)\n", label().c_str(), pct, human_bytes(m_tally.done()).c_str());
    m_next_pct = pct / 10 * 10 + 10;
  }
  void finished(bool ok) override {
    std::fprintf(stderr, "%s: %s, %s in %.1f s\n", label().c_str(), ok ? "done" : "FAILED",
                 human_bytes(m_tally.done()).c_str(), m_tally.seconds());
  }

 private:
  int m_next_pct = 10;
};

class JsonlProgress final : public ProgressBase {
 public:
  using ProgressBase::ProgressBase;
  std::unique_ptr<Progress> concurrent_lane() override { return std::make_unique<JsonlProgress>(m_out); }
  void started() override { emit("begin"); }
  void staged() override { emit("stage"); }
  void update() override { emit("progress"); }
  void finished(bool ok) override { emit(ok ? "end" : "failed"); }
  std::chrono::milliseconds interval() const override { return std::chrono::milliseconds(500); }

 private:
  void emit(const char* event) {
    nlohmann::json j = api::progress_position(event, m_tally);
    j["seconds"] = m_tally.seconds();
    if (auto eta = eta_whole_seconds()) j["eta_s"] = *eta;
    std::fprintf(stderr, "%s\n", j.dump().c_str());
  }
};

class QuietProgress final : public ProgressBase {
 public:
  using ProgressBase::ProgressBase;
  std::unique_ptr<Progress> concurrent_lane() override { return std::make_unique<QuietProgress>(m_out); }
  void staged() override {}
  void update() override {}
  void finished(bool) override {}
};

}  // namespace

ProgressStyle parse_progress_style(const std::string& value, bool stderr_is_tty) {
  if (value == "bar") return ProgressStyle::bar;
  if (value == "plain") return ProgressStyle::plain;
  if (value == "jsonl") return ProgressStyle::jsonl;
  if (value == "none") return ProgressStyle::none;
  return stderr_is_tty ? ProgressStyle::bar : ProgressStyle::plain;
}

LogFormat parse_log_format(const std::string& value) {
  if (value == "json") return LogFormat::json;
  if (value == "journal") return LogFormat::journal;
  if (value == "text") return LogFormat::text;
  // auto: the journal when systemd connected stderr to it (systemd.exec(5): JOURNAL_STREAM).
  const char* stream = std::getenv("JOURNAL_STREAM");
  return stream && *stream ? LogFormat::journal : LogFormat::text;
}

Output::Output(bool json, ProgressStyle style, int verbose, const std::string& log_file, LogFormat format)
    : m_json(json), m_verbose(verbose), m_format(format) {
  if (!log_file.empty()) m_log = std::fopen(log_file.c_str(), "a");
  switch (style) {
    case ProgressStyle::bar: m_progress = std::make_unique<BarProgress>(*this, std::make_shared<BarBoard>(stderr)); break;
    case ProgressStyle::plain: m_progress = std::make_unique<PlainProgress>(*this); break;
    case ProgressStyle::jsonl: m_progress = std::make_unique<JsonlProgress>(*this); break;
    case ProgressStyle::none: m_progress = std::make_unique<QuietProgress>(*this); break;
  }
}

Output::~Output() {
  if (m_log) std::fclose(m_log);
}

void Output::log(const std::string& line) {
  if (!m_log) return;
  if (m_format == LogFormat::json) {
    std::fprintf(m_log, "%s\n", nlohmann::json{{"time", now_iso8601()}, {"pid", ::getpid()}, {"message", line}}.dump().c_str());
  } else {
    std::fprintf(m_log, "%s %s\n", now_iso8601().c_str(), line.c_str());
  }
  std::fflush(m_log);
}

void Output::say(int priority, const std::string& message) {
  switch (m_format) {
    case LogFormat::json: {
      const char* level = priority <= 3 ? "error" : priority >= 7 ? "debug" : "info";
      nlohmann::json j = {{"time", now_iso8601()}, {"level", level}, {"pid", ::getpid()}, {"message", message}};
      std::fprintf(stderr, "%s\n", j.dump().c_str());
      break;
    }
    case LogFormat::journal:  // sd-daemon(3): "<N>" at the start of a line is its priority
      std::fprintf(stderr, "<%d>%s%s\n", priority, priority <= 3 ? "error: " : "", message.c_str());
      break;
    case LogFormat::text:
      std::fprintf(stderr, "ecuup: %s%s\n", priority <= 3 ? "error: " : "", message.c_str());
      break;
  }
}

void Output::error(const std::string& message) {
  say(3, message);
  log("error: " + message);
}

void Output::info(const std::string& message) {
  if (m_verbose > 0) say(6, message);
  log(message);
}

std::string Output::table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width;
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], r[i].size());
    }
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

void Output::step_human(const api::StepReport& report) {
  std::vector<std::vector<std::string>> rows{{"ECU", "RESULT", "DETAIL"}};
  for (const auto& e : report.ecus) rows.push_back({e.ecu, e.result, e.error ? e.error->message : e.detail});
  std::printf("%s%s\n", report.step.c_str(), report.dry_run ? " (dry run: nothing changed)" : "");
  if (report.ecus.empty()) {
    std::printf("  (no ECU selected)\n");
  } else {
    std::fputs(table(rows).c_str(), stdout);
  }
  for (const auto& n : report.notes) std::printf("note: %s\n", n.c_str());
}

void Output::step(const api::StepReport& report) {
  for (const auto& e : report.ecus) {
    if (e.error) error(e.error->message);
    log(fmt::format("{} {}: {} {}", report.step, e.ecu, e.result, e.error ? e.error->message : e.detail));
  }
  if (m_json) {
    std::printf("%s\n", report.to_json().dump(2).c_str());
  } else {
    step_human(report);
  }
  std::fflush(stdout);
}

void Output::status(const api::StatusReport& report) {
  if (m_json) {
    std::printf("%s\n", report.json.dump(2).c_str());
  } else {
    std::printf("status of %s\n", report.json.value("vehicle", "").c_str());
    std::fputs(table(report.rows).c_str(), stdout);
    for (const auto& n : report.notes) std::printf("note: %s\n", n.c_str());
    if (report.json.value("feedback_queued", 0) > 0)
      std::printf("note: %d feedback message(s) wait for the server\n", report.json.value("feedback_queued", 0));
    std::printf("=> %s\n", exit_code_meaning(report.exit_code));
  }
  std::fflush(stdout);
}

void Output::update(const api::UpdateResult& result) {
  if (m_json) {
    nlohmann::json j = {{"schema", api::k_json_schema}, {"steps", nlohmann::json::array()}, {"status", result.status.json},
                        {"exit_code", static_cast<int>(result.exit_code)}};
    for (const auto& s : result.steps) j["steps"].push_back(s.to_json());
    for (const auto& s : result.steps)
      for (const auto& e : s.ecus)
        if (e.error) error(e.error->message);
    std::printf("%s\n", j.dump(2).c_str());
    std::fflush(stdout);
    return;
  }
  bool old_json = m_json;
  for (const auto& s : result.steps) step(s);
  m_json = old_json;
  status(result.status);
}

void Output::live_event(const nlohmann::json& e) {
  if (m_json) {
    std::printf("%s\n", e.dump().c_str());
    std::fflush(stdout);
    return;
  }
  const std::string event = e.value("event", "");
  const std::string ecu = e.value("ecu", "");
  const std::string label = ecu.empty() ? e.value("phase", "") : ecu + " " + e.value("phase", "");
  const std::uint64_t done = e.value("done", std::uint64_t{0}), total = e.value("total", std::uint64_t{0});
  std::string line;
  if (event == "run") {
    line = fmt::format("following ecuup {} (pid {}), started {}", e.value("command", "?"), e.value("pid", 0), e.value("at", "?"));
  } else if (event == "begin") {
    line = fmt::format("{}: started ({})", label, total ? human_bytes(total) : "size unknown");
  } else if (event == "stage") {
    line = fmt::format("{}: {}", label, e.value("stage", ""));
  } else if (event == "progress") {
    auto now = std::chrono::steady_clock::now();
    auto& shown = m_live_shown[ecu];
    if (now - shown < std::chrono::seconds(1)) return;
    shown = now;
    line = fmt::format("{}: {}{}{} / {}  {}/s", label, e.value("stage", ""), e.value("stage", "").empty() ? "" : " ",
                       total ? fmt::format("{}% {}", done * 100 / total, human_bytes(done)) : human_bytes(done),
                       total ? human_bytes(total) : "?",
                       human_bytes(static_cast<std::uint64_t>(e.value("rate_bps", 0.0))));
    if (e.contains("eta_s")) {
      auto eta = static_cast<std::uint64_t>(e.value("eta_s", 0.0));
      line += fmt::format("  ETA {}:{:02d}", eta / 60, eta % 60);
    }
  } else if (event == "end") {
    line = fmt::format("{}: {}, {} in {:.1f} s", label, e.value("ok", false) ? "done" : "FAILED", human_bytes(done),
                       e.value("seconds", 0.0));
  } else if (event == "note") {
    if (m_verbose <= 0) return;
    line = ecu.empty() ? e.value("message", "") : ecu + ": " + e.value("message", "");
  } else if (event == "exit") {
    const int code = e.value("exit_code", -1);
    line = fmt::format("the run finished: exit {} ({})", code, exit_code_meaning(static_cast<ExitCode>(code)));
  } else {
    return;  // a newer ecuup's event: skipped, as ecuup-progress(5) says readers must
  }
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

void Output::json_error(const Error& error, int exit_code) {
  if (!m_json) return;
  nlohmann::json j = {{"schema", api::k_json_schema}, {"error", {{"kind", errc_name(error.code)}, {"message", error.message}}},
                      {"exit_code", exit_code}};
  std::printf("%s\n", j.dump(2).c_str());
  std::fflush(stdout);
}

}  // namespace ecuup::cli
