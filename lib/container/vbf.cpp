#include "container/vbf.hpp"

#include <zlib.h>

#include "util/compress.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <limits>

#include <fmt/format.h>

#include "util/fs.hpp"
#include "util/sw_image.hpp"

namespace ecuup {

namespace {

constexpr std::uint64_t k_address_space = std::uint64_t{1} << 32;
// A block on disk: 4-byte address, 4-byte length, data, 2-byte CRC-16.
constexpr std::size_t k_block_head = 8;
constexpr std::size_t k_block_crc = 2;
// Nested brace lists deeper than erase's two levels are still syntax, but bounded: no stack to spare
// for a file of ten thousand '{'.
constexpr int k_max_list_depth = 8;

// Neither zlib nor libcrypto offers CRC-16/CCITT-FALSE; this is its byte-wise table (poly 0x1021,
// MSB first), checked against the catalogue's check value 0x29B1 in the unit tests.
constexpr std::array<std::uint16_t, 256> make_crc16_table() {
  std::array<std::uint16_t, 256> table{};
  for (unsigned i = 0; i < 256; ++i) {
    auto crc = static_cast<std::uint16_t>(i << 8);
    for (int bit = 0; bit < 8; ++bit)
      crc = static_cast<std::uint16_t>((crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1);
    table[i] = crc;
  }
  return table;
}
constexpr auto k_crc16_table = make_crc16_table();

std::uint32_t get_be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}
void put_be32(Bytes& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}

bool decodable(std::uint8_t data_format) {
  const int compression = data_format >> 4;
  const int encryption = data_format & 0x0F;
  return encryption == 0 && (compression == 0 || compression == k_compression_zlib);
}

// The CRC-16 of a block's plain data and its size: the data itself, or inflated (method 1).
struct PlainDigest {
  std::uint16_t crc = 0xFFFF;
  std::uint64_t size = 0;
};
std::optional<PlainDigest> plain_digest(ByteView stored, std::uint8_t data_format, std::uint64_t max_size) {
  PlainDigest d;
  if (compression_method(data_format) == k_compression_none) {
    d.crc = vbf_crc16(stored);
    d.size = stored.size();
    return d;  // where it lies is the block address check's business
  }
  auto size = decompress_stream(compression_method(data_format), stored, max_size,
                                [&](ByteView plain) { d.crc = vbf_crc16(plain, d.crc); });
  if (!size) return std::nullopt;
  d.size = *size;
  return d;
}

// --- the ASCII part ------------------------------------------------------------------------------

struct Value {
  enum class Kind { string, word, list };
  Kind kind = Kind::word;
  std::string text;
  std::vector<Value> items;
  std::size_t line = 0;
};

struct ParseFailure {
  VbfDefect defect;
  std::size_t line;
  std::size_t block;
  std::string message;
};

class Lexer {
 public:
  explicit Lexer(ByteView bytes) : m_bytes(bytes) {}

  enum class Tok { end, word, string, lbrace, rbrace, equals, semicolon, comma, bad };
  struct Token {
    Tok tok = Tok::end;
    std::string text;
    std::size_t line = 1;
  };

  // The next token, skipping white space and comments; Tok::bad with text = what went wrong.
  Token next() {
    skip_blank();
    Token t;
    t.line = m_line;
    if (!m_error.empty()) return bad(t, m_error);
    if (m_pos >= m_bytes.size()) return t;
    const char c = static_cast<char>(m_bytes[m_pos]);
    auto single = [&](Tok tok) {
      ++m_pos;
      t.tok = tok;
      t.text = std::string(1, c);
      return t;
    };
    switch (c) {
      case '{': return single(Tok::lbrace);
      case '}': return single(Tok::rbrace);
      case '=': return single(Tok::equals);
      case ';': return single(Tok::semicolon);
      case ',': return single(Tok::comma);
      case '"': return string_token(t);
      default: break;
    }
    if (!is_word_char(c)) return bad(t, fmt::format("unexpected character 0x{:02X}", static_cast<unsigned char>(c)));
    t.tok = Tok::word;
    while (m_pos < m_bytes.size() && is_word_char(static_cast<char>(m_bytes[m_pos]))) t.text += static_cast<char>(m_bytes[m_pos++]);
    return t;
  }

