#include "manifest/yaml_text.hpp"

#include <fmt/format.h>

namespace ecuup {

namespace {

bool plain_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '.': case '_': case '/': case ':': case '+': case '-': case '@': case '=': case ' ': case ',':
    case '(': case ')': case ';': case '\'': case '"': case '<': case '>': case '!': case '%': case '*':
    case '&': case '?': case '$': case '~': case '^': case '#':
      return true;
    default:
      return false;
  }
}

// Characters a plain scalar may hold after its first in block context (never a flow indicator, a
// tab or a line break); where they would mean something (": ", " #", a trailing blank) plain() says.
// Words YAML 1.1 or 1.2 readers take for a null or a boolean.
bool reserved_word(std::string_view s) {
  if (s.size() > 5) return false;
  char low[6] = {};
  for (std::size_t i = 0; i < s.size(); ++i) low[i] = static_cast<char>(s[i] | 0x20);
  const std::string_view w(low, s.size());
  return w == "null" || w == "true" || w == "false" || w == "yes" || w == "no" || w == "on" || w == "off" ||
         w == "y" || w == "n";
}

bool plain(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  const char first = s.front();
  if (!((first >= 'a' && first <= 'z') || (first >= 'A' && first <= 'Z') || (first >= '0' && first <= '9') ||
        first == '.' || first == '_' || first == '/'))
    return false;
  // "..." at the start of a line ends the document (a top-level key would take the rest with it).
  if (s.substr(0, 3) == "...") return false;
  // "a:" and "a: b" would open a mapping, " #" a comment; a reader drops a trailing blank.
  if (s.back() == ':' || s.back() == ' ') return false;
  if (s.find(": ") != std::string_view::npos || s.find(" #") != std::string_view::npos) return false;
  for (char c : s)
    if (!plain_char(c)) return false;
  return !reserved_word(s);
}

// Length of the UTF-8 sequence at s[i] and its code point; 0 when the bytes are not UTF-8.
std::size_t utf8_at(std::string_view s, std::size_t i, char32_t& cp) {
  auto at = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = at(i);
  std::size_t n = 0;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (s.size() - i < n) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((at(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (at(i + k) & 0x3F);
  }
  // Overlong forms, surrogates and code points past U+10FFFF.
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return n;
}

void quoted(std::string& out, std::string_view s) {
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\t': out += "\\t"; break;
        case '\r': out += "\\r"; break;
        default:
          if (c < 0x20 || c == 0x7F) {
            out += fmt::format("\\x{:02X}", c);
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    char32_t cp = 0;
    const std::size_t n = utf8_at(s, i, cp);
    if (n == 0) {
      out += "\\uFFFD";
      ++i;
      continue;
    }
    // C1 controls, YAML's own line breaks (NEL, LS, PS), the BOM and the non-characters a reader
    // would not keep as they are.
    if (cp <= 0x9F || cp == 0x2028 || cp == 0x2029 || cp == 0xFEFF || cp == 0xFFFE || cp == 0xFFFF) {
      out += fmt::format("\\u{:04X}", static_cast<std::uint32_t>(cp));
    } else {
      out.append(s.substr(i, n));
    }
    i += n;
  }
  out += '"';
}

}  // namespace

void append_yaml_scalar(std::string& out, std::string_view s) {
  if (plain(s)) {
    out.append(s);
  } else {
    quoted(out, s);
  }
}

std::string yaml_scalar(std::string_view s) {
  std::string out;
  append_yaml_scalar(out, s);
  return out;
}

void YamlText::line(int indent) {
  if (m_dash) {
    m_out.append(static_cast<std::size_t>(indent - 2), ' ');
    m_out += "- ";
    m_dash = false;
  } else {
    m_out.append(static_cast<std::size_t>(indent), ' ');
  }
}

void YamlText::str(int indent, std::string_view key, std::string_view value) {
  line(indent);
  append_yaml_scalar(m_out, key);
  m_out += ": ";
  append_yaml_scalar(m_out, value);
  m_out += '\n';
}

void YamlText::literal(int indent, std::string_view key, std::string_view text) {
  line(indent);
  append_yaml_scalar(m_out, key);
  m_out += ": ";
  m_out += text;
  m_out += '\n';
}

void YamlText::num(int indent, std::string_view key, std::uint64_t value) { literal(indent, key, std::to_string(value)); }

void YamlText::num(int indent, std::string_view key, std::int64_t value) { literal(indent, key, std::to_string(value)); }

void YamlText::boolean(int indent, std::string_view key, bool value) {
  literal(indent, key, value ? "true" : "false");
}

void YamlText::open(int indent, std::string_view key) {
  line(indent);
  append_yaml_scalar(m_out, key);
  m_out += ":\n";
}

void YamlText::empty_list(int indent, std::string_view key) {
  line(indent);
  append_yaml_scalar(m_out, key);
  m_out += ": []\n";
}

void YamlText::list_str(int indent, std::string_view value) {
  m_out.append(static_cast<std::size_t>(indent), ' ');
  m_out += "- ";
  append_yaml_scalar(m_out, value);
  m_out += '\n';
}

void YamlText::node(int indent, std::string_view key, const YAML::Node& value) {
  // The key is written here, as every other key is: yaml-cpp's emitter writes some keys plain that
  // no reader takes back as they were (one starting "..." at the start of a line ends the
  // document). Only the value goes through the emitter: a mapping or a list as a block below the
  // key, anything else after it (a block scalar's own lines stay deeper than the key).
  line(indent);
  append_yaml_scalar(m_out, key);
  YAML::Emitter e;
  e << value;
  const std::string_view text(e.c_str(), e.size());
  const bool block = (value.IsMap() || value.IsSequence()) && value.size() > 0;
  m_out += block ? ":\n" : ": ";
  const auto deeper = static_cast<std::size_t>(block ? indent + 2 : indent);
  std::size_t start = 0;
  bool first = true;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    if (block || !first) m_out.append(deeper, ' ');
    m_out.append(text.substr(start, end - start));
    m_out += '\n';
    first = false;
    start = end + 1;
  }
  if (first) m_out += '\n';  // the emitter wrote nothing
}

}  // namespace ecuup
