#include "api/live_log.hpp"
#include "cli.hpp"
#include "output.hpp"

namespace ecuup::cli {

namespace {
struct BackupArgs {
  std::string import;
  std::string version;
  bool read = false;
  bool list = false;
};
}  // namespace

std::function<Result<ExitCode>(Context&)> setup_backup(CLI::App& app) {
  auto args = std::make_shared<BackupArgs>();
  auto* imp = app.add_option("--import", args->import, "seed a backup from a file: ECU=FILE (needs --version)");
  app.add_option("--version", args->version, "the software version the imported file holds")->needs(imp);
  auto* rd = app.add_flag("--read", args->read, "read the installed software out of the selected ECUs as their backup");
  auto* ls = app.add_flag("--list", args->list, "list the backups in the store and check their hashes");
  imp->excludes(rd)->excludes(ls);
  rd->excludes(ls);
  return [args](Context& ctx) -> Result<ExitCode> {
    api::BackupOptions o;
    if (!args->import.empty()) {
      auto eq = args->import.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == args->import.size())
        return make_error(Errc::usage, "--import takes ECU=FILE");
      o.mode = api::BackupOptions::Mode::import;
      o.import_ecu = args->import.substr(0, eq);
      o.import_file = args->import.substr(eq + 1);
      o.import_version = args->version;
    } else if (args->read) {
      o.mode = api::BackupOptions::Mode::read;
    } else if (args->list) {
      o.mode = api::BackupOptions::Mode::list;
    }
    ECUUP_ASSIGN(api::StepReport rep, api::backup(*ctx.config, ctx.common, o));
    ctx.out->step(rep);
    return rep.exit_code();
  };
}

std::function<Result<ExitCode>(Context&)> setup_status(CLI::App& app) {
  auto sync = std::make_shared<std::pair<bool, bool>>(false, false);
  auto* on = app.add_flag("--sync", sync->first, "deliver queued results to the server first (the default)");
  app.add_flag("--no-sync", sync->second, "do not deliver queued results to the server; only show the state")->excludes(on);
  auto follow = std::make_shared<bool>(false);
  app.add_flag("-f,--follow", *follow,
               "while another ecuup runs, follow its live progress (each ECU's phase, stage, acknowledged bytes, "
               "rate, ETA; JSON lines with --json) until it ends, then show the status");
  return [sync, follow](Context& ctx) -> Result<ExitCode> {
    api::StatusOptions o;
    o.sync = !sync->second;
    if (*follow) {
      ECUUP_ASSIGN(api::FollowEnd followed,
                   api::follow_live_log(ctx.config->state_dir, [&](const nlohmann::json& e) { ctx.out->live_event(e); }));
      if (!followed.followed && !ctx.out->json()) std::printf("no ecuup run in progress\n");
      if (followed.vanished) ctx.out->error("the followed ecuup ended without an exit status (killed?): the next run resolves what it left");
    }
    ECUUP_ASSIGN(api::StatusReport rep, api::status(*ctx.config, ctx.common, o));
    if (*follow && ctx.out->json()) {
      // The last of the JSON lines the follow wrote (ecuup-progress(5)).
      nlohmann::json last = rep.json;
      last["event"] = "status";
      ctx.out->live_event(last);
    } else {
      ctx.out->status(rep);
    }
    return rep.exit_code;
  };
}

}  // namespace ecuup::cli
