// How much memory this process can still take, for sizes written as a percentage ("30%").
//
// The answer is the lower of two limits: the machine's MemAvailable (/proc/meminfo), and what is
// left of the memory limit of every cgroup the process sits in, up to the hierarchy's root, for
// cgroup v2 (memory.max, "max" = none) and v1 (memory.limit_in_bytes, where an unset limit reads
// as a huge number such as 9223372036854771712 and so never wins the comparison). Inside a
// container the cgroup limit is usually the one that binds.
//
// A cgroup's usage counts page cache, which the kernel reclaims before it fails an allocation, so
// usage minus inactive file pages (memory.stat) is what is taken; kubelet's working set is the
// same measure.
//
// The overload taking `root` reads root/proc/... and root/sys/fs/cgroup/... instead of the real
// files, so a test can build a fake tree. Throws std::runtime_error when /proc/meminfo cannot be
// read or has no MemAvailable line; missing cgroup files mean no cgroup limit.
//
// Stateless: safe to call from any thread.
#pragma once

#include <cstdint>
#include <filesystem>

namespace larder {

std::uint64_t available_memory_bytes();
std::uint64_t available_memory_bytes(const std::filesystem::path& root);

}  // namespace larder
