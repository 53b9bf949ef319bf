#include "util/image.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "util/fs.hpp"

namespace ecuup {

namespace fs = std::filesystem;

namespace {

constexpr std::uint8_t k_ihex_data = 0x00;
constexpr std::uint8_t k_ihex_eof = 0x01;
constexpr std::uint8_t k_ihex_ext_segment = 0x02;
constexpr std::uint8_t k_ihex_start_segment = 0x03;
constexpr std::uint8_t k_ihex_ext_linear = 0x04;
constexpr std::uint8_t k_ihex_start_linear = 0x05;
constexpr std::size_t k_ihex_bytes_per_record = 32;
constexpr std::size_t k_srec_bytes_per_record = 32;

int hex_nibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Error parse_error(const std::string& name, std::size_t line, const std::string& message) {
  return make_error(Errc::config, fmt::format("{}:{}: {}", name, line, message));
}

// Decodes the hex digits of one record (after ':' or "Sn") into bytes.
Result<Bytes> record_bytes(std::string_view digits, std::size_t prefix_size, const std::string& name,
                           std::size_t line) {
  if (digits.size() % 2 != 0) return parse_error(name, line, "odd number of hex digits in record");
  Bytes out;
  out.reserve(digits.size() / 2);
  for (std::size_t i = 0; i < digits.size(); i += 2) {
    int hi = hex_nibble(digits[i]);
    int lo = hex_nibble(digits[i + 1]);
    if (hi < 0 || lo < 0) {
      return parse_error(name, line,
                         fmt::format("expected a hex digit at column {}", prefix_size + i + (hi < 0 ? 0 : 1) + 1));
    }
    out.push_back(static_cast<std::uint8_t>(hi << 4 | lo));
  }
  return out;
}

// Collects data records and merges contiguous ones; records may come in any order.
class SegmentBuilder {
 public:
  void add(std::uint64_t address, const std::uint8_t* data, std::size_t size) {
    if (size == 0) return;
    if (!m_chunks.empty()) {
      auto& last = m_chunks.back();
      if (last.address + last.data.size() == address) {
        last.data.insert(last.data.end(), data, data + size);
        return;
      }
    }
    m_chunks.push_back({address, Bytes(data, data + size)});
  }

  Result<FlashImage> finish(const std::string& name) {
    std::stable_sort(m_chunks.begin(), m_chunks.end(),
                     [](const Chunk& a, const Chunk& b) { return a.address < b.address; });
    FlashImage image;
    std::uint64_t end = 0;
    for (auto& chunk : m_chunks) {
      if (chunk.address + chunk.data.size() > (std::uint64_t{1} << 32)) {
        return make_error(Errc::config, fmt::format("{}: data at 0x{:x} runs past the 32-bit address space",
                                                    name, chunk.address));
      }
      if (!image.segments.empty() && chunk.address < end) {
        return make_error(Errc::config, fmt::format("{}: overlapping data at 0x{:08x}", name, chunk.address));
      }
      if (!image.segments.empty() && chunk.address == end) {
        auto& seg = image.segments.back().data;
        seg.insert(seg.end(), chunk.data.begin(), chunk.data.end());
      } else {
        image.segments.push_back({static_cast<std::uint32_t>(chunk.address), std::move(chunk.data)});
      }
      end = image.segments.back().address + image.segments.back().data.size();
    }
    if (image.segments.empty()) return make_error(Errc::config, name + ": image holds no data records");
    return image;
  }

 private:
  struct Chunk {
    std::uint64_t address;
    Bytes data;
  };
  std::vector<Chunk> m_chunks;
};

// Lines of a text held in memory.
class TextLines {
 public:
  explicit TextLines(std::string_view text) : m_text(text) {}
  bool next(std::string_view& line) {
    if (m_pos >= m_text.size()) return false;
    std::size_t nl = m_text.find('\n', m_pos);
    std::size_t end = nl == std::string_view::npos ? m_text.size() : nl;
    line = m_text.substr(m_pos, end - m_pos);
    m_pos = end + 1;
    return true;
  }

 private:
  std::string_view m_text;
  std::size_t m_pos = 0;
};

// Lines read from a file one at a time, so a large HEX file is never held as text.
class FileLines {
 public:
  explicit FileLines(std::FILE* file) : m_file(file) {}
  bool next(std::string_view& line) {
    m_line.clear();
    int c = 0;
    while ((c = std::getc(m_file)) != EOF && c != '\n') m_line.push_back(static_cast<char>(c));
    if (c == EOF && m_line.empty()) return false;
    line = m_line;
    return true;
  }

