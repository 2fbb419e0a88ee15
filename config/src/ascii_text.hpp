// ASCII-only text helpers for configuration words and units. Configuration keywords are ASCII,
// and std::tolower would make their meaning depend on the process's locale.
#pragma once

#include <string>
#include <string_view>

namespace larder {

constexpr char ascii_lower(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

constexpr bool equals_ignoring_case(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

inline std::string ascii_lowercase(std::string_view text) {
  std::string out{text};
  for (char& c : out)
    c = ascii_lower(c);
  return out;
}

constexpr bool is_blank(char c) noexcept {
  return c == ' ' || c == '\t';
}

constexpr std::string_view trim_blanks(std::string_view text) noexcept {
  while (!text.empty() && is_blank(text.front()))
    text.remove_prefix(1);
  while (!text.empty() && is_blank(text.back()))
    text.remove_suffix(1);
  return text;
}

}  // namespace larder
