#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <grp.h>
#include <iterator>
#include <limits>
#include <optional>
#include <sched.h>
#include <sstream>
#include <string>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <larder/cache/temp_directory_cleaner.hpp>

#include "scratch_directory.hpp"

namespace larder {
namespace {

namespace fs = std::filesystem;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::nanoseconds;
using std::chrono::seconds;

constexpr seconds max_age = hours{1};

std::string contents_of(const fs::path& file) {
  std::ifstream in{file, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

// Sets the mtime of `path` itself, also when it is a symbolic link (std::filesystem's
// last_write_time would set the target's).
void set_own_mtime(const fs::path& path, fs::file_time_type when) {
  const auto since_epoch = std::chrono::file_clock::to_sys(when).time_since_epoch();
  const auto whole = std::chrono::floor<seconds>(since_epoch);
  const timespec times[2] = {
      {.tv_sec = 0, .tv_nsec = UTIME_OMIT},
      {.tv_sec = whole.count(),
       .tv_nsec = std::chrono::duration_cast<nanoseconds>(since_epoch - whole).count()}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW), 0) << path;
}

fs::file_time_type own_mtime(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  const auto since_epoch = seconds{st.st_mtim.tv_sec} + nanoseconds{st.st_mtim.tv_nsec};
  return std::chrono::file_clock::from_sys(
      std::chrono::sys_time<nanoseconds>{std::chrono::duration_cast<nanoseconds>(since_epoch)});
}

// A temp_dir (scratch/temp) and `now`, with helpers that place files of a given age in it.
class temp_directory_cleaner : public ::testing::Test {
 protected:
  void SetUp() override { fs::create_directory(temp_); }

  fs::file_time_type old_time() const { return now_ - hours{2}; }
  fs::file_time_type new_time() const { return now_ - minutes{10}; }

  // A file of `size` bytes at temp_dir/relative (directories created on the way, new) with mtime
  // `when`.
  fs::path file(const fs::path& relative, fs::file_time_type when, std::size_t size = 10) const {
    const fs::path path = scratch_.write(fs::path{"temp"} / relative, std::string(size, 'x'));
    fs::last_write_time(path, when);
    return path;
  }
  fs::path old_file(const fs::path& relative, std::size_t size = 10) const {
    return file(relative, old_time(), size);
  }
  fs::path new_file(const fs::path& relative, std::size_t size = 10) const {
    return file(relative, new_time(), size);
  }
  fs::path make_symlink(const fs::path& relative, const fs::path& target,
                        fs::file_time_type when) const {
    const fs::path link = temp_ / relative;
    fs::create_directories(link.parent_path());
    fs::create_symlink(target, link);
    set_own_mtime(link, when);
    return link;
  }

  temp_cleanup_report clean() const { return clean_temp_directory(temp_, max_age, now_); }

  testing::scratch_directory scratch_;
  const fs::path temp_ = scratch_.path() / "temp";
  const fs::file_time_type now_ = fs::file_time_type::clock::now();
};

TEST_F(temp_directory_cleaner, removes_old_files_and_keeps_new_ones) {
  const fs::path old_a = old_file("a.bin", 100);
  const fs::path old_b = old_file("b.bin", 23);
  const fs::path fresh = new_file("c.bin", 7);
  const temp_cleanup_report report = clean();
  EXPECT_EQ(report.files_removed, 2u);
  EXPECT_EQ(report.bytes_removed, 123u);
  EXPECT_EQ(report.directories_removed, 0u);
  EXPECT_EQ(report.errors, 0u) << report.first_error;
  EXPECT_FALSE(fs::exists(old_a));
  EXPECT_FALSE(fs::exists(old_b));
  EXPECT_TRUE(fs::exists(fresh));
  EXPECT_TRUE(fs::is_directory(temp_)) << "temp_dir itself stays";
}

TEST_F(temp_directory_cleaner, mtime_at_the_cutoff_is_not_yet_older) {
  const fs::path at_cutoff = file("at_cutoff", now_ - max_age);
  const fs::path just_older = file("just_older", now_ - max_age - nanoseconds{1});
  const fs::path in_the_future = file("future", now_ + hours{24 * 365});
  EXPECT_EQ(clean().files_removed, 1u);
  EXPECT_TRUE(fs::exists(at_cutoff));
  EXPECT_FALSE(fs::exists(just_older));
  EXPECT_TRUE(fs::exists(in_the_future));
}

TEST_F(temp_directory_cleaner, cleans_nested_directories_and_removes_those_it_empties) {
  old_file("a/b/c/old1");
  const fs::path kept = new_file("a/b/new");
  old_file("a/d/old2");
  old_file("a/d/old3");
  const temp_cleanup_report report = clean();
  EXPECT_EQ(report.files_removed, 3u);
  EXPECT_EQ(report.directories_removed, 2u) << "a/b/c and a/d";
  EXPECT_EQ(report.errors, 0u) << report.first_error;
  EXPECT_FALSE(fs::exists(temp_ / "a/b/c"));
  EXPECT_FALSE(fs::exists(temp_ / "a/d"));
  EXPECT_TRUE(fs::exists(kept));
}

TEST_F(temp_directory_cleaner, chain_of_emptied_directories_goes_up_to_but_not_including_temp_dir) {
  old_file("x/y/z/old");
  const temp_cleanup_report report = clean();
  EXPECT_EQ(report.files_removed, 1u);
  EXPECT_EQ(report.directories_removed, 3u);
  EXPECT_TRUE(fs::is_directory(temp_));
  EXPECT_TRUE(fs::is_empty(temp_));
}

TEST_F(temp_directory_cleaner, empty_directory_goes_only_once_unchanged_for_max_age) {
  fs::create_directories(temp_ / "fresh_empty");
  fs::create_directories(temp_ / "abandoned/also_abandoned");
  set_own_mtime(temp_ / "abandoned/also_abandoned", old_time());
  set_own_mtime(temp_ / "abandoned", old_time());
  const temp_cleanup_report report = clean();
  EXPECT_EQ(report.directories_removed, 2u);
  EXPECT_EQ(report.files_removed, 0u);
  EXPECT_TRUE(fs::exists(temp_ / "fresh_empty"));
  EXPECT_FALSE(fs::exists(temp_ / "abandoned"));
}

TEST_F(temp_directory_cleaner, directory_holding_a_new_file_stays_however_old_it_is) {
  const fs::path kept = new_file("old_dir/new");
  set_own_mtime(temp_ / "old_dir", old_time());
  EXPECT_EQ(clean(), temp_cleanup_report{});
  EXPECT_TRUE(fs::exists(kept));
}

TEST_F(temp_directory_cleaner, other_kinds_of_file_are_left_alone) {
  const fs::path fifo = temp_ / "sub/pipe";
  fs::create_directories(fifo.parent_path());
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  set_own_mtime(fifo, old_time());
  old_file("sub/old");
  const temp_cleanup_report report = clean();
  EXPECT_EQ(report.files_removed, 1u);
  EXPECT_EQ(report.directories_removed, 0u) << "sub still holds the FIFO";
  EXPECT_TRUE(fs::is_fifo(fs::symlink_status(fifo)));
}

// Old files in a directory outside temp_dir, reachable only through symbolic links inside it.
class symlinks_out_of_temp_dir : public temp_directory_cleaner {
 protected:
  void SetUp() override {
    temp_directory_cleaner::SetUp();
    outside_file_ = outside_.write("precious/file", "keep me");
    outside_dir_ = outside_file_.parent_path();
    fs::last_write_time(outside_file_, old_time());
    set_own_mtime(outside_dir_, old_time());
  }

  void expect_outside_untouched() const {
    EXPECT_EQ(contents_of(outside_file_), "keep me");
    EXPECT_EQ(own_mtime(outside_file_), old_time());
    EXPECT_EQ(own_mtime(outside_dir_), old_time()) << "nothing was created or removed in it";
  }

  testing::scratch_directory outside_;
  fs::path outside_file_;
  fs::path outside_dir_;
};

TEST_F(symlinks_out_of_temp_dir, old_link_to_a_file_is_removed_and_its_target_survives) {
  const fs::path link = make_symlink("sub/link", outside_file_, old_time());
  const temp_cleanup_report report = clean();
  EXPECT_EQ(report.files_removed, 1u);
  EXPECT_EQ(report.bytes_removed, 0u) << "a link's own size is not the target's data";
  EXPECT_EQ(report.directories_removed, 1u);
  EXPECT_FALSE(fs::exists(fs::symlink_status(link)));
  expect_outside_untouched();
}

TEST_F(symlinks_out_of_temp_dir, new_link_to_an_old_directory_is_kept_and_not_followed) {
  const fs::path link = make_symlink("link_to_dir", outside_dir_, new_time());
  EXPECT_EQ(clean(), temp_cleanup_report{});
  EXPECT_TRUE(fs::is_symlink(link));
  expect_outside_untouched();
}

TEST_F(symlinks_out_of_temp_dir, old_link_to_a_directory_is_removed_as_a_link) {
  const fs::path link = make_symlink("link_to_dir", outside_dir_, old_time());
  const temp_cleanup_report report = clean();
  EXPECT_EQ(report.files_removed, 1u);
  EXPECT_EQ(report.directories_removed, 0u);
  EXPECT_FALSE(fs::exists(fs::symlink_status(link)));
  expect_outside_untouched();
}

TEST_F(symlinks_out_of_temp_dir, new_link_to_an_old_file_is_judged_by_its_own_mtime) {
  const fs::path link = make_symlink("link", outside_file_, new_time());
  EXPECT_EQ(clean(), temp_cleanup_report{});
  EXPECT_TRUE(fs::is_symlink(link));
  expect_outside_untouched();
}

TEST_F(symlinks_out_of_temp_dir, old_link_to_a_new_file_is_removed) {
  fs::last_write_time(outside_file_, new_time());
  const fs::path link = make_symlink("link", outside_file_, old_time());
  EXPECT_EQ(clean().files_removed, 1u);
  EXPECT_FALSE(fs::exists(fs::symlink_status(link)));
  EXPECT_EQ(contents_of(outside_file_), "keep me");
}

TEST_F(symlinks_out_of_temp_dir, temp_dir_that_is_a_link_is_refused_and_nothing_is_touched) {
  const fs::path link = scratch_.path() / "temp_link";
  fs::create_directory_symlink(outside_dir_, link);
  for (const fs::path& temp_dir : {link, fs::path{link.string() + "/"}}) {
    const temp_cleanup_report report = clean_temp_directory(temp_dir, max_age, now_);
    EXPECT_EQ(report.errors, 1u) << temp_dir;
    EXPECT_EQ(report.files_removed, 0u) << temp_dir;
    EXPECT_EQ(report.first_error, temp_dir.string() + ": not cleaned: it is a symbolic link");
  }
  expect_outside_untouched();
}

TEST_F(temp_directory_cleaner, missing_temp_dir_is_nothing_to_do) {
  EXPECT_EQ(clean_temp_directory(temp_ / "absent", max_age, now_), temp_cleanup_report{});
  EXPECT_EQ(clean_temp_directory(temp_ / "absent/deeper", max_age, now_), temp_cleanup_report{});
  EXPECT_FALSE(fs::exists(temp_ / "absent")) << "nothing is created";
}

TEST_F(temp_directory_cleaner, temp_dir_that_is_a_file_is_refused) {
  const fs::path not_a_dir = old_file("plain");
  const temp_cleanup_report report = clean_temp_directory(not_a_dir, max_age, now_);
  EXPECT_EQ(report.errors, 1u);
  EXPECT_EQ(report.first_error, not_a_dir.string() + ": not cleaned: Not a directory");
  EXPECT_TRUE(fs::exists(not_a_dir));
}

TEST_F(temp_directory_cleaner, empty_path_is_refused) {
  const temp_cleanup_report report = clean_temp_directory("", max_age, now_);
  EXPECT_EQ(report.errors, 1u);
  EXPECT_EQ(report.first_error, ": not cleaned: the path is empty");
}

TEST_F(temp_directory_cleaner, trailing_slash_on_a_real_directory_is_fine) {
  old_file("old");
  EXPECT_EQ(clean_temp_directory(temp_.string() + "//", max_age, now_).files_removed, 1u);
}

TEST_F(temp_directory_cleaner, huge_max_age_keeps_everything) {
  const fs::path ancient =
      file("ancient", std::chrono::file_clock::from_sys(std::chrono::sys_seconds{}));
  EXPECT_EQ(clean_temp_directory(temp_, seconds::max(), now_), temp_cleanup_report{});
  EXPECT_TRUE(fs::exists(ancient));
}

TEST_F(temp_directory_cleaner, zero_max_age_removes_everything_modified_before_now) {
  old_file("old");
  new_file("new");
  EXPECT_EQ(clean_temp_directory(temp_, seconds{0}, now_).files_removed, 2u);
}

TEST_F(temp_directory_cleaner, walk_stops_below_max_walk_depth_and_says_so) {
  fs::path deepest_allowed;
  for (int depth = 1; depth <= max_walk_depth; ++depth)
    deepest_allowed /= "d";
  const fs::path reachable = old_file(deepest_allowed / "old");
  const fs::path too_deep = old_file(deepest_allowed / "d/old");
  const temp_cleanup_report report = clean();
  EXPECT_FALSE(fs::exists(reachable));
  EXPECT_TRUE(fs::exists(too_deep));
  EXPECT_EQ(report.files_removed, 1u);
  EXPECT_EQ(report.directories_removed, 0u);
  EXPECT_EQ(report.errors, 1u);
  EXPECT_EQ(report.first_error, (temp_ / deepest_allowed / "d").string() +
                                    ": not cleaned: more than " + std::to_string(max_walk_depth) +
                                    " levels below the temp directory");
}

TEST_F(temp_directory_cleaner, overload_without_now_uses_the_current_time) {
  const fs::path old = file("old", fs::file_time_type::clock::now() - max_age - minutes{1});
  const fs::path fresh = file("fresh", fs::file_time_type::clock::now());
  EXPECT_EQ(clean_temp_directory(temp_, max_age).files_removed, 1u);
  EXPECT_FALSE(fs::exists(old));
  EXPECT_TRUE(fs::exists(fresh));
}

// The result of running `body` in a forked child: its report, or nullopt when the child could not
// set up what the test needs (body returns nullopt) or failed (a test failure). The child reports
// through a pipe.
std::optional<temp_cleanup_report> in_child_process(
    const std::function<std::optional<temp_cleanup_report>()>& body) {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) {
    ADD_FAILURE() << "pipe failed";
    return std::nullopt;
  }
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(pipe_fds[0]);
    std::optional<temp_cleanup_report> report;
    try {
      report = body();
    } catch (...) {
      // Never back into the test program: the child would go on to run the other tests.
      ::_exit(5);
    }
    if (!report) ::_exit(3);
    std::ostringstream out;
    out << report->files_removed << ' ' << report->bytes_removed << ' '
        << report->directories_removed << ' ' << report->errors << '\n'
        << report->first_error;
    const std::string text = out.str();
    ::_exit(::write(pipe_fds[1], text.data(), text.size()) == static_cast<ssize_t>(text.size())
                ? 0
                : 4);
  }
  ::close(pipe_fds[1]);
  std::string text;
  char buffer[4096];
  for (ssize_t n; (n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0;)
    text.append(buffer, n);
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 3) return std::nullopt;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    ADD_FAILURE() << "the child failed; wait status " << status;
    return std::nullopt;
  }
  std::istringstream in{text};
  temp_cleanup_report report;
  in >> report.files_removed >> report.bytes_removed >> report.directories_removed >> report.errors;
  in.ignore(1);
  std::getline(in, report.first_error, '\0');
  return report;
}