 private:
  std::FILE* m_file;
  std::string m_line;
};

// Feeds trimmed, non-blank lines with 1-based numbers to `f`; tolerates CRLF.
template <class Lines, class F>
Result<void> for_each_line(Lines& lines, F&& f) {
  std::size_t line_no = 0;
  std::string_view line;
  while (lines.next(line)) {
    ++line_no;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty()) continue;
    bool stop = false;
    ECUUP_TRY(f(line, line_no, stop));
    if (stop) break;
  }
  return success();
}

Error errno_io(const std::string& what, const fs::path& path) {
  if (errno == ENOENT) return make_error(Errc::not_found, "no such file: " + path.string());
  return make_error(Errc::io, what + " " + path.string() + ": " + std::strerror(errno));
}

}  // namespace

const char* image_format_name(ImageFormat format) {
  switch (format) {
    case ImageFormat::auto_detect: return "auto";
    case ImageFormat::raw: return "raw";
    case ImageFormat::ihex: return "ihex";
    case ImageFormat::srec: return "srec";
  }
  return "?";
}

Result<ImageFormat> parse_image_format(std::string_view name) {
  if (name == "auto") return ImageFormat::auto_detect;
  if (name == "raw" || name == "bin") return ImageFormat::raw;
  if (name == "ihex" || name == "hex") return ImageFormat::ihex;
  if (name == "srec" || name == "s19" || name == "s28" || name == "s37") return ImageFormat::srec;
  return make_error(Errc::config,
                    fmt::format("unknown image format '{}' (expected one of: auto, raw, ihex, srec)", name));
}

std::uint64_t FlashImage::total_size() const {
  std::uint64_t total = 0;
  for (const auto& s : segments) total += s.data.size();
  return total;
}

namespace {

template <class Lines>
Result<FlashImage> parse_ihex_lines(Lines& lines, const std::string& name) {
  SegmentBuilder builder;
  std::uint64_t base = 0;
  bool seen_eof = false;
  std::size_t last_line = 0;
  auto parsed = for_each_line(lines, [&](std::string_view line, std::size_t line_no, bool& stop) -> Result<void> {
    last_line = line_no;
    if (line.front() != ':') return parse_error(name, line_no, "expected ':' at the start of an Intel HEX record");
    ECUUP_ASSIGN(Bytes rec, record_bytes(line.substr(1), 1, name, line_no));
    if (rec.size() < 5) return parse_error(name, line_no, "record too short (expected at least 5 bytes)");
    std::size_t len = rec[0];
    if (rec.size() != len + 5) {
      return parse_error(name, line_no,
                         fmt::format("record length says {} data bytes but the line holds {}", len, rec.size() - 5));
    }
    std::uint8_t sum = 0;
    for (std::size_t i = 0; i + 1 < rec.size(); ++i) sum = static_cast<std::uint8_t>(sum + rec[i]);
    std::uint8_t expected = static_cast<std::uint8_t>(0x100 - sum);
    if (rec.back() != expected) {
      return parse_error(name, line_no,
                         fmt::format("bad checksum 0x{:02x} (expected 0x{:02x})", rec.back(), expected));
    }
    std::uint32_t offset = static_cast<std::uint32_t>(rec[1] << 8 | rec[2]);
    std::uint8_t type = rec[3];
    const std::uint8_t* data = rec.data() + 4;
    switch (type) {
      case k_ihex_data:
        builder.add(base + offset, data, len);
        break;
      case k_ihex_eof:
        seen_eof = true;
        stop = true;
        break;
      case k_ihex_ext_segment:
        if (len != 2) return parse_error(name, line_no, "extended segment address record needs 2 data bytes");
        base = static_cast<std::uint64_t>(data[0] << 8 | data[1]) << 4;
        break;
      case k_ihex_ext_linear:
        if (len != 2) return parse_error(name, line_no, "extended linear address record needs 2 data bytes");
        base = static_cast<std::uint64_t>(data[0] << 8 | data[1]) << 16;
        break;
      case k_ihex_start_segment:
      case k_ihex_start_linear:
        break;  // entry point: irrelevant for flashing
      default:
        return parse_error(name, line_no,
                           fmt::format("unknown record type {:02x} (expected 00, 01, 02, 03, 04 or 05)", type));
    }
    return success();
  });
  if (!parsed) return std::move(parsed).error();
  if (!seen_eof) {
    return parse_error(name, last_line + 1, "expected an end-of-file record (:00000001FF) before the end of the file");
  }
  return builder.finish(name);
}

template <class Lines>
Result<FlashImage> parse_srec_lines(Lines& lines, const std::string& name) {
  SegmentBuilder builder;
  bool seen_end = false;
  std::size_t data_records = 0;
  std::size_t last_line = 0;
  auto parsed = for_each_line(lines, [&](std::string_view line, std::size_t line_no, bool& stop) -> Result<void> {
    last_line = line_no;
    if (line.size() < 2 || line[0] != 'S' || line[1] < '0' || line[1] > '9') {
      return parse_error(name, line_no, "expected 'S' and a record type digit at the start of an S-record");
    }
    char type = line[1];
    ECUUP_ASSIGN(Bytes rec, record_bytes(line.substr(2), 2, name, line_no));
    if (rec.empty()) return parse_error(name, line_no, "record has no byte count");
    std::size_t count = rec[0];
    if (rec.size() != count + 1) {
      return parse_error(name, line_no,
                         fmt::format("byte count says {} but the line holds {}", count, rec.size() - 1));
    }
    std::uint8_t sum = 0;
    for (std::size_t i = 0; i + 1 < rec.size(); ++i) sum = static_cast<std::uint8_t>(sum + rec[i]);
    std::uint8_t expected = static_cast<std::uint8_t>(~sum);
    if (rec.back() != expected) {
      return parse_error(name, line_no,
                         fmt::format("bad checksum 0x{:02x} (expected 0x{:02x})", rec.back(), expected));
    }
    std::size_t addr_len = 0;
    switch (type) {
      case '0': case '1': case '5': case '9': addr_len = 2; break;
      case '2': case '6': case '8': addr_len = 3; break;
      case '3': case '7': addr_len = 4; break;
      default:
        return parse_error(name, line_no, fmt::format("unknown record type S{} (expected S0-S3, S5-S9)", type));
    }
    if (count < addr_len + 1) return parse_error(name, line_no, fmt::format("S{} record too short", type));
    std::uint64_t address = 0;
    for (std::size_t i = 0; i < addr_len; ++i) address = address << 8 | rec[1 + i];
    const std::uint8_t* data = rec.data() + 1 + addr_len;
    std::size_t data_len = count - addr_len - 1;
    switch (type) {
      case '1': case '2': case '3':
        builder.add(address, data, data_len);
        ++data_records;
        break;
      case '5': case '6':
        // S5/S6 carry the number of data records so far in the address field.
        if (address != data_records) {
          return parse_error(name, line_no,
                             fmt::format("record count says {} data records but {} were read", address, data_records));
        }
        break;
      case '7': case '8': case '9':
        seen_end = true;
        stop = true;
        break;
      default:
        break;  // S0 header
    }
    return success();
  });
  if (!parsed) return std::move(parsed).error();
  if (!seen_end) {
    return parse_error(name, last_line + 1, "expected a termination record (S7, S8 or S9) before the end of the file");
  }
  return builder.finish(name);
}

}  // namespace

