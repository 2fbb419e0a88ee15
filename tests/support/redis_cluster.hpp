// A real Redis Cluster for tests: three masters (redis-server --cluster-enabled yes) on free
// loopback ports, each in a scratch directory with its nodes.conf, joined with
// redis-cli --cluster create and waited for until every node says cluster_state:ok.
//
// Nodes run with cluster-require-full-coverage off, so a killed node takes only its own slots
// down, and a short cluster-node-timeout, so the others notice within about a second.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "redis_server.hpp"
#include "waiting.hpp"

namespace larder::testing {

// Runs redis-cli with `args` against the server on loopback `port`; returns what it printed
// (replies one per line, unformatted, as redis-cli prints when its output is not a terminal).
inline std::string redis_cli(std::uint16_t port, const std::vector<std::string>& args) {
  std::string command = "redis-cli -h 127.0.0.1 -p " + std::to_string(port);
  for (const std::string& a : args) {
    // Single quotes for the shell; a single quote inside becomes '\''.
    command += " '";
    for (const char c : a)
      command += c == '\'' ? std::string("'\\''") : std::string(1, c);
    command += "'";
  }
  command += " 2>&1";
  std::string output;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) {
    ADD_FAILURE() << "cannot run " << command;
    return output;
  }
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;)
    output.append(buffer, n);
  ::pclose(pipe);
  return output;
}

class redis_cluster {
 public:
  explicit redis_cluster(std::size_t masters = 3) {
    for (std::size_t i = 0; i < masters; ++i) {
      nodes_.push_back(std::make_unique<redis_server>(
          std::vector<std::string>{"--cluster-enabled", "yes", "--cluster-config-file",
                                   "nodes.conf", "--cluster-node-timeout", "1000",
                                   "--cluster-require-full-coverage", "no"},
          free_cluster_port()));
    }
    std::vector<std::string> create{"--cluster", "create"};
    for (const auto& node : nodes_)
      create.push_back("127.0.0.1:" + std::to_string(node->port()));
    create.insert(create.end(), {"--cluster-replicas", "0", "--cluster-yes"});
    // redis-cli --cluster takes its own addresses; the -p of redis_cli() is ignored by it.
    const std::string created = redis_cli(nodes_.front()->port(), create);
    if (created.find("[OK] All 16384 slots covered") == std::string::npos)
      ADD_FAILURE() << "redis-cli --cluster create failed:\n" << created;
    if (!eventually([&] { return healthy(); }))
      ADD_FAILURE() << "the cluster did not reach cluster_state:ok";
  }
  redis_cluster(const redis_cluster&) = delete;
  redis_cluster& operator=(const redis_cluster&) = delete;

  std::size_t size() const { return nodes_.size(); }
  redis_server& node(std::size_t i) { return *nodes_.at(i); }
  std::uint16_t port(std::size_t i) const { return nodes_.at(i)->port(); }

  std::string cli(std::size_t i, const std::vector<std::string>& args) const {
    return redis_cli(port(i), args);
  }

  // True when every running node says cluster_state:ok and sees all slots assigned.
  bool healthy() const {
    for (const auto& node : nodes_) {
      if (!node->running()) continue;
      const std::string info = redis_cli(node->port(), {"CLUSTER", "INFO"});
      if (info.find("cluster_state:ok") == std::string::npos ||
          info.find("cluster_slots_assigned:16384") == std::string::npos)
        return false;
    }
    return true;
  }

  std::string node_id(std::size_t i) const {
    std::string id = cli(i, {"CLUSTER", "MYID"});
    while (!id.empty() && (id.back() == '\n' || id.back() == '\r'))
      id.pop_back();
    return id;
  }

  // Which node serves each slot (an index into the nodes), as node `asked` sees it in its
  // CLUSTER NODES; -1 for a slot it does not know an owner of.
  std::vector<int> owners(std::size_t asked = 0) const {
    std::vector<int> owner(16384, -1);
    std::istringstream lines(cli(asked, {"CLUSTER", "NODES"}));
    // <id> <ip:port@cport> <flags> <master> <ping> <pong> <epoch> <link> <slot>...
    for (std::string line; std::getline(lines, line);) {
      std::istringstream fields(line);
      std::string id, address, field;
      fields >> id >> address;
      for (int skip = 0; skip < 6; ++skip)
        fields >> field;
      const std::size_t colon = address.find(':');
      const std::size_t at = address.find('@');
      if (colon == std::string::npos || at == std::string::npos) continue;
      const int port = std::stoi(address.substr(colon + 1, at - colon - 1));
      int index = -1;
      for (std::size_t i = 0; i < nodes_.size(); ++i)
        if (nodes_[i]->port() == port) index = static_cast<int>(i);
      // Ranges "a-b" or single slots "a"; "[slot->-id]" marks a migration, not ownership.
      for (std::string range; fields >> range;) {
        if (range.empty() || range.front() == '[') continue;
        const std::size_t dash = range.find('-');
        const int first = std::stoi(range.substr(0, dash));
        const int last = dash == std::string::npos ? first : std::stoi(range.substr(dash + 1));
        for (int s = first; s <= last; ++s)
          owner[s] = index;
      }
    }
    return owner;
  }

  // Moves `slot` from node `from` to node `to` the way redis-cli --cluster reshard does:
  // IMPORTING on the target, MIGRATING on the source, every key over with MIGRATE, then the new
  // owner announced to every node. `between` runs after the first key has moved and before the
  // rest do, while the slot is half migrated.
  template <typename Between>
  void migrate_slot(int slot, std::size_t from, std::size_t to, Between between) {
    const std::string slot_text = std::to_string(slot);
    expect_ok(cli(to, {"CLUSTER", "SETSLOT", slot_text, "IMPORTING", node_id(from)}));
    expect_ok(cli(from, {"CLUSTER", "SETSLOT", slot_text, "MIGRATING", node_id(to)}));
    std::istringstream keys(cli(from, {"CLUSTER", "GETKEYSINSLOT", slot_text, "100000"}));
    bool first = true;
    for (std::string key; std::getline(keys, key);) {
      if (key.empty()) continue;
      expect_ok(cli(from, {"MIGRATE", "127.0.0.1", std::to_string(port(to)), key, "0", "5000"}));
      if (first) between();
      first = false;
    }
    const std::string to_id = node_id(to);
    expect_ok(cli(to, {"CLUSTER", "SETSLOT", slot_text, "NODE", to_id}));
    expect_ok(cli(from, {"CLUSTER", "SETSLOT", slot_text, "NODE", to_id}));
    for (std::size_t i = 0; i < nodes_.size(); ++i)
      if (i != from && i != to && nodes_[i]->running())
        expect_ok(cli(i, {"CLUSTER", "SETSLOT", slot_text, "NODE", to_id}));
  }

 private:
  static void expect_ok(const std::string& reply) { EXPECT_EQ(reply.rfind("OK", 0), 0u) << reply; }

  std::vector<std::unique_ptr<redis_server>> nodes_;
};

}  // namespace larder::testing