  std::size_t pos() const { return m_pos; }

 private:
  static bool is_word_char(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '.';
  }
  static Token bad(Token t, std::string what) {
    t.tok = Tok::bad;
    t.text = std::move(what);
    return t;
  }

  void skip_blank() {
    while (m_pos < m_bytes.size()) {
      const char c = static_cast<char>(m_bytes[m_pos]);
      if (c == '\n') {
        ++m_line;
        ++m_pos;
      } else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
        ++m_pos;
      } else if (c == '/' && m_pos + 1 < m_bytes.size() && m_bytes[m_pos + 1] == '/') {
        while (m_pos < m_bytes.size() && m_bytes[m_pos] != '\n') ++m_pos;
      } else if (c == '/' && m_pos + 1 < m_bytes.size() && m_bytes[m_pos + 1] == '*') {
        const std::size_t start_line = m_line;
        m_pos += 2;
        for (;;) {
          if (m_pos + 1 >= m_bytes.size()) {
            m_pos = m_bytes.size();
            m_error = fmt::format("comment opened on line {} is not closed", start_line);
            return;
          }
          if (m_bytes[m_pos] == '*' && m_bytes[m_pos + 1] == '/') {
            m_pos += 2;
            break;
          }
          if (m_bytes[m_pos] == '\n') ++m_line;
          ++m_pos;
        }
      } else {
        return;
      }
    }
  }

  // "..." on one line; a backslash takes the next character as it is.
  Token string_token(Token t) {
    ++m_pos;
    t.tok = Tok::string;
    while (m_pos < m_bytes.size()) {
      char c = static_cast<char>(m_bytes[m_pos++]);
      if (c == '"') return t;
      if (c == '\n' || c == '\r') break;
      if (c == '\\') {
        if (m_pos >= m_bytes.size()) break;
        c = static_cast<char>(m_bytes[m_pos++]);
        if (c == '\n' || c == '\r') break;
      }
      t.text += c;
    }
    return bad(t, "string is not closed on its line");
  }

  ByteView m_bytes;
  std::size_t m_pos = 0;
  std::size_t m_line = 1;
  std::string m_error;
};

using Tok = Lexer::Tok;

std::string describe(const Lexer::Token& t) {
  switch (t.tok) {
    case Tok::end: return "the end of the file";
    case Tok::string: return "a string";
    case Tok::word: return "'" + t.text + "'";
    default: return "'" + t.text + "'";
  }
}

ParseFailure syntax_error(const Lexer::Token& t, const std::string& expected) {
  if (t.tok == Tok::bad) return {VbfDefect::syntax, t.line, 0, t.text};
  return {VbfDefect::syntax, t.line, 0, "expected " + expected + ", found " + describe(t)};
}

std::optional<ParseFailure> parse_value(Lexer& lexer, Lexer::Token first, Value& out, int depth) {
  out.line = first.line;
  if (first.tok == Tok::string || first.tok == Tok::word) {
    out.kind = first.tok == Tok::string ? Value::Kind::string : Value::Kind::word;
    out.text = std::move(first.text);
    return std::nullopt;
  }
  if (first.tok != Tok::lbrace) return syntax_error(first, "a value");
  if (depth >= k_max_list_depth) return ParseFailure{VbfDefect::syntax, first.line, 0, "lists nested too deep"};
  out.kind = Value::Kind::list;
  auto t = lexer.next();
  if (t.tok == Tok::rbrace) return std::nullopt;
  for (;;) {
    Value item;
    if (auto failure = parse_value(lexer, std::move(t), item, depth + 1)) return failure;
    out.items.push_back(std::move(item));
    t = lexer.next();
    if (t.tok == Tok::rbrace) return std::nullopt;
    if (t.tok != Tok::comma) return syntax_error(t, "',' or '}'");
    t = lexer.next();
  }
}

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string canonical(const Value& v) {
  switch (v.kind) {
    case Value::Kind::string: return quote(v.text);
    case Value::Kind::word: return v.text;
    case Value::Kind::list: {
      std::string out = "{";
      for (std::size_t i = 0; i < v.items.size(); ++i) out += (i ? ", " : "") + canonical(v.items[i]);
      return out + "}";
    }
  }
  return {};
}

// The interpretation of one key's value; failures are field_value on the value's line.
class Fields {
 public:
  explicit Fields(const std::string& key) : m_key(key) {}