Result<FlashImage> parse_ihex(std::string_view text, const std::string& name) {
  TextLines lines(text);
  return parse_ihex_lines(lines, name);
}

Result<FlashImage> parse_srec(std::string_view text, const std::string& name) {
  TextLines lines(text);
  return parse_srec_lines(lines, name);
}

Result<ImageFormat> detect_image_format(const fs::path& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return errno_io("cannot open image", path);
  char buf[600];
  std::size_t n = std::fread(buf, 1, sizeof buf, f.get());
  std::string_view head(buf, n);
  std::size_t start = head.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos) return ImageFormat::raw;
  head.remove_prefix(start);
  // A text image's first line is a marker followed by hex digits only.
  auto hex_line = [&](std::size_t from) {
    std::size_t i = from;
    while (i < head.size() && hex_nibble(head[i]) >= 0) ++i;
    return i > from + 1 && (i == head.size() || head[i] == '\r' || head[i] == '\n');
  };
  if (head[0] == ':' && hex_line(1)) return ImageFormat::ihex;
  if (head.size() > 2 && head[0] == 'S' && head[1] >= '0' && head[1] <= '9' && hex_line(2)) return ImageFormat::srec;
  return ImageFormat::raw;
}

Result<FlashImage> load_image(const fs::path& path, ImageFormat format, std::uint32_t raw_base_address) {
  if (format == ImageFormat::auto_detect) {
    ECUUP_ASSIGN(format, detect_image_format(path));
  }
  if (format == ImageFormat::raw) {
    auto data = read_binary_file(path);
    if (!data) return std::move(data).error();
    if (data->empty()) return make_error(Errc::config, path.string() + ": image is empty");
    if (raw_base_address + std::uint64_t{data->size()} > (std::uint64_t{1} << 32)) {
      return make_error(Errc::config, path.string() + ": image runs past the 32-bit address space");
    }
    FlashImage image;
    image.segments.push_back({raw_base_address, std::move(data).value()});
    return image;
  }
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return errno_io("cannot open image", path);
  FileLines lines(f.get());
  auto image = format == ImageFormat::ihex ? parse_ihex_lines(lines, path.string())
                                           : parse_srec_lines(lines, path.string());
  if (image && std::ferror(f.get())) return make_error(Errc::io, "cannot read " + path.string());
  return image;
}

