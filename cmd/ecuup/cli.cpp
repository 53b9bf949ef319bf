#include "cli.hpp"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdlib>

#include <fmt/format.h>

#include "api/live_log.hpp"
#include "output.hpp"
#include "transport/trace.hpp"
#include "util/diag_log.hpp"
#include "util/cancel.hpp"
#include "util/hash.hpp"

namespace ecuup::cli {

namespace {

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// "unknown command 'flsh' (did you mean 'flash'?)"
std::string unknown_command_message(const std::string& word) {
  std::string best;
  std::size_t best_d = 3;
  for (const auto& c : commands()) {
    std::size_t d = edit_distance(word, c.name);
    if (d < best_d || (std::string(c.name).rfind(word, 0) == 0 && word.size() >= 2 && best.empty())) {
      best_d = std::min(d, best_d);
      best = c.name;
    }
  }
  std::string msg = fmt::format("unknown command '{}'", word);
  if (!best.empty()) msg += fmt::format(" (did you mean '{}'?)", best);
  return msg + "; see `ecuup --help`";
}

std::atomic<int> g_signals{0};

// SIGINT, SIGTERM, SIGHUP (a closed terminal): the first asks the work to stop at a safe point
// (the flash under way is finished or put back), the second exits at once. Either way ecuup ends
// with an exit status, never killed by the signal: the manifest is valid because every write is
// atomic, and it records an interrupted flash as `in_progress` for the next run.
void on_signal(int) {
  if (g_signals.fetch_add(1) >= 1) {
    static const char k_now[] = "ecuup: second signal: exiting now; the next run resolves what is unfinished\n";
    ssize_t ignored = ::write(2, k_now, sizeof k_now - 1);
    (void)ignored;
    ::_exit(static_cast<int>(ExitCode::interrupted));
  }
  request_interrupt();
}

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);
  // A reader that went away (a closed pipe or terminal) is no reason to die mid-flash.
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  ::sigaction(SIGPIPE, &ignore, nullptr);
}

void add_log_options(CLI::App& app, CommonOptions& o) {
  app.add_flag("-v,--verbose", o.verbose,
               "say more on stderr: -v steps and notes, -vv also UDS requests and responses (service and NRC "
               "names), -vvv also ISO-TP/DoIP frames");
  app.add_option("--log-file", o.log_file, "append a timestamped log of what happened to FILE");
  app.add_option("--log-format", o.log_format,
                 "messages on stderr and in the log file: text, json (one object a line), journal (syslog "
                 "priority prefixes), auto (journal under systemd, else text)")
      ->check(CLI::IsMember({"auto", "text", "json", "journal"}))
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
}

void add_common_options(CLI::App& app, CommonOptions& o, const Command& c) {
  app.add_flag("--json", o.json, "print the result as JSON on stdout (schema in the man page)");
  if (!c.needs_config) {
    // A command without a config (discover) has no ECUs to select and no trace; --progress is
    // taken (and shows nothing) so that scripts can pass the same options to every subcommand.
    app.add_option("--progress", o.progress, "progress display on stderr: auto (bar on a terminal), bar, plain, jsonl, none")
        ->check(CLI::IsMember({"auto", "bar", "plain", "jsonl", "none"}))
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    add_log_options(app, o);
    return;
  }
  app.add_option("-c,--config", o.config, "config file (default: $ECUUP_CONFIG, else ./ecuup.yaml)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("-e,--ecu", o.ecus, "only this ECU (repeatable; default: all ECUs in the config)");
  app.add_option("--progress", o.progress, "progress display on stderr: auto (bar on a terminal), bar, plain, jsonl, none")
      ->check(CLI::IsMember({"auto", "bar", "plain", "jsonl", "none"}))
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  add_log_options(app, o);
  if (c.has_dry_run) app.add_flag("-n,--dry-run", o.dry_run, "print the plan and change nothing");
  if (c.takes_lock)
    app.add_option("--wait", o.wait,
                   "[=SECONDS] wait (up to SECONDS; bare: as long as it takes) for another ecuup to release the manifest "
                   "(default: fail with exit 7)")
        ->expected(0, 1);
  auto* trace = app.add_option("--trace", o.trace,
                               "write the CAN/DoIP traffic to FILE, replacing it (FILE.pcapng: pcapng, CAN and DoIP; "
                               "else candump log, CAN only); scripts/trace-decode decodes it down to UDS");
  app.add_flag("--trace-append", o.trace_append, "with --trace: append this run to FILE instead of replacing it")
      ->needs(trace);
}

// --wait SECONDS (a non-negative number, fractions allowed), or a bare --wait: no time limit.
Result<std::chrono::milliseconds> parse_wait(const std::string& text) {
  if (text.empty()) return std::chrono::milliseconds::max();
  char* end = nullptr;
  double seconds = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || *end != '\0' || !(seconds >= 0) || seconds > 1e9)
    return make_error(Errc::usage, fmt::format("--wait: '{}' is not a number of seconds (e.g. --wait=30, or --wait alone "
                                               "to wait as long as it takes)", text));
  return std::chrono::milliseconds(static_cast<long long>(seconds * 1000));
}

