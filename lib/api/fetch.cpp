#include <algorithm>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "api/session.hpp"
#include "api/work_clock.hpp"
#include "api/trust_gate.hpp"
#include "container/load.hpp"
#include "ecu/image_check.hpp"
#include "store/archive.hpp"
#include "store/download_hash.hpp"
#include "util/fs.hpp"
#include "util/hash.hpp"
#include "util/time.hpp"

namespace ecuup::api {

namespace fs = std::filesystem;

namespace {

struct Fetched {
  fs::path file;  // downloads/<key>
  std::string sha256;
  std::uint64_t size = 0;
};

// Downloads one artifact into downloads/<hash> (content-addressed), resuming from
// downloads/partial/<hash>.part, and verifies size and hash before it counts as downloaded.
Result<Fetched> fetch_artifact(Session& s, Repository& repo, const std::string& ecu, const ManifestArtifact& a) {
  bool has_sha256 = !a.sha256.empty();
  std::string key = has_sha256 ? a.sha256 : a.sha1;
  if (key.empty()) return make_error(Errc::verify, fmt::format("artifact {} has neither sha256 nor sha1: refusing to use it", a.name));
  fs::path final_path = s.state_path("downloads") / key;
  fs::path partial = s.state_path("downloads/partial") / (key + ".part");
  ECUUP_TRY(ensure_directory(partial.parent_path()));
  std::string verified_sha256;  // set when this call hashed the download itself
  if (!fs::exists(final_path)) {
    // A download that cannot fit is refused before it starts, not when it has filled the disk.
    if (a.size) {
      std::error_code ec;
      const std::uint64_t have = fs::exists(partial) ? fs::file_size(partial, ec) : 0;
      ECUUP_TRY(require_free_space(s.config().state_dir, a.size > have ? a.size - have : 0, a.name));
    }
    ArtifactRef ref{a.name, a.url, a.size, a.sha256, a.sha1};
    HashingProgress hashing(s.progress(), partial);
    hashing.begin(ecu, "fetch " + a.name, a.size);
    auto got = repo.download(ref, partial, hashing);
    hashing.end(got.ok());
    if (!got) return std::move(got).error().context(fmt::format("download {}", a.name));
    std::uint64_t size = fs::file_size(partial);
    if (a.size && size != a.size) {
      fs::remove(partial);
      fs::remove(partial.string() + ".meta");
      return make_error(Errc::verify, fmt::format("{}: got {} bytes, the server announced {} (download discarded)", a.name, size, a.size));
    }
    ECUUP_ASSIGN(std::string actual, has_sha256 ? hashing.finish() : sha1_file(partial));
    if (actual != key) {
      fs::remove(partial);
      fs::remove(partial.string() + ".meta");
      return make_error(Errc::verify, fmt::format("{}: {} mismatch: expected {}, got {} (download discarded)", a.name,
                                                  has_sha256 ? "sha256" : "sha1", key, actual));
    }
    ECUUP_TRY(commit_file_atomic(partial, final_path));
    fs::remove(partial.string() + ".meta");
    if (has_sha256) verified_sha256 = actual;
  }
  // Just hashed: a second pass over a large artifact would only double the time after the transfer.
  if (!verified_sha256.empty()) return Fetched{final_path, verified_sha256, fs::file_size(final_path)};
  // Content-addressed, but verify anyway: a file in the store can rot or be replaced.
  ECUUP_ASSIGN(std::string sha, sha256_file(final_path));
  if (has_sha256 && sha != a.sha256) {
    fs::remove(final_path);
    return make_error(Errc::verify, fmt::format("{}: stored copy is corrupt (removed); run fetch again", a.name));
  }
  return Fetched{final_path, sha, fs::file_size(final_path)};
}

struct ImageChoice {
  fs::path path;
  std::string version;  // from package.yaml, when it says
};

// An archive carries either one file, or a package.yaml naming the image and its version.
// An OEM container is the image as it is: a PDX (a zip with index.xml) and a VBF set (an archive
// of VBF files only) are read by the container layer, not unpacked.
Result<ImageChoice> choose_image(Session& s, const Fetched& artifact, const std::string& ecu) {
  if (!looks_like_archive(artifact.file) || is_pdx_file(artifact.file)) return ImageChoice{artifact.file, ""};
  fs::path dir = s.state_path("downloads") / (artifact.sha256 + ".d");
  if (!fs::exists(dir)) {
    auto files = extract_archive(artifact.file, dir);
    if (!files) return std::move(files).error().context(fmt::format("unpack artifact for {}", ecu));
  }
  fs::path package = dir / "package.yaml";
  if (fs::exists(package)) {
    YAML::Node doc;
    try {
      doc = YAML::LoadFile(package.string());
    } catch (const YAML::Exception& e) {
      return config_error_at(package, e.mark, e.msg);
    }
    if (!doc.IsMap()) return config_error_at(package, doc, "package.yaml must be a mapping with 'image' and 'version'");
    ECUUP_ASSIGN(std::string image, yaml_string(package, doc, "image"));
    std::string none;
    ECUUP_ASSIGN(std::string version, yaml_string(package, doc, "version", &none));
    fs::path p = (dir / image).lexically_normal();
    if (fs::path(image).is_absolute() || p.string().rfind(dir.lexically_normal().string(), 0) != 0 || !fs::is_regular_file(p))
      return config_error_at(package, doc["image"], fmt::format("image '{}' is not a file in the archive", image));
    return ImageChoice{p, version};
  }
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) files.push_back(e.path());
  if (!files.empty() && std::all_of(files.begin(), files.end(), [](const fs::path& f) { return is_vbf_file(f); }))
    return ImageChoice{artifact.file, ""};
  if (files.size() != 1)
    return make_error(Errc::verify, fmt::format("archive for {} holds {} files and no package.yaml naming the image", ecu, files.size()));
  return ImageChoice{files.front(), ""};
}

}  // namespace

