#include <algorithm>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <larder/config/system_memory.hpp>

#include "ascii_text.hpp"
#include "decimal_number.hpp"
#include "text_file.hpp"

namespace larder {
namespace {

namespace fs = std::filesystem;

// Calls fn(line) for each line of text.
template <typename Fn>
void for_each_line(std::string_view text, Fn fn) {
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    fn(text.substr(0, end));
    if (end == std::string_view::npos) return;
    text.remove_prefix(end + 1);
  }
}

std::optional<std::uint64_t> whole_number(std::string_view text) {
  text = trim_blanks(text);
  const std::optional<std::uint64_t> value = read_whole_number(text);
  if (!value || !text.empty()) return std::nullopt;
  return value;
}

// The number after `name` on a line `<name><separator><number>...`, as in /proc/meminfo
// ("MemAvailable:   8123456 kB") and memory.stat ("inactive_file 4096").
std::optional<std::uint64_t> field(std::string_view text, std::string_view name) {
  std::optional<std::uint64_t> value;
  for_each_line(text, [&](std::string_view line) {
    if (value || !line.starts_with(name)) return;
    line.remove_prefix(name.size());
    line = trim_blanks(line);
    value = read_whole_number(line);
  });
  return value;
}

std::uint64_t meminfo_available(const fs::path& root) {
  const fs::path meminfo = root / "proc/meminfo";
  const std::optional<std::uint64_t> kib = field(read_text_file(meminfo), "MemAvailable:");
  if (!kib) throw std::runtime_error(meminfo.string() + " has no MemAvailable line");
  return *kib * 1024;
}

// The file names of one cgroup version's memory controller.
struct memory_controller_files {
  std::string_view limit;
  std::string_view usage;
  // The memory.stat line that counts reclaimable page cache.
  std::string_view inactive_file;
};

constexpr memory_controller_files cgroup_v2{"memory.max", "memory.current", "inactive_file "};
constexpr memory_controller_files cgroup_v1{"memory.limit_in_bytes", "memory.usage_in_bytes",
                                            "total_inactive_file "};

// The number a single-value cgroup file holds; nullopt when the file is missing or holds a word
// ("max" for no limit).
std::optional<std::uint64_t> counter_file(const fs::path& file) {
  const std::optional<std::string> text = read_text_file_if_present(file);
  if (!text) return std::nullopt;
  return whole_number(std::string_view{*text}.substr(0, text->find('\n')));
}

// Bytes the cgroup at `dir` still allows; nullopt when it sets no limit ("max", or no files at
// this level).
std::optional<std::uint64_t> room_in_cgroup(const fs::path& dir,
                                            const memory_controller_files& files) {
  const std::optional<std::uint64_t> limit = counter_file(dir / files.limit);
  if (!limit) return std::nullopt;
  std::uint64_t used = counter_file(dir / files.usage).value_or(0);
  if (const std::optional<std::string> stat = read_text_file_if_present(dir / "memory.stat")) {
    used -= std::min(used, field(*stat, files.inactive_file).value_or(0));
  }
  return *limit > used ? *limit - used : 0;
}

// The tightest room left by the cgroup at `cgroup` (a path as /proc/self/cgroup writes it) and its
// ancestors. A parent's limit binds its children, and inside a container the hierarchy is often
// mounted at the container's own cgroup, so the deeper levels may simply not exist.
std::optional<std::uint64_t> room_in_hierarchy(const fs::path& mount, const fs::path& cgroup,
                                               const memory_controller_files& files) {
  std::optional<std::uint64_t> tightest;
  for (fs::path level = cgroup.relative_path();; level = level.parent_path()) {
    if (const std::optional<std::uint64_t> room = room_in_cgroup(mount / level, files)) {
      tightest = std::min(tightest.value_or(*room), *room);
    }
    if (level.empty()) return tightest;
  }
}

bool lists_memory_controller(std::string_view controllers) {
  bool found = false;
  for (std::size_t start = 0; start <= controllers.size();) {
    const std::size_t end = std::min(controllers.find(',', start), controllers.size());
    found = found || controllers.substr(start, end - start) == "memory";
    start = end + 1;
  }
  return found;
}

// Lines of /proc/self/cgroup read `hierarchy-id:controllers:path`; cgroup v2 is `0::path`.
std::optional<std::uint64_t> cgroup_room(const fs::path& root) {
  const std::optional<std::string> membership =
      read_text_file_if_present(root / "proc/self/cgroup");
  if (!membership) return std::nullopt;
  std::optional<std::uint64_t> tightest;
  for_each_line(*membership, [&](std::string_view line) {
    const std::size_t first = line.find(':');
    if (first == std::string_view::npos) return;
    const std::size_t second = line.find(':', first + 1);
    if (second == std::string_view::npos) return;
    const std::string_view id = line.substr(0, first);
    const std::string_view controllers = line.substr(first + 1, second - first - 1);
    const fs::path cgroup{line.substr(second + 1)};
    std::optional<std::uint64_t> room;
    if (id == "0" && controllers.empty()) {
      room = room_in_hierarchy(root / "sys/fs/cgroup", cgroup, cgroup_v2);
    } else if (lists_memory_controller(controllers)) {
      room = room_in_hierarchy(root / "sys/fs/cgroup/memory", cgroup, cgroup_v1);
    }
    if (room) tightest = std::min(tightest.value_or(*room), *room);
  });
  return tightest;
}

}  // namespace

std::uint64_t available_memory_bytes() {
  return available_memory_bytes("/");
}

std::uint64_t available_memory_bytes(const fs::path& root) {
  const std::uint64_t available = meminfo_available(root);
  return std::min(available, cgroup_room(root).value_or(available));
}

}  // namespace larder