  ParseFailure wrong(const Value& v, const std::string& what) const {
    return {VbfDefect::field_value, v.line, 0, m_key + ": " + what};
  }

  std::optional<ParseFailure> number(const Value& v, std::uint64_t max, std::uint64_t& out) const {
    if (v.kind != Value::Kind::word) return wrong(v, "expected a number");
    const std::string& s = v.text;
    int base = 10;
    std::size_t start = 0;
    if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
      base = 16;
      start = 2;
    }
    std::uint64_t value = 0;
    const char* first = s.data() + start;
    const char* last = s.data() + s.size();
    auto [ptr, ec] = std::from_chars(first, last, value, base);
    if (ec == std::errc::result_out_of_range || (ec == std::errc() && ptr == last && value > max))
      return wrong(v, fmt::format("{} is larger than 0x{:X}", s, max));
    if (ec != std::errc() || ptr != last || first == last) return wrong(v, "expected a number, found '" + s + "'");
    out = value;
    return std::nullopt;
  }

  std::optional<ParseFailure> u32(const Value& v, std::uint32_t& out) const {
    std::uint64_t n = 0;
    if (auto f = number(v, 0xFFFFFFFFu, n)) return f;
    out = static_cast<std::uint32_t>(n);
    return std::nullopt;
  }

  // 0x followed by an even number of hex digits, as long as it takes (hashes, signatures).
  std::optional<ParseFailure> hex_bytes(const Value& v, Bytes& out) const {
    if (v.kind != Value::Kind::word || v.text.size() < 3 || v.text[0] != '0' || (v.text[1] != 'x' && v.text[1] != 'X'))
      return wrong(v, "expected hex bytes (0x...)");
    auto bytes = from_hex(std::string_view(v.text).substr(2));
    if (!bytes || v.text.find(' ') != std::string::npos) return wrong(v, "expected an even number of hex digits after 0x");
    out = std::move(bytes).value();
    return std::nullopt;
  }

  // A string, or a brace list of strings.
  std::optional<ParseFailure> strings(const Value& v, std::vector<std::string>& out, bool allow_empty) const {
    out.clear();
    if (v.kind == Value::Kind::string) {
      out.push_back(v.text);
    } else if (v.kind == Value::Kind::list) {
      for (const auto& item : v.items) {
        if (item.kind != Value::Kind::string) return wrong(item, "expected a quoted string");
        out.push_back(item.text);
      }
    } else {
      return wrong(v, "expected a quoted string or a list of them");
    }
    if (out.empty() && !allow_empty) return wrong(v, "the list is empty");
    return std::nullopt;
  }

  std::optional<ParseFailure> name(const Value& v, std::string& out) const {
    if (v.kind != Value::Kind::word) return wrong(v, "expected a name");
    out = v.text;
    return std::nullopt;
  }

 private:
  std::string m_key;
};

const std::vector<std::string>& known_part_types() {
  static const std::vector<std::string> types{"SBL", "EXE", "DATA", "CARCFG", "CUSTOM", "GBL", "SIGCFG", "TEST"};
  return types;
}

