#include "repository/ddi_json.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "util/version.hpp"

namespace ecuup::ddi {
namespace {

using Json = nlohmann::json;

constexpr std::string_view k_link_deployment = "deploymentBase";
constexpr std::string_view k_link_cancel = "cancelAction";
constexpr std::string_view k_link_config_data = "configData";
constexpr std::string_view k_link_download = "download";            // HTTPS
constexpr std::string_view k_link_download_http = "download-http";  // plain HTTP
constexpr std::string_view k_skip = "skip";
constexpr std::string_view k_window_unavailable = "unavailable";
constexpr std::size_t k_sha256_hex_len = 64;
constexpr std::size_t k_sha1_hex_len = 40;
constexpr std::size_t k_error_excerpt_len = 200;
// Enough for any sane interval (~31 years in seconds) and far from overflowing int64 ms.
constexpr std::int64_t k_max_component = 999'999'999;

constexpr std::int64_t k_ms_per_s = 1000;
constexpr std::int64_t k_s_per_min = 60;
constexpr std::int64_t k_s_per_hour = 3600;
constexpr std::int64_t k_s_per_day = 86400;
constexpr std::int64_t k_s_per_week = 7 * 86400;

Error bad_sleep(std::string_view text, std::string_view why) {
  return make_error(Errc::server, fmt::format("polling sleep '{}' is not HH:MM:SS or an ISO-8601 duration ({})",
                                              text, why));
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::int64_t to_int(std::string_view digits) {
  std::int64_t v = 0;
  for (char c : digits) v = v * 10 + (c - '0');
  return v;
}

Result<std::chrono::seconds> parse_clock(std::string_view text) {
  // DdiPolling.sleep: "HH:MM:SS"; hours may exceed 24.
  std::size_t c1 = text.find(':');
  std::size_t c2 = c1 == std::string_view::npos ? c1 : text.find(':', c1 + 1);
  if (c2 == std::string_view::npos || text.find(':', c2 + 1) != std::string_view::npos)
    return bad_sleep(text, "expected three fields");
  std::string_view h = text.substr(0, c1), m = text.substr(c1 + 1, c2 - c1 - 1), s = text.substr(c2 + 1);
  if (!all_digits(h) || h.size() > 6 || !all_digits(m) || m.size() != 2 || !all_digits(s) || s.size() != 2)
    return bad_sleep(text, "fields must be digits, MM and SS two of them");
  std::int64_t minutes = to_int(m), secs = to_int(s);
  if (minutes >= k_s_per_min || secs >= k_s_per_min) return bad_sleep(text, "minutes and seconds must be below 60");
  return std::chrono::seconds(to_int(h) * k_s_per_hour + minutes * k_s_per_min + secs);
}

Result<std::chrono::seconds> parse_iso_duration(std::string_view text) {
  // PnW / PnDTnHnMnS. Years and months are calendar-dependent; hawkBit (java.time.Duration)
  // never sends them, so they are refused rather than guessed.
  std::string_view rest = text.substr(1);
  bool in_time = false;
  bool any = false;
  bool fraction_seen = false;
  std::string_view order = "WDHMS";
  std::size_t last_unit = 0;  // index into order + 1; units must come in this order
  std::int64_t total_ms = 0;
  while (!rest.empty()) {
    if (rest.front() == 'T') {
      if (in_time) return bad_sleep(text, "two 'T'");
      in_time = true;
      rest.remove_prefix(1);
      if (rest.empty()) return bad_sleep(text, "nothing after 'T'");
      continue;
    }
    std::size_t n = 0;
    while (n < rest.size() && rest[n] >= '0' && rest[n] <= '9') ++n;
    std::string_view whole = rest.substr(0, n);
    std::string_view frac;
    if (n < rest.size() && (rest[n] == '.' || rest[n] == ',')) {
      std::size_t f = n + 1;
      while (f < rest.size() && rest[f] >= '0' && rest[f] <= '9') ++f;
      frac = rest.substr(n + 1, f - n - 1);
      if (frac.empty()) return bad_sleep(text, "empty fraction");
      n = f;
    }
    if (whole.empty()) return bad_sleep(text, "a number must precede each unit");
    if (whole.size() > 9) return bad_sleep(text, "number too large");
    if (n >= rest.size()) return bad_sleep(text, "number without a unit");
    char unit = rest[n];
    rest.remove_prefix(n + 1);
    if (fraction_seen) return bad_sleep(text, "only the last number may have a fraction");
    if (!frac.empty()) fraction_seen = true;

    std::int64_t unit_s = 0;
    std::size_t unit_index = 0;
    if (!in_time && unit == 'W') { unit_s = k_s_per_week; unit_index = 1; }
    else if (!in_time && unit == 'D') { unit_s = k_s_per_day; unit_index = 2; }
    else if (in_time && unit == 'H') { unit_s = k_s_per_hour; unit_index = 3; }
    else if (in_time && unit == 'M') { unit_s = k_s_per_min; unit_index = 4; }
    else if (in_time && unit == 'S') { unit_s = 1; unit_index = 5; }
    else if (!in_time && (unit == 'Y' || unit == 'M'))
      return bad_sleep(text, "years and months have no fixed length");
    else
      return bad_sleep(text, fmt::format("unexpected '{}'", unit));
    if (unit_index <= last_unit) return bad_sleep(text, fmt::format("'{}' out of order", order[unit_index - 1]));
    last_unit = unit_index;

    std::int64_t value = to_int(whole);
    if (value > k_max_component) return bad_sleep(text, "number too large");
    std::int64_t frac_ms = 0;
    // Fraction to milliseconds of this unit: read up to three digits of precision.
    std::int64_t scale = 100;
    for (std::size_t i = 0; i < frac.size() && i < 3; ++i, scale /= 10) frac_ms += (frac[i] - '0') * scale;
    total_ms += value * unit_s * k_ms_per_s + frac_ms * unit_s;
    if (total_ms / k_ms_per_s > k_max_component * k_s_per_hour) return bad_sleep(text, "duration too long");
    any = true;
  }
  if (!any) return bad_sleep(text, "no duration given");
  return std::chrono::seconds(total_ms / k_ms_per_s);
}

// Typed access with errors naming the JSON path.
Result<const Json*> member(const Json& object, std::string_view key, Json::value_t type, std::string_view where,
                           bool required) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) {
    if (!required) return static_cast<const Json*>(nullptr);
    return make_error(Errc::server, fmt::format("{}: '{}' is missing", where, key));
  }
  bool matches = it->type() == type ||
                 (type == Json::value_t::number_integer && it->is_number_unsigned());
  if (!matches)
    return make_error(Errc::server, fmt::format("{}: '{}' is a {}, expected {}", where, key, it->type_name(),
                                                Json(type).type_name()));
  return &*it;
}

Result<std::optional<std::string>> optional_string(const Json& object, std::string_view key, std::string_view where) {
  ECUUP_ASSIGN(const Json* v, member(object, key, Json::value_t::string, where, false));
  if (!v) return std::optional<std::string>{};
  return std::optional<std::string>{v->get<std::string>()};
}

Result<std::string> required_string(const Json& object, std::string_view key, std::string_view where) {
  ECUUP_ASSIGN(const Json* v, member(object, key, Json::value_t::string, where, true));
  return v->get<std::string>();
}

// `_links.<name>.href`, if the link is there.
Result<std::optional<std::string>> link_href(const Json& object, std::string_view name, std::string_view where) {
  ECUUP_ASSIGN(const Json* links, member(object, "_links", Json::value_t::object, where, false));
  if (!links) return std::optional<std::string>{};
  std::string link_where = fmt::format("{}: _links", where);
  ECUUP_ASSIGN(const Json* link, member(*links, name, Json::value_t::object, link_where, false));
  if (!link) return std::optional<std::string>{};
  ECUUP_ASSIGN(std::string href, required_string(*link, "href", fmt::format("{}.{}", link_where, name)));
  if (href.empty()) return make_error(Errc::server, fmt::format("{}.{}: empty href", link_where, name));
  return std::optional<std::string>{href};
}

Result<Json> parse_object(std::string_view body, std::string_view what) {
  Json doc = Json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return make_error(Errc::server, fmt::format("{}: the server's answer is not JSON", what));
  if (!doc.is_object())
    return make_error(Errc::server, fmt::format("{}: expected a JSON object, got a {}", what, doc.type_name()));
  return doc;
}

// hawkBit sends ids as strings ("8"); accept a number too, since the schema's path parameter is int64.
Result<std::string> id_field(const Json& object, std::string_view key, std::string_view where) {
  auto it = object.find(key);
  if (it != object.end() && it->is_number_integer()) return std::to_string(it->get<std::int64_t>());
  ECUUP_ASSIGN(std::string id, required_string(object, key, where));
  if (id.empty()) return make_error(Errc::server, fmt::format("{}: '{}' is empty", where, key));
  return id;
}

Result<std::string> checked_hash(const Json& hashes, std::string_view key, std::size_t length, std::string_view where) {
  ECUUP_ASSIGN(auto value, optional_string(hashes, key, where));
  if (!value) return std::string{};
  std::string hex = *value;
  std::transform(hex.begin(), hex.end(), hex.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  bool ok = hex.size() == length &&
            std::all_of(hex.begin(), hex.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
  if (!ok) return make_error(Errc::server, fmt::format("{}: {} '{}' is not {} hex digits", where, key, *value, length));
  return hex;
}

// The file name becomes a local file name downstream: refuse anything that could leave the
// download directory.
bool safe_file_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\\') == std::string::npos && name.find('\0') == std::string::npos;
}

Result<ArtifactRef> parse_artifact(const Json& a, DownloadScheme preferred, const std::string& where) {
  if (!a.is_object()) return make_error(Errc::server, fmt::format("{}: not an object", where));
  ArtifactRef ref;
  ECUUP_ASSIGN(ref.name, required_string(a, "filename", where));
  std::string named = fmt::format("{} '{}'", where, ref.name);
  if (!safe_file_name(ref.name)) return make_error(Errc::server, fmt::format("{}: unusable file name", named));
  ECUUP_ASSIGN(const Json* size, member(a, "size", Json::value_t::number_integer, named, false));
  if (size) {
    if (size->is_number_integer() && !size->is_number_unsigned() && size->get<std::int64_t>() < 0)
      return make_error(Errc::server, fmt::format("{}: negative size", named));
    ref.size = size->get<std::uint64_t>();
  }
  ECUUP_ASSIGN(const Json* hashes, member(a, "hashes", Json::value_t::object, named, false));
  if (hashes) {
    ECUUP_ASSIGN(ref.sha256, checked_hash(*hashes, "sha256", k_sha256_hex_len, named));
    ECUUP_ASSIGN(ref.sha1, checked_hash(*hashes, "sha1", k_sha1_hex_len, named));
  }
  if (ref.sha256.empty() && ref.sha1.empty())
    return make_error(Errc::server, fmt::format("{}: neither a sha256 nor a sha1 hash to verify it with", named));
  ECUUP_ASSIGN(auto https, link_href(a, k_link_download, named));
  ECUUP_ASSIGN(auto http, link_href(a, k_link_download_http, named));
  const auto& first = preferred == DownloadScheme::http ? http : https;
  const auto& second = preferred == DownloadScheme::http ? https : http;
  if (first) ref.url = *first;
  else if (second) ref.url = *second;
  else return make_error(Errc::server, fmt::format("{}: no download link", named));
  // A server hands out http(s) links only: never file://, ftp:// or anything else libcurl speaks.
  if (!ref.url.starts_with("http://") && !ref.url.starts_with("https://"))
    return make_error(Errc::verify, fmt::format("{}: refused download link '{}': only http and https", named,
                                                ref.url.substr(0, 80)));
  return ref;
}

}  // namespace

Result<std::chrono::seconds> parse_polling_sleep(std::string_view text) {
  if (text.empty()) return bad_sleep(text, "empty");
  if (text.front() == 'P') return parse_iso_duration(text);
  return parse_clock(text);
}

Result<ControllerBase> parse_controller_base(std::string_view body) {
  constexpr std::string_view where = "controller base";
  ECUUP_ASSIGN(Json doc, parse_object(body, where));
  ControllerBase base;
  ECUUP_ASSIGN(const Json* config, member(doc, "config", Json::value_t::object, where, false));
  if (config) {
    ECUUP_ASSIGN(const Json* polling, member(*config, "polling", Json::value_t::object, "controller base: config", false));
    if (polling) {
      ECUUP_ASSIGN(base.poll_sleep, optional_string(*polling, "sleep", "controller base: config.polling"));
    }
  }
  ECUUP_ASSIGN(base.deployment_href, link_href(doc, k_link_deployment, where));
  ECUUP_ASSIGN(base.cancel_href, link_href(doc, k_link_cancel, where));
  ECUUP_ASSIGN(base.config_data_href, link_href(doc, k_link_config_data, where));
  return base;
}

Result<Deployment> parse_deployment_base(std::string_view body, const std::vector<EcuPart>& ecus,
                                         DownloadScheme preferred) {
  ECUUP_ASSIGN(Json doc, parse_object(body, "deployment base"));
  Deployment out;
  ECUUP_ASSIGN(out.action_id, id_field(doc, "id", "deployment base"));
  std::string where = fmt::format("deployment {}", out.action_id);
  ECUUP_ASSIGN(const Json* deployment, member(doc, "deployment", Json::value_t::object, where, true));
  std::string dwhere = where + ": deployment";
  ECUUP_ASSIGN(auto update, optional_string(*deployment, "update", dwhere));
  ECUUP_ASSIGN(auto window, optional_string(*deployment, "maintenanceWindow", dwhere));
  ECUUP_ASSIGN(const Json* chunks, member(*deployment, "chunks", Json::value_t::array, dwhere, true));

  for (std::size_t i = 0; i < chunks->size(); ++i) {
    const Json& chunk = (*chunks)[i];
    std::string cwhere = fmt::format("{}: chunk {}", where, i + 1);
    if (!chunk.is_object()) return make_error(Errc::server, cwhere + ": not an object");
    Task task;
    task.action_id = out.action_id;
    ECUUP_ASSIGN(task.part, required_string(chunk, "part", cwhere));
    cwhere = fmt::format("{}: chunk '{}'", where, task.part);
    ECUUP_ASSIGN(task.target_version, required_string(chunk, "version", cwhere));
    if (auto ok = check_version_text(task.target_version); !ok)
      return make_error(Errc::verify, fmt::format("{}: refused version: {}", cwhere, ok.error().message));
    auto ecu = std::find_if(ecus.begin(), ecus.end(), [&](const EcuPart& e) { return e.part == task.part; });
    if (ecu == ecus.end()) {
      std::string known;
      for (const auto& e : ecus) known += (known.empty() ? "" : ", ") + e.part;
      return make_error(Errc::server, fmt::format("{}: part '{}' names no ECU in the config (known parts: {})", where,
                                                  task.part, known.empty() ? "none" : known));
    }
    task.ecu = ecu->ecu;
    for (const Task& earlier : out.tasks)
      if (earlier.part == task.part)
        return make_error(Errc::server, fmt::format("{}: two chunks for part '{}'", where, task.part));
    task.download_only = update && *update == k_skip;
    task.maintenance_window_open = !(window && *window == k_window_unavailable);

    ECUUP_ASSIGN(const Json* artifacts, member(chunk, "artifacts", Json::value_t::array, cwhere, false));
    if (!artifacts || artifacts->empty())
      return make_error(Errc::server, fmt::format("{}: no artifacts to install", cwhere));
    for (std::size_t k = 0; k < artifacts->size(); ++k) {
      ECUUP_ASSIGN(ArtifactRef ref,
                   parse_artifact((*artifacts)[k], preferred, fmt::format("{}: artifact {}", cwhere, k + 1)));
      task.artifacts.push_back(std::move(ref));
    }
    out.tasks.push_back(std::move(task));
  }
  return out;
}

Result<CancelAction> parse_cancel_action(std::string_view body) {
  ECUUP_ASSIGN(Json doc, parse_object(body, "cancel action"));
  CancelAction out;
  ECUUP_ASSIGN(const Json* stop, member(doc, "cancelAction", Json::value_t::object, "cancel action", true));
  ECUUP_ASSIGN(out.stop_id, id_field(*stop, "stopId", "cancel action: cancelAction"));
  if (doc.contains("id")) {
    ECUUP_ASSIGN(out.id, id_field(doc, "id", "cancel action"));
  } else {
    out.id = out.stop_id;  // `id` is optional in DdiCancel
  }
  return out;
}

std::string config_data_body(const std::vector<ReportedEcu>& ecus,
                             const std::map<std::string, std::string>& attributes) {
  Json data = Json::object();
  for (const auto& [key, value] : attributes) data[key] = value;
  for (const auto& ecu : ecus)
    if (!ecu.version.empty()) data["ecu." + (ecu.part.empty() ? ecu.name : ecu.part) + ".version"] = ecu.version;
  Json body = {{"mode", "merge"}, {"data", std::move(data)}};
  return body.dump();
}

std::string feedback_body(const Feedback& feedback, std::int64_t timestamp_ms) {
  Json result = {{"finished", feedback_finished_name(feedback.finished)}};
  if (feedback.progress_cnt >= 0) {
    Json progress = {{"cnt", feedback.progress_cnt}};
    if (feedback.progress_of >= 0) progress["of"] = feedback.progress_of;
    result["progress"] = std::move(progress);
  }
  Json status = {{"execution", feedback_execution_name(feedback.execution)}, {"result", std::move(result)}};
  if (!feedback.details.empty()) status["details"] = feedback.details;
  Json body = {{"timestamp", timestamp_ms}, {"status", std::move(status)}};
  return body.dump();
}

std::string feedback_url(std::string_view action_href) {
  std::string_view base = action_href.substr(0, action_href.find_first_of("?#"));
  while (!base.empty() && base.back() == '/') base.remove_suffix(1);
  return std::string(base) + "/feedback";
}

std::string error_summary(std::string_view body) {
  Json doc = Json::parse(body.begin(), body.end(), nullptr, false);
  if (!doc.is_discarded() && doc.is_object()) {
    std::string code, message;
    if (auto it = doc.find("errorCode"); it != doc.end() && it->is_string()) code = it->get<std::string>();
    if (auto it = doc.find("message"); it != doc.end() && it->is_string()) message = it->get<std::string>();
    if (!code.empty() && !message.empty()) return fmt::format("{}: {}", code, message);
    if (!code.empty() || !message.empty()) return code + message;
  }
  std::string text(body.substr(0, k_error_excerpt_len));
  std::replace_if(text.begin(), text.end(), [](char c) { return c == '\n' || c == '\r' || c == '\t'; }, ' ');
  while (!text.empty() && text.back() == ' ') text.pop_back();
  if (body.size() > k_error_excerpt_len) text += "...";
  return text;
}

}  // namespace ecuup::ddi