Result<ImageSource> ImageSource::open(const fs::path& path, ImageFormat format, std::uint32_t raw_base_address) {
  if (format == ImageFormat::auto_detect) {
    ECUUP_ASSIGN(format, detect_image_format(path));
  }
  ImageSource source;
  source.m_format = format;
  source.m_path = path;
  if (format != ImageFormat::raw) {
    ECUUP_ASSIGN(source.m_memory, load_image(path, format, raw_base_address));
    for (const auto& s : source.m_memory.segments) source.m_segments.push_back({s.address, s.data.size()});
    return source;
  }
  source.m_file.reset(std::fopen(path.c_str(), "rb"));
  if (!source.m_file) return errno_io("cannot open image", path);
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  if (ec) return make_error(Errc::io, "cannot stat " + path.string() + ": " + ec.message());
  if (size == 0) return make_error(Errc::config, path.string() + ": image is empty");
  if (raw_base_address + std::uint64_t{size} > (std::uint64_t{1} << 32)) {
    return make_error(Errc::config, path.string() + ": image runs past the 32-bit address space");
  }
  source.m_segments.push_back({raw_base_address, size});
  return source;
}

ImageSource ImageSource::from_memory(FlashImage image) {
  ImageSource source;
  source.m_format = ImageFormat::srec;
  source.m_memory = std::move(image);
  for (const auto& s : source.m_memory.segments) source.m_segments.push_back({s.address, s.data.size()});
  return source;
}

std::uint64_t ImageSource::total_size() const {
  std::uint64_t total = 0;
  for (const auto& s : m_segments) total += s.size;
  return total;
}

Result<void> ImageSource::read(std::size_t index, std::uint64_t offset, std::span<std::uint8_t> out) {
  if (index >= m_segments.size() || offset + out.size() > m_segments[index].size) {
    return make_error(Errc::internal, "image read out of range");
  }
  if (!m_file) {
    const auto& data = m_memory.segments[index].data;
    std::copy_n(data.begin() + static_cast<std::ptrdiff_t>(offset), out.size(), out.begin());
    return success();
  }
  // Blocks are read in order: seek only when a caller jumps (a repeated or skipped block).
  if (offset != m_file_pos && ::fseeko(m_file.get(), static_cast<off_t>(offset), SEEK_SET) != 0) {
    m_file_pos = ~std::uint64_t{0};
    return make_error(Errc::io, fmt::format("cannot seek in {}: {}", m_path.string(), std::strerror(errno)));
  }
  m_file_pos = offset + out.size();
  if (std::fread(out.data(), 1, out.size(), m_file.get()) != out.size()) {
    m_file_pos = ~std::uint64_t{0};
    return make_error(Errc::io, fmt::format("cannot read {} at offset {}: {}", m_path.string(), offset,
                                            std::ferror(m_file.get()) ? std::strerror(errno) : "file shrank"));
  }
  return success();
}

Result<ImageWriter> ImageWriter::create(const fs::path& path, ImageFormat format) {
  if (format == ImageFormat::auto_detect) return make_error(Errc::internal, "ImageWriter needs a concrete format");
  ImageWriter w;
  w.m_format = format;
  w.m_path = path;
  w.m_tmp = path;
  w.m_tmp += ".partial";
  w.m_file = std::fopen(w.m_tmp.c_str(), "wb");
  if (!w.m_file) return errno_io("cannot create", w.m_tmp);
  if (format == ImageFormat::srec) {
    // An empty S0 header record.
    ECUUP_TRY(w.put("S0030000FC\n"));
  }
  return w;
}

ImageWriter::ImageWriter(ImageWriter&& other) noexcept { *this = std::move(other); }

ImageWriter& ImageWriter::operator=(ImageWriter&& other) noexcept {
  if (this != &other) {
    if (m_file) {
      std::fclose(m_file);
      fs::remove(m_tmp);
    }
    m_format = other.m_format;
    m_path = std::move(other.m_path);
    m_tmp = std::move(other.m_tmp);
    m_file = std::exchange(other.m_file, nullptr);
    m_started = other.m_started;
    m_next_address = other.m_next_address;
    m_ihex_upper = other.m_ihex_upper;
    m_ihex_upper_set = other.m_ihex_upper_set;
  }
  return *this;
}

