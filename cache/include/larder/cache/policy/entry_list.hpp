// entry_list: an intrusive doubly linked list of memory_entry, threaded through the entries' own
// prev/next links, so the queues of an eviction policy cost no allocation. An entry is on at most
// one list at a time. Front is the most recently pushed end.
//
// Not thread-safe: guarded by the owning shard's lock.
#pragma once

#include <cassert>
#include <cstddef>

#include <larder/cache/memory_entry.hpp>

namespace larder {

class entry_list {
 public:
  bool empty() const noexcept { return head_ == nullptr; }
  std::size_t size() const noexcept { return size_; }
  memory_entry* front() const noexcept { return head_; }
  memory_entry* back() const noexcept { return tail_; }

  void push_front(memory_entry& e) noexcept {
    assert(e.prev == nullptr && e.next == nullptr && head_ != &e);
    e.next = head_;
    if (head_ != nullptr) head_->prev = &e;
    head_ = &e;
    if (tail_ == nullptr) tail_ = &e;
    ++size_;
  }

  // REQUIRES: e is on this list.
  void remove(memory_entry& e) noexcept {
    assert(size_ > 0);
    (e.prev != nullptr ? e.prev->next : head_) = e.next;
    (e.next != nullptr ? e.next->prev : tail_) = e.prev;
    e.prev = e.next = nullptr;
    --size_;
  }

  // REQUIRES: e is on this list.
  void move_to_front(memory_entry& e) noexcept {
    if (head_ == &e) return;
    remove(e);
    push_front(e);
  }

 private:
  memory_entry* head_ = nullptr;
  memory_entry* tail_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace larder