// Permission errors, which root never meets: as root (tests often run so in containers) the
// cleaner runs in a child process that has become the nobody user; otherwise in this process.
class permission_errors : public temp_directory_cleaner {
 protected:
  static constexpr uid_t nobody = 65534;

  void SetUp() override {
    temp_directory_cleaner::SetUp();
    // nobody must reach temp_dir and remove the directories the pass empties in it.
    fs::permissions(scratch_.path(), fs::perms{0755});
    fs::permissions(temp_, fs::perms{0777});
  }

  temp_cleanup_report clean_without_privileges() const {
    if (::geteuid() != 0) return clean();
    const std::optional<temp_cleanup_report> report =
        in_child_process([this]() -> std::optional<temp_cleanup_report> {
          if (::setgroups(0, nullptr) != 0 || ::setgid(nobody) != 0 || ::setuid(nobody) != 0) {
            return std::nullopt;
          }
          return clean();
        });
    EXPECT_TRUE(report) << "could not run the cleaner as nobody";
    return report.value_or(temp_cleanup_report{});
  }
};

TEST_F(permission_errors, file_that_cannot_be_removed_is_counted_and_the_pass_goes_on) {
  const fs::path stuck = old_file("read_only/old");
  old_file("writable/old1", 5);
  old_file("writable/old2", 6);
  fs::permissions(temp_ / "writable", fs::perms{0777});
  fs::permissions(temp_ / "read_only", fs::perms{0555});
  const temp_cleanup_report report = clean_without_privileges();
  fs::permissions(temp_ / "read_only", fs::perms{0755});
  EXPECT_EQ(report, (temp_cleanup_report{
                        .files_removed = 2,
                        .bytes_removed = 11,
                        .directories_removed = 1,
                        .errors = 1,
                        .first_error = stuck.string() + ": cannot remove: Permission denied"}));
  EXPECT_TRUE(fs::exists(stuck));
  EXPECT_FALSE(fs::exists(temp_ / "writable"));
}

