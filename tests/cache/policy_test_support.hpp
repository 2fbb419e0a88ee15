// Drives an eviction_policy by hand, the way a shard would, so a test reads like the policy's
// specification: insert, hit, then the exact order in which entries leave.
#pragma once

#include <algorithm>
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
    auto& e = entries_.emplace_back(memory_entry::create(key, 0, blob()));
    policy_->on_insert(*e);
  }
  void hit(const std::string& key) { policy_->on_hit(find(key)); }
  void erase(const std::string& key) { policy_->on_erase(find(key)); }

  // Evicts everything, returning the keys in eviction order.
  std::vector<std::string> drain() {
    std::vector<std::string> order;
    while (memory_entry* v = policy_->victim()) {
      order.push_back(std::string(v->key()));
      policy_->on_erase(*v);
      evicted_.push_back(v);
    }
    return order;
  }

 private:
  memory_entry& find(const std::string& key) {
    for (auto& e : entries_) {
      if (e->key() == key &&
          std::find(evicted_.begin(), evicted_.end(), e.get()) == evicted_.end()) {
        return *e;
      }
    }
    ADD_FAILURE() << "no live entry " << key;
    return *entries_.front();
  }

  std::unique_ptr<eviction_policy> policy_;
  std::vector<memory_entry::owner> entries_;
  std::vector<const memory_entry*> evicted_;
};

}  // namespace larder::testing