const char* k_exit_codes_help =
    "Exit status: 0 ok or nothing to do; 1 failure (no ECU left changed); 2 usage or config error;\n"
    "3 server/network error (retry later); 4 verification failed, nothing touched; 5 flash failed,\n"
    "ECU restored from its backup; 6 flash and restore failed: the ECU needs a person; 7 manifest\n"
    "locked; 8 refused (credentials, TLS trust); 9 wrong vehicle (the VIN differs from the config's),\n"
    "nothing touched; 10 status: work pending; 11 an ECU's preconditions not met (battery, vehicle\n"
    "speed, bench), nothing touched; 130 interrupted.";

}  // namespace

int run(int argc, char** argv) {
  install_signal_handlers();
  CLI::App app{"ecuup: update the software of a vehicle's ECUs, one scriptable step at a time.\n"
               "The steps hand state to each other through state/manifest.yaml (see ecuup-manifest(5))."};
  app.name("ecuup");
  app.footer(k_exit_codes_help);
  app.set_version_flag("-V,--version", std::string("ecuup ") + ECUUP_VERSION + " (sha256: " +
                                           Sha256::engine_name() + ")");
  app.require_subcommand(1);

  CommonOptions options;
  std::map<CLI::App*, std::function<Result<ExitCode>(Context&)>> runners;
  std::map<CLI::App*, const Command*> rows;
  for (const auto& c : commands()) {
    CLI::App* sub = app.add_subcommand(c.name, c.summary);
    sub->footer(k_exit_codes_help);
    add_common_options(*sub, options, c);
    runners[sub] = c.setup(*sub);
    rows[sub] = &c;
  }

  // Catch a misspelt subcommand before CLI11 does, to suggest the right one.
  if (argc > 1 && argv[1][0] != '-') {
    std::string word = argv[1];
    bool known = false;
    for (const auto& c : commands()) known = known || word == c.name;
    if (!known && word != "help") {
      std::fprintf(stderr, "ecuup: error: %s\n", unknown_command_message(word).c_str());
      return static_cast<int>(ExitCode::usage);
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "ecuup: error: %s\nRun with --help for usage.\n", e.what());
    return static_cast<int>(ExitCode::usage);
  }

  CLI::App* sub = app.get_subcommands().front();
  const Command& row = *rows[sub];
  Output out(options.json, parse_progress_style(options.progress, ::isatty(2) != 0), options.verbose, options.log_file,
             parse_log_format(options.log_format));
  // -vv and -vvv: the diagnostic traffic, as notes (shown above a progress bar, kept in the log file).
  struct DiagLogOff {  // before `out` goes, so no thread logs into it afterwards
    ~DiagLogOff() { set_diag_log(0, nullptr); }
  } diag_log_off;
  if (options.verbose >= k_diag_uds)
    set_diag_log(options.verbose, [&out](const std::string& line) { out.progress().note(line); });
  out.log(fmt::format("ecuup {} started (pid {})", row.name, ::getpid()));


  auto fail = [&](const Error& e) {
    int code = static_cast<int>(exit_code_for(e.code));
    out.error(e.message);
    out.json_error(e, code);
    return code;
  };

  Context ctx;
  ctx.options = &options;
  ctx.out = &out;
  std::optional<Config> config;
  if (row.needs_config) {
    std::string path = options.config;
    if (path.empty()) {
      const char* env = std::getenv("ECUUP_CONFIG");
      path = env && *env ? env : "ecuup.yaml";
    }
    auto loaded = load_config(path);
    if (!loaded) return fail(loaded.error());
    config = std::move(*loaded);
    ctx.config = &*config;
  }
  ctx.common.ecus = options.ecus;
  ctx.common.dry_run = options.dry_run;
  if (options.wait) {
    auto wait = parse_wait(*options.wait);
    if (!wait) return fail(wait.error());
    ctx.common.lock_wait = *wait;
  }
  ctx.common.trace_file = options.trace;
  if (!options.trace.empty())
    if (auto started = start_trace_file(options.trace, options.trace_append); !started) return fail(started.error());
  ctx.common.verbosity = options.verbose;
  // Other programs follow a writer through its live log (ecuup-progress(5)); it starts only once
  // the step holds the manifest lock.
  api::LiveLog live(out.progress(), row.name);
  ctx.common.progress = &live;
  ctx.common.live = &live;

  auto result = runners[sub](ctx);
  if (!result) {
    const int failed = fail(result.error());
    live.finish(failed);
    return failed;
  }
  ExitCode code = *result;
  if (interrupt_requested() && code == ExitCode::ok) code = ExitCode::interrupted;
  live.finish(static_cast<int>(code));
  out.log(fmt::format("ecuup {} finished: exit {} ({})", row.name, static_cast<int>(code), exit_code_meaning(code)));
  return static_cast<int>(code);
}

}  // namespace ecuup::cli