std::optional<ParseFailure> apply_field(VbfHeader& h, const std::string& key, const Value& v) {
  const Fields f(key);
  if (key == "description") return f.strings(v, h.description, true);
  if (key == "sw_part_number") return f.strings(v, h.sw_part_numbers, false);
  if (key == "sw_version") return f.strings(v, h.sw_versions, true);
  if (key == "sw_part_type") {
    if (auto failure = f.name(v, h.sw_part_type)) return failure;
    const auto& types = known_part_types();
    if (std::find(types.begin(), types.end(), h.sw_part_type) == types.end())
      return f.wrong(v, "unknown part type '" + h.sw_part_type + "' (SBL, EXE, DATA, CARCFG, CUSTOM, GBL, SIGCFG, TEST)");
    return std::nullopt;
  }
  if (key == "data_format_identifier") {
    std::uint64_t n = 0;
    if (auto failure = f.number(v, 0xFF, n)) return failure;
    h.data_format_identifier = static_cast<std::uint8_t>(n);
    return std::nullopt;
  }
  if (key == "network") return f.name(v, h.network);
  if (key == "frame_format" || key == "can_frame_format") return f.name(v, h.frame_format);
  if (key == "ecu_address") {
    // Some files list the address with more values ({0x723, 0x00, 0xff}); the first is the address.
    if (v.kind == Value::Kind::list) {
      if (v.items.empty()) return f.wrong(v, "the list is empty");
      for (const auto& item : v.items) {
        std::uint32_t ignored = 0;
        if (auto failure = f.u32(item, ignored)) return failure;
      }
      return f.u32(v.items.front(), h.ecu_address);
    }
    return f.u32(v, h.ecu_address);
  }
  if (key == "erase") {
    if (v.kind != Value::Kind::list) return f.wrong(v, "expected { {start, length}, ... }");
    h.erase.clear();
    for (const auto& pair : v.items) {
      if (pair.kind != Value::Kind::list || pair.items.size() != 2) return f.wrong(pair, "expected {start, length}");
      std::uint32_t start = 0;
      std::uint32_t length = 0;
      if (auto failure = f.u32(pair.items[0], start)) return failure;
      if (auto failure = f.u32(pair.items[1], length)) return failure;
      if (length == 0) return f.wrong(pair, fmt::format("range at 0x{:08X} has length 0", start));
      if (std::uint64_t{start} + length > k_address_space)
        return f.wrong(pair, fmt::format("range 0x{:08X} + 0x{:08X} passes 4 GiB", start, length));
      h.erase.push_back(MemoryRange{.address = start, .size = length});
    }
    return std::nullopt;
  }
  auto optional_u32 = [&](std::optional<std::uint32_t>& out) -> std::optional<ParseFailure> {
    std::uint32_t n = 0;
    if (auto failure = f.u32(v, n)) return failure;
    out = n;
    return std::nullopt;
  };
  if (key == "call") return optional_u32(h.call);
  if (key == "verification_block_start") return optional_u32(h.verification_block_start);
  if (key == "verification_block_length") return optional_u32(h.verification_block_length);
  if (key == "verification_block_root_hash") return f.hex_bytes(v, h.verification_block_root_hash);
  if (key == "sw_signature") return f.hex_bytes(v, h.sw_signature);
  if (key == "sw_signature_dev") return f.hex_bytes(v, h.sw_signature_dev);
  if (key == "file_checksum") return f.u32(v, h.file_checksum);
  h.other.emplace_back(key, canonical(v));
  return std::nullopt;
}

