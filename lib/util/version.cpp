#include "util/version.hpp"

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace ecuup {

namespace {

std::vector<std::string_view> split_parts(std::string_view s) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == '.') {
      parts.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return parts;
}

bool is_number(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

int compare_numbers(std::string_view a, std::string_view b) {
  while (a.size() > 1 && a.front() == '0') a.remove_prefix(1);
  while (b.size() > 1 && b.front() == '0') b.remove_prefix(1);
  if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  int c = a.compare(b);
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

// Natural order inside a part: runs of digits compare as numbers ("rc2" < "rc10").
int compare_natural(std::string_view a, std::string_view b) {
  auto digit = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; };
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (digit(a[i]) && digit(b[j])) {
      std::size_t ei = i, ej = j;
      while (ei < a.size() && digit(a[ei])) ++ei;
      while (ej < b.size() && digit(b[ej])) ++ej;
      if (int c = compare_numbers(a.substr(i, ei - i), b.substr(j, ej - j))) return c;
      i = ei;
      j = ej;
    } else {
      if (a[i] != b[j]) return a[i] < b[j] ? -1 : 1;
      ++i;
      ++j;
    }
  }
  if (i < a.size()) return 1;
  if (j < b.size()) return -1;
  return 0;
}

int compare_part(std::string_view a, std::string_view b) {
  // A number sorts before text (1.2.0 < 1.2.a), as in SemVer's pre-release rule.
  if (is_number(a) != is_number(b)) return is_number(a) ? -1 : 1;
  return compare_natural(a, b);
}

int compare_dotted(std::string_view a, std::string_view b) {
  auto pa = split_parts(a), pb = split_parts(b);
  std::size_t n = std::max(pa.size(), pb.size());
  for (std::size_t i = 0; i < n; ++i) {
    std::string_view x = i < pa.size() ? pa[i] : std::string_view("0");
    std::string_view y = i < pb.size() ? pb[i] : std::string_view("0");
    if (int c = compare_part(x, y)) return c;
  }
  return 0;
}

}  // namespace

int compare_versions(std::string_view a, std::string_view b) {
  auto strip_build = [](std::string_view v) { return v.substr(0, v.find('+')); };
  a = strip_build(a);
  b = strip_build(b);
  auto dash_a = a.find('-'), dash_b = b.find('-');
  std::string_view core_a = a.substr(0, dash_a), core_b = b.substr(0, dash_b);
  if (int c = compare_dotted(core_a, core_b)) return c;
  bool pre_a = dash_a != std::string_view::npos, pre_b = dash_b != std::string_view::npos;
  if (pre_a != pre_b) return pre_a ? -1 : 1;
  if (!pre_a) return 0;
  return compare_dotted(a.substr(dash_a + 1), b.substr(dash_b + 1));
}

}  // namespace ecuup

namespace ecuup {

Result<void> check_version_text(std::string_view version) {
  if (version.empty()) return make_error(Errc::verify, "the version is empty");
  if (version.size() > k_version_max_length)
    return make_error(Errc::verify, fmt::format("the version is {} characters long (at most {})", version.size(),
                                                k_version_max_length));
  for (std::size_t i = 0; i < version.size(); ++i) {
    auto c = static_cast<unsigned char>(version[i]);
    if (c < 0x20 || c > 0x7e)
      return make_error(Errc::verify, fmt::format("the version has a non-printable character (0x{:02x}) at {}", c, i));
  }
  if (version.front() == ' ' || version.back() == ' ')
    return make_error(Errc::verify, "the version starts or ends with a blank");
  return success();
}

}  // namespace ecuup
