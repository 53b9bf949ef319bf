#include "util/compress.hpp"

#include <zlib.h>

#include <array>
#include <limits>

#include <fmt/format.h>

namespace ecuup {

std::string compression_name(std::uint8_t method) {
  switch (method) {
    case k_compression_none: return "none";
    case k_compression_zlib: return "zlib";
    default: return fmt::format("method {}", method);
  }
}

Result<Bytes> compress_bytes(std::uint8_t method, ByteView data) {
  if (method == k_compression_none) return Bytes(data.begin(), data.end());
  if (method != k_compression_zlib)
    return make_error(Errc::config, fmt::format("compression {} is not one ecuup can apply (it knows 1 = zlib)",
                                                compression_name(method)));
  uLongf size = compressBound(static_cast<uLong>(data.size()));
  Bytes out(size);
  if (compress2(out.data(), &size, data.data(), static_cast<uLong>(data.size()), Z_BEST_COMPRESSION) != Z_OK)
    return make_error(Errc::io, "zlib could not compress the data");
  out.resize(size);
  return out;
}

struct StreamInflater::State {
  z_stream z{};
  bool ok = false;
};

StreamInflater::StreamInflater() : m_state(new State) { m_state->ok = inflateInit(&m_state->z) == Z_OK; }

StreamInflater::~StreamInflater() {
  if (m_state->ok) inflateEnd(&m_state->z);
  delete m_state;
}

Result<Bytes> StreamInflater::feed(ByteView data, std::uint64_t limit) {
  if (!m_state->ok) return make_error(Errc::io, "zlib could not start");
  if (m_ended) {
    if (data.empty()) return Bytes{};
    return make_error(Errc::verify, "data after the end of the zlib stream");
  }
  constexpr std::size_t k_chunk = 16384;
  Bytes out;
  z_stream& z = m_state->z;
  z.next_in = const_cast<Bytef*>(data.data());
  z.avail_in = static_cast<uInt>(data.size());
  do {
    const std::size_t at = out.size();
    out.resize(at + k_chunk);
    z.next_out = out.data() + at;
    z.avail_out = static_cast<uInt>(k_chunk);
    const int rc = inflate(&z, Z_NO_FLUSH);
    out.resize(at + k_chunk - z.avail_out);
    if (rc == Z_STREAM_END) {
      m_ended = true;
      if (z.avail_in != 0) return make_error(Errc::verify, "data after the end of the zlib stream");
      break;
    }
    if (rc == Z_BUF_ERROR && z.avail_in == 0) break;  // needs more input
    if (rc != Z_OK) return make_error(Errc::verify, fmt::format("corrupt zlib data ({})", z.msg ? z.msg : "inflate failed"));
    if (out.size() > limit) return make_error(Errc::verify, fmt::format("the zlib data expands past {} more bytes", limit));
  } while (z.avail_in > 0 || z.avail_out == 0);
  m_produced += out.size();
  return out;
}

Result<std::uint64_t> decompress_stream(std::uint8_t method, ByteView data, std::uint64_t limit,
                                        const std::function<void(ByteView)>& sink) {
  if (method == k_compression_none) {
    if (data.size() > limit) return make_error(Errc::verify, fmt::format("{} bytes, more than {}", data.size(), limit));
    sink(data);
    return std::uint64_t{data.size()};
  }
  if (method != k_compression_zlib)
    return make_error(Errc::config, fmt::format("compression {} is not one ecuup can read (it knows 1 = zlib)",
                                                compression_name(method)));
  z_stream z{};
  if (inflateInit(&z) != Z_OK) return make_error(Errc::io, "zlib could not start");
  std::array<std::uint8_t, 64 * 1024> out{};
  std::size_t fed = 0;
  std::uint64_t total = 0;
  int rc = Z_OK;
  while (rc == Z_OK) {
    if (z.avail_in == 0 && fed < data.size()) {
      const std::size_t piece = std::min<std::size_t>(data.size() - fed, std::numeric_limits<uInt>::max());
      z.next_in = const_cast<Bytef*>(data.data() + fed);
      z.avail_in = static_cast<uInt>(piece);
      fed += piece;
    }
    z.next_out = out.data();
    z.avail_out = static_cast<uInt>(out.size());
    rc = inflate(&z, Z_NO_FLUSH);
    const std::size_t produced = out.size() - z.avail_out;
    total += produced;
    if (total > limit) break;
    if (produced) sink(ByteView(out.data(), produced));
    if (rc == Z_BUF_ERROR && z.avail_in == 0 && fed == data.size()) break;  // cut short
  }
  const bool ended = rc == Z_STREAM_END;
  const bool trailing = z.avail_in != 0 || fed != data.size();
  const std::string why = z.msg ? z.msg : "";
  inflateEnd(&z);
  if (total > limit) return make_error(Errc::verify, fmt::format("the zlib data expands past {} bytes", limit));
  if (ended && trailing) return make_error(Errc::verify, "data after the end of the zlib stream");
  if (ended) return total;
  if (rc == Z_OK || rc == Z_BUF_ERROR) return make_error(Errc::verify, "the zlib stream is cut short");
  return make_error(Errc::verify, fmt::format("corrupt zlib data ({})", why.empty() ? "inflate failed" : why));
}

Result<Bytes> decompress_bytes(std::uint8_t method, ByteView data, std::optional<std::uint64_t> expected_size) {
  constexpr std::uint64_t k_no_size_limit = std::uint64_t{1} << 32;  // nothing an ECU download can hold
  Bytes out;
  ECUUP_ASSIGN(std::uint64_t size, decompress_stream(method, data, expected_size.value_or(k_no_size_limit),
                                                     [&](ByteView piece) { out.insert(out.end(), piece.begin(), piece.end()); }));
  if (expected_size && size != *expected_size)
    return make_error(Errc::verify, fmt::format("the data expands to {} bytes where {} were expected", size, *expected_size));
  return out;
}

}  // namespace ecuup