TEST_F(permission_errors, directory_that_cannot_be_opened_is_counted_and_the_pass_goes_on) {
  const fs::path sealed_file = old_file("sealed/old");
  const fs::path sibling = old_file("after_sealed");
  fs::permissions(temp_ / "sealed", fs::perms::none);
  const temp_cleanup_report report = clean_without_privileges();
  fs::permissions(temp_ / "sealed", fs::perms{0755});
  EXPECT_EQ(report.files_removed, 1u);
  EXPECT_EQ(report.errors, 1u);
  EXPECT_EQ(report.first_error,
            (temp_ / "sealed").string() + ": cannot open directory: Permission denied");
  EXPECT_TRUE(fs::exists(sealed_file));
  EXPECT_FALSE(fs::exists(sibling));
}

TEST_F(permission_errors, only_the_first_of_several_errors_is_kept) {
  const fs::path first = old_file("a_read_only/old");
  old_file("b_read_only/old");
  fs::permissions(temp_ / "a_read_only", fs::perms{0555});
  fs::permissions(temp_ / "b_read_only", fs::perms{0555});
  const temp_cleanup_report report = clean_without_privileges();
  fs::permissions(temp_ / "a_read_only", fs::perms{0755});
  fs::permissions(temp_ / "b_read_only", fs::perms{0755});
  EXPECT_EQ(report.errors, 2u);
  // readdir's order is the filesystem's, so either may come first.
  const std::string message = ": cannot remove: Permission denied";
  EXPECT_TRUE(report.first_error == first.string() + message ||
              report.first_error == (temp_ / "b_read_only/old").string() + message)
      << report.first_error;
}

