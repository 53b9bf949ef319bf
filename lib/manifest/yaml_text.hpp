#pragma once
// A block-style YAML writer for documents whose shape the program knows (the manifest): it appends
// text directly, choosing each scalar's style with one pass over its bytes, so writing costs what
// the text costs. Nodes it does not know (kept unknown keys) go through yaml-cpp's emitter.
#include <cstdint>
#include <string>
#include <string_view>

#include <yaml-cpp/yaml.h>

namespace ecuup {

// The scalar as YAML text: plain when a reader cannot take it for anything else (a null, a
// boolean, an indicator, a key), else double-quoted with escapes. Any byte string comes back from
// a YAML reader as itself, except bytes that are not UTF-8, which become U+FFFD (YAML is Unicode).
std::string yaml_scalar(std::string_view s);
void append_yaml_scalar(std::string& out, std::string_view s);

class YamlText {
 public:
  explicit YamlText(std::string& out) : m_out(out) {}

  // "key: value" lines at `indent` spaces.
  void str(int indent, std::string_view key, std::string_view value);
  void str_if(int indent, std::string_view key, std::string_view value) {  // left out when empty
    if (!value.empty()) str(indent, key, value);
  }
  void num(int indent, std::string_view key, std::uint64_t value);
  void num(int indent, std::string_view key, std::int64_t value);
  void boolean(int indent, std::string_view key, bool value);
  // "key:" opening a nested mapping or list written at a deeper indent; "key: []" / "key: {}" for
  // an empty one.
  void open(int indent, std::string_view key);
  void empty_list(int indent, std::string_view key);
  // The next key starts a list item ("- key: value"): its keys sit at `indent`, its dash 2 before.
  void item() { m_dash = true; }
  // "- value" at `indent`.
  void list_str(int indent, std::string_view value);
  // Any node, through yaml-cpp's emitter, re-indented: kept keys ecuup does not know.
  void node(int indent, std::string_view key, const YAML::Node& value);

 private:
  void line(int indent);
  void literal(int indent, std::string_view key, std::string_view text);  // "key: text", text as is
  std::string& m_out;
  bool m_dash = false;
};

}  // namespace ecuup
