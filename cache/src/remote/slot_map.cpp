#include "remote/slot_map.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace larder {

slot_map::slot_map() {
  owner_.fill(no_owner);
}

slot_map slot_map::standalone(redis_node_address server) {
  slot_map map;
  map.owner_.fill(map.index_of(server));
  return map;
}

slot_map slot_map::from_cluster_slots(const redis_reply& reply, const redis_node_address& asked) {
  // Each element: [first slot, last slot, [host, port, id, ...] of the master, replicas...].
  const auto malformed = [](const std::string& what) {
    return std::runtime_error("CLUSTER SLOTS reply is malformed: " + what);
  };
  if (reply.type != redis_reply::kind::array) throw malformed("not an array");
  slot_map map;
  map.cluster_ = true;
  for (const redis_reply& range : reply.elements) {
    if (range.type != redis_reply::kind::array || range.elements.size() < 3)
      throw malformed("a range is not [first, last, master, ...]");
    const redis_reply& first = range.elements[0];
    const redis_reply& last = range.elements[1];
    const redis_reply& master = range.elements[2];
    if (first.type != redis_reply::kind::integer || last.type != redis_reply::kind::integer ||
        first.integer < 0 || last.integer < first.integer || last.integer >= redis_slot_count)
      throw malformed("a slot range is out of bounds");
    if (master.type != redis_reply::kind::array || master.elements.size() < 2 ||
        master.elements[0].type != redis_reply::kind::string ||
        master.elements[1].type != redis_reply::kind::integer || master.elements[1].integer <= 0 ||
        master.elements[1].integer > UINT16_MAX)
      throw malformed("a master is not [host, port, ...]");
    redis_node_address node;
    // Redis 7 announces "" (or "?") for a node whose address it does not know: the node that
    // answered means itself.
    node.host = master.elements[0].text;
    if (node.host.empty() || node.host == "?") node.host = asked.host;
    node.port = static_cast<std::uint16_t>(master.elements[1].integer);
    const std::uint16_t index = map.index_of(node);
    std::fill(map.owner_.begin() + first.integer, map.owner_.begin() + last.integer + 1, index);
  }
  return map;
}

std::optional<redis_node_address> slot_map::owner(std::uint16_t slot) const {
  const std::uint16_t index = owner_[slot];
  if (index == no_owner) return std::nullopt;
  return nodes_[index];
}

void slot_map::assign(std::uint16_t slot, const redis_node_address& node) {
  owner_[slot] = index_of(node);
}

std::uint16_t slot_map::index_of(const redis_node_address& node) {
  const auto it = std::find(nodes_.begin(), nodes_.end(), node);
  if (it != nodes_.end()) return static_cast<std::uint16_t>(it - nodes_.begin());
  nodes_.push_back(node);
  return static_cast<std::uint16_t>(nodes_.size() - 1);
}

}  // namespace larder
