// Reads whole text files: configuration documents and the kernel's /proc and /sys files. The
// latter report a size of 0 in stat(), so the file is read until end of file.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace larder {

// Throws std::system_error naming the file when it cannot be opened or read (a directory
// included).
std::string read_text_file(const std::filesystem::path& file);

// nullopt when the file does not exist; other failures throw as read_text_file does.
std::optional<std::string> read_text_file_if_present(const std::filesystem::path& file);

}  // namespace larder
