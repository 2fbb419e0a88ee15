// Checks, without creating anything, that a configured directory exists or could be created, so
// that a bad path fails at load time with the setting's name instead of at the first write.
#pragma once

#include <filesystem>
#include <string>

namespace larder {

// The absolute, lexically normal form of `path` if it exists, else of its closest ancestor that
// does. A dangling symbolic link counts as existing: nothing can be created in its place.
std::filesystem::path nearest_existing_ancestor(const std::filesystem::path& path);

// Throws config_error against `key_path` unless `dir` is a writable directory, or does not exist
// and its nearest existing ancestor is a writable directory.
void check_directory_creatable(const std::filesystem::path& dir, const std::string& key_path);

}  // namespace larder