// The ASCII part up to and including the header's closing brace; `binary_start` is the byte after it.
std::optional<ParseFailure> parse_ascii(ByteView bytes, VbfHeader& h, std::size_t& binary_start) {
  Lexer lexer(bytes);
  auto t = lexer.next();
  if (t.tok != Tok::word || t.text != "vbf_version") return syntax_error(t, "'vbf_version'");
  if (t = lexer.next(); t.tok != Tok::equals) return syntax_error(t, "'='");
  t = lexer.next();
  if (t.tok != Tok::word) return syntax_error(t, "a version (X.Y)");
  {
    const std::string& s = t.text;
    const auto dot = s.find('.');
    int major = -1;
    int minor = -1;
    bool ok = dot != std::string::npos && dot > 0 && dot <= 3 && s.size() - dot - 1 >= 1 && s.size() - dot - 1 <= 3;
    if (ok) {
      auto [p1, e1] = std::from_chars(s.data(), s.data() + dot, major);
      auto [p2, e2] = std::from_chars(s.data() + dot + 1, s.data() + s.size(), minor);
      ok = e1 == std::errc() && p1 == s.data() + dot && e2 == std::errc() && p2 == s.data() + s.size();
    }
    if (!ok || (major != 2 && major != 3))
      return ParseFailure{VbfDefect::version, t.line, 0, "vbf_version " + s + " is not one ecuup reads (2.x, 3.x)"};
    h.version_major = major;
    h.version_minor = minor;
  }
  if (t = lexer.next(); t.tok != Tok::semicolon) return syntax_error(t, "';'");
  if (t = lexer.next(); t.tok != Tok::word || t.text != "header") return syntax_error(t, "'header'");
  if (t = lexer.next(); t.tok != Tok::lbrace) return syntax_error(t, "'{'");

  std::vector<std::string> seen;
  for (;;) {
    t = lexer.next();
    if (t.tok == Tok::rbrace) break;
    if (t.tok != Tok::word || !(std::isalpha(static_cast<unsigned char>(t.text[0])) || t.text[0] == '_'))
      return syntax_error(t, "a key or '}'");
    std::string key = t.text;
    const std::size_t key_line = t.line;
    const std::string field = key == "can_frame_format" ? "frame_format" : key;
    if (std::find(seen.begin(), seen.end(), field) != seen.end())
      return ParseFailure{VbfDefect::duplicate_field, key_line, 0, key + " is given twice"};
    seen.push_back(field);
    if (t = lexer.next(); t.tok != Tok::equals) return syntax_error(t, "'=' after " + key);
    Value value;
    if (auto failure = parse_value(lexer, lexer.next(), value, 0)) return failure;
    if (t = lexer.next(); t.tok != Tok::semicolon) return syntax_error(t, "';' after " + key + "'s value");
    if (auto failure = apply_field(h, key, value)) return failure;
  }
  binary_start = lexer.pos();

  for (const char* required : {"sw_part_number", "sw_part_type", "ecu_address", "file_checksum"})
    if (std::find(seen.begin(), seen.end(), required) == seen.end())
      return ParseFailure{VbfDefect::missing_field, t.line, 0, std::string("the header has no ") + required};
  if (h.sw_part_type == "SBL" && !h.call)
    return ParseFailure{VbfDefect::missing_field, t.line, 0, "an SBL's header needs call (where it starts)"};
  return std::nullopt;
}

// --- the binary part -----------------------------------------------------------------------------