ImageWriter::~ImageWriter() {
  if (m_file) {
    std::fclose(m_file);
    std::error_code ec;
    fs::remove(m_tmp, ec);
  }
}

Result<void> ImageWriter::put(std::string_view text) {
  if (std::fwrite(text.data(), 1, text.size(), m_file) != text.size()) {
    return make_error(Errc::io, "cannot write " + m_tmp.string() + ": " + std::strerror(errno));
  }
  return success();
}

Result<void> ImageWriter::write(std::uint32_t address, ByteView data) {
  if (!m_file) return make_error(Errc::internal, "ImageWriter already finished");
  if (m_format == ImageFormat::raw) {
    if (m_started && address != m_next_address) {
      return make_error(Errc::config, fmt::format("a raw image cannot hold a gap (0x{:08x} after 0x{:08x}); "
                                                  "use ihex or srec", address, m_next_address));
    }
    m_started = true;
    m_next_address = static_cast<std::uint32_t>(address + data.size());
    if (!data.empty() && std::fwrite(data.data(), 1, data.size(), m_file) != data.size()) {
      return make_error(Errc::io, "cannot write " + m_tmp.string() + ": " + std::strerror(errno));
    }
    return success();
  }
  std::string text;
  std::size_t pos = 0;
  while (pos < data.size()) {
    std::uint32_t addr = static_cast<std::uint32_t>(address + pos);
    if (m_format == ImageFormat::ihex) {
      std::uint32_t upper = addr >> 16;
      if (!m_ihex_upper_set || upper != m_ihex_upper) {
        std::uint8_t sum = static_cast<std::uint8_t>(2 + k_ihex_ext_linear + (upper >> 8) + (upper & 0xff));
        text += fmt::format(":02000004{:04X}{:02X}\n", upper, static_cast<std::uint8_t>(0x100 - sum));
        m_ihex_upper = upper;
        m_ihex_upper_set = true;
      }
      // A record never crosses a 64 KiB boundary: its offset field is 16 bits.
      std::size_t room = 0x10000 - (addr & 0xffff);
      std::size_t n = std::min({k_ihex_bytes_per_record, data.size() - pos, room});
      std::uint8_t sum = static_cast<std::uint8_t>(n + (addr >> 8 & 0xff) + (addr & 0xff) + k_ihex_data);
      text += fmt::format(":{:02X}{:04X}00", n, addr & 0xffff);
      for (std::size_t i = 0; i < n; ++i) {
        sum = static_cast<std::uint8_t>(sum + data[pos + i]);
        text += fmt::format("{:02X}", data[pos + i]);
      }
      text += fmt::format("{:02X}\n", static_cast<std::uint8_t>(0x100 - sum));
      pos += n;
    } else {
      std::size_t n = std::min(k_srec_bytes_per_record, data.size() - pos);
      std::size_t count = n + 5;
      std::uint8_t sum = static_cast<std::uint8_t>(count + (addr >> 24) + (addr >> 16 & 0xff) + (addr >> 8 & 0xff) +
                                                   (addr & 0xff));
      text += fmt::format("S3{:02X}{:08X}", count, addr);
      for (std::size_t i = 0; i < n; ++i) {
        sum = static_cast<std::uint8_t>(sum + data[pos + i]);
        text += fmt::format("{:02X}", data[pos + i]);
      }
      text += fmt::format("{:02X}\n", static_cast<std::uint8_t>(~sum));
      pos += n;
    }
  }
  return put(text);
}

Result<void> ImageWriter::finish() {
  if (!m_file) return make_error(Errc::internal, "ImageWriter already finished");
  if (m_format == ImageFormat::ihex) ECUUP_TRY(put(":00000001FF\n"));
  if (m_format == ImageFormat::srec) ECUUP_TRY(put("S70500000000FA\n"));
  int rc = std::fclose(std::exchange(m_file, nullptr));
  if (rc != 0) {
    auto err = make_error(Errc::io, "cannot write " + m_tmp.string() + ": " + std::strerror(errno));
    std::error_code ec;
    fs::remove(m_tmp, ec);
    return err;
  }
  return commit_file_atomic(m_tmp, m_path);
}

Result<void> write_image(const fs::path& path, const FlashImage& image, ImageFormat format) {
  ECUUP_ASSIGN(auto writer, ImageWriter::create(path, format));
  for (const auto& s : image.segments) ECUUP_TRY(writer.write(s.address, s.data));
  return writer.finish();
}

}  // namespace ecuup