Result<StepReport> fetch(const Config& config, const Common& common) {
  ECUUP_ASSIGN(TrustGate trust, TrustGate::open(config));
  ECUUP_ASSIGN(Session s, Session::open(config, common));
  StepReport rep{"fetch", common.dry_run, {}, {}};
  for (auto& kept : s.settle()) rep.ecus.push_back(std::move(kept));
  for (const EcuConfig* ecu : s.selected()) {
    EcuState& st = s.manifest().ecu(ecu->name);
    if (!st.task) {
      rep.ecus.push_back({ecu->name, "no-task", "nothing to download", std::nullopt});
      continue;
    }
    const TaskState task = *st.task;
    if (task.artifacts.empty()) {
      rep.ecus.push_back({ecu->name, "error", "", make_error(Errc::server, fmt::format("task for {} lists no artifact", ecu->name))});
      continue;
    }
    // The statement may have expired since report, or been replaced on disk: nothing is downloaded
    // for a target that is no longer admitted.
    if (auto admitted = trust.recheck(s, *ecu, st); !admitted) {
      Error e = std::move(admitted).error();
      s.event(ecu->name, "fetch", e.message);
      if (!common.dry_run) {
        st.download.reset();
        ECUUP_TRY(s.save_after(e));
      }
      rep.ecus.push_back({ecu->name, "refused", task.target_version, std::move(e)});
      continue;
    }
    if (st.download && st.download->verified && fs::exists(s.state_path(st.download->image))) {
      rep.ecus.push_back({ecu->name, "cached", fmt::format("{} already verified", task.target_version), std::nullopt});
      continue;
    }
    if (common.dry_run) {
      std::uint64_t bytes = 0;
      for (const auto& a : task.artifacts) bytes += a.size;
      rep.ecus.push_back({ecu->name, "would-fetch", fmt::format("{} artifact(s), {} bytes", task.artifacts.size(), bytes), std::nullopt});
      continue;
    }
    ECUUP_ASSIGN(Repository* repo, s.repository());
    std::optional<Error> failed;
    std::vector<Fetched> fetched;
    for (const auto& a : task.artifacts) {
      auto f = [&] {
        WorkTimer downloading;
        return fetch_artifact(s, *repo, ecu->name, a);
      }();
      if (!f) {
        failed = std::move(f).error().context("fetch " + ecu->name);
        break;
      }
      fetched.push_back(std::move(*f));
    }
    Result<ImageChoice> image = [&] {
      WorkTimer unpacking;
      return failed ? Result<ImageChoice>(*failed) : choose_image(s, fetched.front(), ecu->name);
    }();
    std::string image_version;
    std::string image_sha;
    if (image) {
      image_version = image->version;
      if (!image_version.empty() && image_version != task.target_version)
        image = make_error(Errc::verify, fmt::format("fetch {}: the artifact holds version {}, the task says {}",
                                                     ecu->name, image_version, task.target_version));
    }
    if (image) {
      // The whole image, parsed as the ECU's driver will read it: a file that cannot be flashed is
      // refused here, before any ECU is touched. The payload CRC stays the ECU's own check.
      const DriverContext context{config.base_dir, common.trace_file, common.verbosity};
      auto checked = check_ecu_image(*ecu, context, image->path);
      if (!checked) {
        image = std::move(checked).error().context(
            fmt::format("fetch {}: artifact {}", ecu->name, task.artifacts.front().name));
      } else if (!checked->version.empty() && checked->version != task.target_version) {
        image = make_error(Errc::verify, fmt::format("fetch {}: the artifact holds version {}, the task says {}",
                                                     ecu->name, checked->version, task.target_version));
      } else if (image_version.empty()) {
        image_version = checked->version;
      }
    }
    if (image && image->path == fetched.front().file) {
      image_sha = fetched.front().sha256;  // the artifact itself: already hashed and verified
    } else if (image) {
      auto sha = sha256_file(image->path);
      if (!sha) image = std::move(sha).error();
      else image_sha = *sha;
    }
    if (!image) {
      Error e = std::move(image).error();
      st.download.reset();
      s.event(ecu->name, "fetch", e.message);
      s.queue_feedback(ecu->name, task.action_id, FeedbackExecution::proceeding, FeedbackFinished::none, {e.message});
      ECUUP_TRY(s.save_after(e));
      rep.ecus.push_back({ecu->name, e.code == Errc::verify ? "verify-failed" : "error", "", std::move(e)});
      continue;
    }
    const Fetched& main = fetched.front();
    st.download = DownloadState{fs::relative(main.file, config.state_dir).string(), main.sha256, main.size, true,
                                fs::relative(image->path, config.state_dir).string(), image_sha, image_version, now_iso8601()};
    s.event(ecu->name, "fetch", fmt::format("downloaded and verified {} ({} bytes)", task.target_version, main.size));
    s.queue_feedback(ecu->name, task.action_id, FeedbackExecution::downloaded, FeedbackFinished::none,
                     {fmt::format("{}: downloaded and verified {}", ecu->name, task.target_version)});
    ECUUP_TRY(s.save());
    rep.ecus.push_back({ecu->name, "downloaded", fmt::format("{} ({} bytes, sha256 verified)", task.target_version, main.size), std::nullopt});
  }
  return s.finish(std::move(rep));
}

}  // namespace ecuup::api