bool write_proc_file(const char* file, const std::string& text) {
  std::ofstream out{file};
  out << text;
  out.flush();
  return static_cast<bool>(out);
}

// Moves this (child) process into a mount namespace of its own: directly as root, else inside a
// new user namespace where this user is mapped to root, so that it may mount a tmpfs and own it.
bool enter_private_mount_namespace() {
  if (::unshare(CLONE_NEWNS) == 0) return true;
  const uid_t uid = ::geteuid();
  const gid_t gid = ::getegid();
  return ::unshare(CLONE_NEWUSER | CLONE_NEWNS) == 0 &&
         write_proc_file("/proc/self/setgroups", "deny") &&
         write_proc_file("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1") &&
         write_proc_file("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1");
}

// A tmpfs mounted inside temp_dir, in a child process's private mount namespace so that the mount
// disappears with the child. Needs root, or unprivileged user namespaces; where neither is
// available the child says so and only the assertion outside the child is checked.
TEST_F(temp_directory_cleaner, does_not_cross_into_a_filesystem_mounted_inside) {
  fs::create_directories(temp_ / "mnt");
  old_file("old");
  const fs::path mount_point = temp_ / "mnt";
  const auto report = in_child_process([&]() -> std::optional<temp_cleanup_report> {
    if (!enter_private_mount_namespace()) return std::nullopt;
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        ::mount("larder-test", mount_point.c_str(), "tmpfs", 0, "size=1m") != 0) {
      return std::nullopt;
    }
    const fs::path inside = mount_point / "old_on_tmpfs";
    std::ofstream{inside} << "other filesystem";
    fs::last_write_time(inside, old_time());
    set_own_mtime(mount_point, old_time());
    temp_cleanup_report result = clean();
    if (!fs::exists(inside)) result.first_error += " [the file on the tmpfs was removed]";
    return result;
  });
  if (::geteuid() == 0) {
    ASSERT_TRUE(report) << "root could not mount a tmpfs in a namespace";
  }
  if (report) {
    EXPECT_EQ(report->files_removed, 1u) << "only temp_dir/old";
    EXPECT_EQ(report->directories_removed, 0u) << "the mount point stays";
    EXPECT_EQ(report->errors, 0u);
    EXPECT_EQ(report->first_error, "");
  }
  EXPECT_TRUE(fs::is_directory(mount_point));
}

}  // namespace
}  // namespace larder
