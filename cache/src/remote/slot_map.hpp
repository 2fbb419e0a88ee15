// slot_map: which node serves each of the 16384 hash slots of a Redis Cluster, as CLUSTER SLOTS
// reports it, patched slot by slot as MOVED replies teach the client.
//
// A value type: no locking of its own; redis_client guards the one it routes by.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include <larder/cache/remote/key_slot.hpp>
#include <larder/cache/remote/redis_client.hpp>
#include <larder/cache/remote/redis_connection.hpp>

namespace larder {

class slot_map {
 public:
  // A standalone server: every slot is `server`'s.
  static slot_map standalone(redis_node_address server);
  // From a CLUSTER SLOTS reply asked of `asked` (a master announced with an empty host is that
  // node itself). Only masters are kept. Throws std::runtime_error for a malformed reply.
  static slot_map from_cluster_slots(const redis_reply& reply, const redis_node_address& asked);

  // The node serving `slot`, or nullopt when no node does.
  std::optional<redis_node_address> owner(std::uint16_t slot) const;
  // `node` serves `slot` from now on (after a MOVED).
  void assign(std::uint16_t slot, const redis_node_address& node);

  // The nodes that serve at least one slot or did, in the order first seen.
  const std::vector<redis_node_address>& nodes() const { return nodes_; }
  bool cluster() const { return cluster_; }

 private:
  static constexpr std::uint16_t no_owner = UINT16_MAX;

  slot_map();
  std::uint16_t index_of(const redis_node_address& node);

  std::vector<redis_node_address> nodes_;
  std::array<std::uint16_t, redis_slot_count> owner_;  // an index into nodes_, or no_owner
  bool cluster_ = false;
};

}  // namespace larder
