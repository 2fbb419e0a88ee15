#include <algorithm>
#include <unordered_set>

#include <larder/cache/replay/working_set.hpp>

#include "key_hash.hpp"

namespace larder {

working_set measure_working_set(trace_source& source, const trace_progress& progress) {
  working_set result;
  std::unordered_set<std::uint64_t> seen;
  std::uint64_t until_report = requests_between_progress_reports;
  while (const auto request = source.next()) {
    if (progress && --until_report == 0) {
      until_report = requests_between_progress_reports;
      progress(source.position(), source.length());
    }
    if (request->size == 0) continue;
    ++result.requests;
    if (!seen.insert(hash_key(request->key)).second) continue;
    ++result.objects;
    result.bytes += request->size;
    result.largest_object = std::max(result.largest_object, request->size);
  }
  if (progress) progress(source.position(), source.length());
  return result;
}

}  // namespace larder