std::optional<ParseFailure> parse_blocks(ByteView bin, VbfFile& file) {
  const std::uint8_t data_format = file.header.data_format_identifier;
  file.crcs_checked = decodable(data_format);
  std::size_t pos = 0;
  std::size_t index = 0;
  while (pos < bin.size()) {
    ++index;
    const std::size_t left = bin.size() - pos;
    if (left < k_block_head)
      return ParseFailure{VbfDefect::trailing_data, 0, index,
                          fmt::format("{} byte(s) after the last block, fewer than a block's address and length", left)};
    const std::uint32_t address = get_be32(bin.data() + pos);
    const std::uint32_t length = get_be32(bin.data() + pos + 4);
    const std::string where = fmt::format("block {} at 0x{:08X}", index, address);
    if (length == 0) return ParseFailure{VbfDefect::empty_block, 0, index, where + ": length 0"};
    if (std::uint64_t{length} + k_block_crc > left - k_block_head)
      return ParseFailure{VbfDefect::truncated, 0, index,
                          fmt::format("{}: {} data bytes and a CRC-16 announced, the file ends {} bytes later", where,
                                      length, left - k_block_head)};
    const ByteView data = bin.subspan(pos + k_block_head, length);
    const std::size_t crc_at = pos + k_block_head + length;
    const auto stored_crc = static_cast<std::uint16_t>((bin[crc_at] << 8) | bin[crc_at + 1]);
    pos = crc_at + k_block_crc;

    std::uint64_t memory_size = length;
    if (file.crcs_checked) {
      auto digest = plain_digest(data, data_format, k_address_space - address);
      if (!digest)
        return ParseFailure{VbfDefect::decompress, 0, index,
                            fmt::format("{}: data format 0x{:02X}: the data is no zlib stream (ecuup reads compression "
                                        "method 1 as zlib), or it inflates past 4 GiB",
                                        where, data_format)};
      if (digest->crc != stored_crc)
        return ParseFailure{VbfDefect::block_crc, 0, index,
                            fmt::format("{}: CRC-16 0x{:04X}, the block says 0x{:04X}", where, digest->crc, stored_crc)};
      memory_size = digest->size;
    }
    if (memory_size == 0) return ParseFailure{VbfDefect::empty_block, 0, index, where + ": inflates to nothing"};
    if (address + memory_size > k_address_space)
      return ParseFailure{VbfDefect::address_range, 0, index,
                          fmt::format("{}: {} bytes pass the end of the 32-bit address space", where, memory_size)};
    for (std::size_t i = 0; i < file.part.blocks.size(); ++i) {
      const auto& other = file.part.blocks[i];
      if (address < other.address + other.memory_size && other.address < address + memory_size)
        return ParseFailure{VbfDefect::overlap, 0, index,
                            fmt::format("{}: overlaps block {} at 0x{:08X} (0x{:X} bytes)", where, i + 1, other.address,
                                        other.memory_size)};
    }
    file.part.blocks.push_back(ContainerBlock{.address = address,
                                              .memory_size = memory_size,
                                              .data_format = data_format,
                                              .data = Bytes(data.begin(), data.end())});
    file.block_crcs.push_back(stored_crc);
  }
  if (index == 0) return ParseFailure{VbfDefect::no_blocks, 0, 0, "no data blocks after the header"};
  const std::uint32_t checksum = crc32(bin);
  if (checksum != file.header.file_checksum)
    return ParseFailure{VbfDefect::file_checksum, 0, 0,
                        fmt::format("file checksum (CRC-32 of the blocks) 0x{:08X}, the header says 0x{:08X}", checksum,
                                    file.header.file_checksum)};
  return std::nullopt;
}

}  // namespace

const char* vbf_defect_name(VbfDefect defect) {
  switch (defect) {
    case VbfDefect::none: return "none";
    case VbfDefect::syntax: return "syntax";
    case VbfDefect::version: return "version";
    case VbfDefect::missing_field: return "missing_field";
    case VbfDefect::duplicate_field: return "duplicate_field";
    case VbfDefect::field_value: return "field_value";
    case VbfDefect::truncated: return "truncated";
    case VbfDefect::trailing_data: return "trailing_data";
    case VbfDefect::empty_block: return "empty_block";
    case VbfDefect::no_blocks: return "no_blocks";
    case VbfDefect::address_range: return "address_range";
    case VbfDefect::overlap: return "overlap";
    case VbfDefect::decompress: return "decompress";
    case VbfDefect::block_crc: return "block_crc";
    case VbfDefect::file_checksum: return "file_checksum";
  }
  return "?";
}

std::uint16_t vbf_crc16(ByteView data, std::uint16_t previous) {
  std::uint16_t crc = previous;
  for (std::uint8_t b : data) crc = static_cast<std::uint16_t>((crc << 8) ^ k_crc16_table[((crc >> 8) ^ b) & 0xFF]);
  return crc;
}

ContainerPartKind vbf_part_kind(const std::string& sw_part_type) {
  if (sw_part_type == "SBL") return ContainerPartKind::sbl;
  if (sw_part_type == "EXE") return ContainerPartKind::exe;
  if (sw_part_type == "DATA") return ContainerPartKind::data;
  return ContainerPartKind::other;
}

