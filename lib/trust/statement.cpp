#include "trust/statement.hpp"

#include <charconv>
#include <ctime>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "util/version.hpp"

namespace ecuup {

namespace {

using Json = nlohmann::json;

Error refused(const std::string& why) { return make_error(Errc::verify, "release statement: " + why); }

bool is_sha256_hex(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

Result<std::string> text_field(const Json& doc, const char* key, std::size_t max_length) {
  auto it = doc.find(key);
  if (it == doc.end()) return refused(fmt::format("'{}' is missing", key));
  if (!it->is_string()) return refused(fmt::format("'{}' must be a string", key));
  std::string value = it->get<std::string>();
  if (value.empty() || value.size() > max_length)
    return refused(fmt::format("'{}' must have 1 to {} characters", key, max_length));
  for (unsigned char c : value)
    if (c < 0x20 || c > 0x7e) return refused(fmt::format("'{}' has a non-printable character", key));
  return value;
}

Result<std::uint64_t> count_field(const Json& doc, const char* key) {
  auto it = doc.find(key);
  if (it == doc.end()) return refused(fmt::format("'{}' is missing", key));
  if (!it->is_number_unsigned()) return refused(fmt::format("'{}' must be a whole number >= 0", key));
  return it->get<std::uint64_t>();
}

Result<void> known_keys(const Json& obj, std::initializer_list<std::string_view> keys, const char* where) {
  for (const auto& [k, v] : obj.items()) {
    bool known = false;
    for (auto key : keys) known = known || k == key;
    if (!known) return refused(fmt::format("unknown key '{}' in {}", k, where));
  }
  return success();
}

constexpr std::size_t k_name_max = 255;

}  // namespace

Result<std::int64_t> parse_utc_time(std::string_view text) {
  // Exactly YYYY-MM-DDTHH:MM:SSZ: one form, so two tools never disagree on an instant.
  auto digits = [&](std::size_t at, std::size_t n, int& out) {
    auto r = std::from_chars(text.data() + at, text.data() + at + n, out);
    return r.ec == std::errc() && r.ptr == text.data() + at + n;
  };
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  bool shape = text.size() == 20 && text[4] == '-' && text[7] == '-' && text[10] == 'T' && text[13] == ':' &&
               text[16] == ':' && text[19] == 'Z';
  for (std::size_t i : {0u, 1u, 2u, 3u, 5u, 6u, 8u, 9u, 11u, 12u, 14u, 15u, 17u, 18u})
    shape = shape && i < text.size() && text[i] >= '0' && text[i] <= '9';
  if (!shape || !digits(0, 4, year) || !digits(5, 2, month) || !digits(8, 2, day) || !digits(11, 2, hour) ||
      !digits(14, 2, minute) || !digits(17, 2, second))
    return make_error(Errc::verify, fmt::format("'{}' is not a UTC time like 2027-06-30T00:00:00Z", text));
  static constexpr int k_days_in_month[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (year < 1970 || month < 1 || month > 12 || day < 1 || day > k_days_in_month[month - 1] ||
      (month == 2 && day == 29 && !leap) || hour > 23 || minute > 59 || second > 59)
    return make_error(Errc::verify, fmt::format("'{}' is not a valid UTC time", text));
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  return static_cast<std::int64_t>(timegm(&tm));
}

Result<ReleaseStatement> parse_release_statement(std::string_view json) {
  if (json.size() > k_statement_max_bytes)
    return refused(fmt::format("{} bytes, more than the {} a statement may have", json.size(), k_statement_max_bytes));
  Json doc = Json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return refused("not a JSON object");
  ECUUP_TRY(known_keys(doc, {"ecuup_release", "part", "version", "hardware", "security_version", "expires", "artifacts"},
                       "the statement"));
  auto format = doc.find("ecuup_release");
  if (format == doc.end() || !format->is_number_unsigned() || format->get<std::uint64_t>() != 1)
    return refused("'ecuup_release' must be 1 (this ecuup reads format 1)");

  ReleaseStatement st;
  ECUUP_ASSIGN(st.part, text_field(doc, "part", k_name_max));
  ECUUP_ASSIGN(st.version, text_field(doc, "version", k_version_max_length));
  if (auto ok = check_version_text(st.version); !ok) return refused(ok.error().message);
  ECUUP_ASSIGN(st.security_version, count_field(doc, "security_version"));
  ECUUP_ASSIGN(st.expires, text_field(doc, "expires", 20));
  ECUUP_ASSIGN(st.expires_unix, parse_utc_time(st.expires));

  auto hw = doc.find("hardware");
  if (hw == doc.end() || !hw->is_array() || hw->empty())
    return refused("'hardware' must list the hardware part numbers it is for");
  for (const auto& h : *hw) {
    Json wrap = {{"hardware", h}};
    ECUUP_ASSIGN(std::string id, text_field(wrap, "hardware", k_name_max));
    st.hardware.push_back(std::move(id));
  }

  auto arts = doc.find("artifacts");
  if (arts == doc.end() || !arts->is_array() || arts->empty())
    return refused("'artifacts' must list every artifact with its sha256 and size");
  for (const auto& a : *arts) {
    if (!a.is_object()) return refused("each artifact must be an object with name, sha256 and size");
    ECUUP_TRY(known_keys(a, {"name", "sha256", "size"}, "an artifact"));
    SignedArtifact art;
    ECUUP_ASSIGN(art.name, text_field(a, "name", k_name_max));
    if (art.name.find('/') != std::string::npos || art.name == "." || art.name == "..")
      return refused(fmt::format("artifact name '{}' is not a plain file name", art.name));
    ECUUP_ASSIGN(art.sha256, text_field(a, "sha256", 64));
    if (!is_sha256_hex(art.sha256)) return refused(fmt::format("artifact '{}': sha256 must be 64 lower-case hex digits", art.name));
    ECUUP_ASSIGN(art.size, count_field(a, "size"));
    for (const auto& seen : st.artifacts)
      if (seen.name == art.name) return refused(fmt::format("artifact '{}' is listed twice", art.name));
    st.artifacts.push_back(std::move(art));
  }
  return st;
}

std::string release_statement_json(const ReleaseStatement& st) {
  Json arts = Json::array();
  for (const auto& a : st.artifacts) arts.push_back(Json{{"name", a.name}, {"sha256", a.sha256}, {"size", a.size}});
  // nlohmann::json sorts object keys, so the same statement always gives the same bytes.
  Json doc = {{"ecuup_release", 1},          {"part", st.part},
              {"version", st.version},       {"hardware", st.hardware},
              {"security_version", st.security_version}, {"expires", st.expires},
              {"artifacts", std::move(arts)}};
  return doc.dump(2) + "\n";
}

}  // namespace ecuup
