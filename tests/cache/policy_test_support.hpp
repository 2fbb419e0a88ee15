// Drives an eviction_policy by hand, the way a shard would, so a test reads like the policy's
// specification: insert, hit, then the exact order in which entries leave.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "larder/cache/eviction_policy.hpp"

namespace larder::testing {

class policy_driver {
 public:
  explicit policy_driver(std::unique_ptr<eviction_policy> policy) : policy_(std::move(policy)) {}

  void insert(const std::string& key) {
    auto& e = entries_.emplace_back();
    e.key = key;
    policy_->on_insert(e);
  }
  void hit(const std::string& key) { policy_->on_hit(find(key)); }
  void erase(const std::string& key) { policy_->on_erase(find(key)); }

  // Evicts everything, returning the keys in eviction order.
  std::vector<std::string> drain() {
    std::vector<std::string> order;
    while (memory_entry* v = policy_->victim()) {
      order.push_back(v->key);
      policy_->on_erase(*v);
      v->key = "<evicted " + v->key + ">";
    }
    return order;
  }

 private:
  memory_entry& find(const std::string& key) {
    for (auto& e : entries_) {
      if (e.key == key) return e;
    }
    ADD_FAILURE() << "no entry " << key;
    return entries_.front();
  }

  std::unique_ptr<eviction_policy> policy_;
  std::deque<memory_entry> entries_;  // stable addresses
};

}  // namespace larder::testing
