// Drives an eviction_policy by hand, the way a shard would, so a test reads like the policy's
// specification: insert, hit, then the exact order in which entries leave.
//
// Two ways to drive it:
//  - insert / hit / erase, then drain(): the order in which the policy gives up everything.
//  - a cache of a fixed total weight: access(key, weight) is a hit, or a miss that evicts until
//    the entry fits and then inserts it, as memory_tier and cache simulators do; evicted() lists
//    the victims in order.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "larder/cache/policy/eviction_policy.hpp"

namespace larder::testing {

class policy_driver {
 public:
  explicit policy_driver(std::unique_ptr<eviction_policy> policy, std::uint64_t capacity = 0)
      : policy_(std::move(policy)), capacity_(capacity) {
    if (capacity_ != 0) policy_->set_capacity(capacity_);
  }

  void insert(const std::string& key, std::uint64_t weight = 1) {
    auto& e = entries_.emplace_back(memory_entry::create(key, hash_of(key), blob()));
    e->charge = weight;
    used_ += weight;
    policy_->on_insert(*e);
  }
  void hit(const std::string& key) { policy_->on_hit(find(key)); }
  void erase(const std::string& key) { remove(find(key), erase_reason::removed); }

  bool contains(const std::string& key) const { return live(key) != nullptr; }

  // A request to a cache of `capacity` weight: true on a hit.
  bool access(const std::string& key, std::uint64_t weight = 1) {
    if (memory_entry* e = live(key)) {
      policy_->on_hit(*e);
      return true;
    }
    while (used_ + weight > capacity_) {
      memory_entry* v = policy_->victim();
      if (v == nullptr) {
        ADD_FAILURE() << "the policy has no victim while " << used_ << " is in use";
        break;
      }
      evicted_keys_.push_back(std::string(v->key()));
      remove(*v, erase_reason::evicted);
    }
    insert(key, weight);
    return false;
  }
  // Several requests; returns the number of hits.
  int access_all(const std::vector<std::string>& keys) {
    int hits = 0;
    for (const auto& k : keys)
      hits += access(k) ? 1 : 0;
    return hits;
  }
  const std::vector<std::string>& evicted() const { return evicted_keys_; }
  std::uint64_t used() const { return used_; }

  // Evicts everything, returning the keys in eviction order.
  std::vector<std::string> drain() {
    std::vector<std::string> order;
    while (memory_entry* v = policy_->victim()) {
      order.push_back(std::string(v->key()));
      remove(*v, erase_reason::evicted);
    }
    return order;
  }

  eviction_policy& policy() { return *policy_; }

 private:
  // Distinct keys get distinct hashes; policies that remember keys by hash see them apart.
  static std::uint64_t hash_of(const std::string& key) { return std::hash<std::string>{}(key); }

  void remove(memory_entry& e, erase_reason why) {
    policy_->on_erase(e, why);
    used_ -= e.charge;
    dead_.push_back(&e);
  }

  memory_entry* live(const std::string& key) const {
    for (const auto& e : entries_) {
      if (e->key() == key && std::find(dead_.begin(), dead_.end(), e.get()) == dead_.end()) {
        return e.get();
      }
    }
    return nullptr;
  }

  memory_entry& find(const std::string& key) {
    if (memory_entry* e = live(key)) return *e;
    ADD_FAILURE() << "no live entry " << key;
    return *entries_.front();
  }

  std::unique_ptr<eviction_policy> policy_;
  std::uint64_t capacity_;
  std::uint64_t used_ = 0;
  std::vector<memory_entry::owner> entries_;
  std::vector<const memory_entry*> dead_;
  std::vector<std::string> evicted_keys_;
};

// A cache of 20 entries: 5 hot keys requested 3 times, then a scan of 100 keys requested once,
// then the hot keys again. Returns how many of those last 5 requests hit.
inline int hot_hits_after_a_scan(std::unique_ptr<eviction_policy> policy) {
  policy_driver cache(std::move(policy), 20);
  std::vector<std::string> hot;
  for (int i = 0; i < 5; ++i)
    hot.push_back("hot" + std::to_string(i));
  for (int round = 0; round < 3; ++round)
    cache.access_all(hot);
  for (int i = 0; i < 100; ++i)
    cache.access("scan" + std::to_string(i));
  return cache.access_all(hot);
}

}  // namespace larder::testing