Result<VbfFile> parse_vbf(ByteView bytes, const std::string& name, VbfDiagnostic* diagnostic) {
  VbfFile file;
  std::size_t binary_start = 0;
  auto failure = parse_ascii(bytes, file.header, binary_start);
  if (!failure) failure = parse_blocks(bytes.subspan(binary_start), file);
  if (diagnostic) *diagnostic = VbfDiagnostic{};
  if (failure) {
    if (diagnostic) *diagnostic = VbfDiagnostic{failure->defect, failure->line, failure->block};
    const std::string where = failure->line ? fmt::format("{}:{}", name, failure->line) : name;
    return make_error(Errc::verify, where + ": " + failure->message);
  }
  const VbfHeader& h = file.header;
  file.part.name = name;
  file.part.kind = vbf_part_kind(h.sw_part_type);
  file.part.part_number = h.sw_part_numbers.front();
  file.part.version = h.sw_versions.empty() ? std::string() : h.sw_versions.front();
  file.part.erase = h.erase;
  if (file.part.kind == ContainerPartKind::sbl) file.part.call_address = h.call;
  return file;
}

Result<VbfFile> load_vbf(const std::filesystem::path& path, VbfDiagnostic* diagnostic) {
  ECUUP_ASSIGN(Bytes bytes, read_binary_file(path));
  return parse_vbf(bytes, path.filename().string(), diagnostic);
}

Result<Container> load_vbf_set(const std::vector<std::filesystem::path>& files) {
  std::vector<VbfFile> parsed;
  for (const auto& path : files) {
    ECUUP_ASSIGN(VbfFile file, load_vbf(path));
    parsed.push_back(std::move(file));
  }
  return assemble_vbf_set(std::move(parsed));
}

Result<Container> assemble_vbf_set(std::vector<VbfFile> files) {
  Container set;
  set.format = ContainerFormat::vbf;
  std::optional<std::size_t> sbl_from;
  for (auto& file : files) {
    if (file.part.kind == ContainerPartKind::sbl) {
      if (sbl_from)
        return make_error(Errc::verify, fmt::format("{} and {} are both SBLs: a delivery has one secondary boot loader",
                                                    set.parts[*sbl_from].name, file.part.name));
      set.parts.insert(set.parts.begin(), std::move(file.part));
      sbl_from = 0;
    } else {
      set.parts.push_back(std::move(file.part));
    }
  }
  const auto first_software = set.parts.begin() + (sbl_from ? 1 : 0);
  if (first_software == set.parts.end())
    return make_error(Errc::verify, "the VBF files hold no software besides an SBL (an EXE or DATA part is needed)");
  const auto exe = std::find_if(first_software, set.parts.end(),
                                [](const ContainerPart& p) { return p.kind == ContainerPartKind::exe; });
  if (exe != set.parts.end()) {
    set.version = exe->version;
  } else if (set.parts.end() - first_software == 1) {
    set.version = first_software->version;
  }
  return set;
}

Result<ContainerBlock> make_vbf_block(std::uint32_t address, ByteView plain, std::uint8_t data_format) {
  ContainerBlock block{.address = address, .memory_size = plain.size(), .data_format = data_format, .data = {}};
  if (data_format == 0x00) {
    block.data.assign(plain.begin(), plain.end());
    return block;
  }
  if (data_format != (k_compression_zlib << 4))
    return make_error(Errc::unsupported,
                      fmt::format("data format 0x{:02X}: ecuup writes plain (0x00) or zlib-compressed (0x10) blocks",
                                  data_format));
  ECUUP_ASSIGN(block.data, compress_bytes(compression_method(data_format), plain));
  return block;
}

VbfWriteSpec vbf_write_spec(const VbfFile& file) {
  return VbfWriteSpec{.header = file.header, .blocks = file.part.blocks, .block_crcs = file.block_crcs};
}

