#pragma once
#include <filesystem>
#include <string>
#include <string_view>

#include "util/bytes.hpp"
#include "util/result.hpp"

namespace ecuup {

Result<std::string> read_text_file(const std::filesystem::path& path);
Result<Bytes> read_binary_file(const std::filesystem::path& path);

// Crash-safe replace: write a temp file beside `path`, fsync it, rename over `path`, fsync the
// directory. A kill -9 at any point leaves either the old or the new content, never a mix.
Result<void> write_file_atomic(const std::filesystem::path& path, std::string_view content);
Result<void> write_file_atomic(const std::filesystem::path& path, ByteView content);
// Same, for a file produced elsewhere: fsync `tmp`, rename it to `path`, fsync the directory.
Result<void> commit_file_atomic(const std::filesystem::path& tmp, const std::filesystem::path& path);

Result<void> ensure_directory(const std::filesystem::path& dir);
Result<void> fsync_directory(const std::filesystem::path& dir);

}  // namespace ecuup