Result<Bytes> write_vbf(const VbfWriteSpec& spec) {
  const VbfHeader& h = spec.header;
  if (!spec.block_crcs.empty() && spec.block_crcs.size() != spec.blocks.size())
    return make_error(Errc::usage, "write_vbf: block_crcs must be empty or one per block");
  Bytes bin;
  for (std::size_t i = 0; i < spec.blocks.size(); ++i) {
    const ContainerBlock& block = spec.blocks[i];
    std::uint16_t crc = 0;
    if (!spec.block_crcs.empty()) {
      crc = spec.block_crcs[i];
    } else if (!decodable(h.data_format_identifier)) {
      return make_error(Errc::usage, fmt::format("write_vbf: block {}: data format 0x{:02X} needs its CRC-16 given",
                                                 i + 1, h.data_format_identifier));
    } else if (auto digest = plain_digest(block.data, h.data_format_identifier, k_address_space)) {
      crc = digest->crc;
    } else {
      return make_error(Errc::usage, fmt::format("write_vbf: block {}: the data is no zlib stream", i + 1));
    }
    if (block.data.size() > 0xFFFFFFFFu) return make_error(Errc::usage, "write_vbf: a block of 4 GiB or more");
    put_be32(bin, block.address);
    put_be32(bin, static_cast<std::uint32_t>(block.data.size()));
    bin.insert(bin.end(), block.data.begin(), block.data.end());
    bin.push_back(static_cast<std::uint8_t>(crc >> 8));
    bin.push_back(static_cast<std::uint8_t>(crc));
  }

  for (const auto* list : {&h.description, &h.sw_part_numbers, &h.sw_versions})
    for (const auto& s : *list)
      if (s.find_first_of("\r\n") != std::string::npos)
        return make_error(Errc::usage, "write_vbf: a header string holds a line break");
  auto strings = [](const std::vector<std::string>& list) {
    if (list.size() == 1) return quote(list.front());
    std::string out = "{";
    for (std::size_t i = 0; i < list.size(); ++i) out += (i ? ", " : "") + quote(list[i]);
    return out + "}";
  };
  auto hex = [](const Bytes& b) {
    std::string out = "0x" + to_hex(b);
    std::transform(out.begin() + 2, out.end(), out.begin() + 2, [](char c) { return static_cast<char>(std::toupper(c)); });
    return out;
  };
  std::string text = fmt::format("vbf_version = {}.{};\r\n\r\nheader {{\r\n", h.version_major, h.version_minor);
  auto line = [&](const std::string& key, const std::string& value) { text += "\t" + key + " = " + value + ";\r\n"; };
  if (!h.description.empty()) line("description", strings(h.description));
  line("sw_part_number", strings(h.sw_part_numbers));
  if (!h.sw_versions.empty()) line("sw_version", strings(h.sw_versions));
  line("sw_part_type", h.sw_part_type);
  line("data_format_identifier", fmt::format("0x{:02X}", h.data_format_identifier));
  if (!h.network.empty()) line("network", h.network);
  line("ecu_address", fmt::format("0x{:X}", h.ecu_address));
  if (!h.frame_format.empty()) line("frame_format", h.frame_format);
  if (!h.erase.empty()) {
    std::string ranges = "{";
    for (std::size_t i = 0; i < h.erase.size(); ++i)
      ranges += fmt::format("{}\r\n\t\t{{ 0x{:08X}, 0x{:08X} }}", i ? "," : "", h.erase[i].address, h.erase[i].size);
    line("erase", ranges + "\r\n\t}");
  }
  if (h.call) line("call", fmt::format("0x{:08X}", *h.call));
  if (h.verification_block_start) line("verification_block_start", fmt::format("0x{:08X}", *h.verification_block_start));
  if (h.verification_block_length) line("verification_block_length", fmt::format("0x{:08X}", *h.verification_block_length));
  if (!h.verification_block_root_hash.empty()) line("verification_block_root_hash", hex(h.verification_block_root_hash));
  if (!h.sw_signature_dev.empty()) line("sw_signature_dev", hex(h.sw_signature_dev));
  if (!h.sw_signature.empty()) line("sw_signature", hex(h.sw_signature));
  for (const auto& [key, value] : h.other) line(key, value);
  line("file_checksum", fmt::format("0x{:08X}", crc32(bin)));
  text += "}";

  Bytes out(text.begin(), text.end());
  out.insert(out.end(), bin.begin(), bin.end());
  if (auto check = parse_vbf(out, "write_vbf"); !check) return make_error(Errc::usage, check.error().message);
  return out;
}

}  // namespace ecuup
