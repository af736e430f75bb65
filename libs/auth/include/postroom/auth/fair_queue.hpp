// A waiting line that is fair per source: round robin across keys, one item in flight per key.
#pragma once

#include <array>
#include <cstddef>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

namespace postroom::auth {

// Items wait per key (a source address); pop() takes the oldest ready item of the next key
// in turn that has nothing in flight, so a thousand attempts from one address cost another
// address one turn, not a thousand. Keys have a level, and every key of a lower level is
// served before any key of a higher one (for logins: trusted_networks, then addresses
// without recent failures, then the rest). The caller reports the end of each popped item
// with done(key, level), giving the key's level for its next turn.
template <class T>
class FairQueue {
 public:
  static constexpr std::size_t kLevels = 3;

  void push(const std::string& key, std::size_t level, T item) {
    Source& source = sources_[key];
    if (source.items.empty() && !source.in_flight) {
      source.level = std::min(level, kLevels - 1);
      rings_[source.level].push_back(key);
    }
    source.items.push_back(std::move(item));
    ++size_;
  }

  // The next item in turn for which `ready(item)` holds (a false one waits: a delay that has
  // not passed), with its key; nothing when no key may start now. Its key is in flight
  // until done().
  std::optional<std::pair<std::string, T>> pop(const std::function<bool(const T&)>& ready) {
    for (auto& ring : rings_) {
      for (std::size_t turn = 0; turn < ring.size(); ++turn) {
        Source& source = sources_.at(ring[turn]);
        for (auto it = source.items.begin(); it != source.items.end(); ++it) {
          if (!ready(*it)) continue;
          std::pair<std::string, T> out{ring[turn], std::move(*it)};
          source.items.erase(it);
          source.in_flight = true;
          --size_;
          ring.erase(ring.begin() + static_cast<std::ptrdiff_t>(turn));
          return out;
        }
      }
    }
    return std::nullopt;
  }

  // The item popped for `key` has finished: the key may start another, at the end of the
  // round of `level`.
  void done(const std::string& key, std::size_t level) {
    auto it = sources_.find(key);
    if (it == sources_.end() || !it->second.in_flight) return;
    it->second.in_flight = false;
    if (it->second.items.empty()) {
      sources_.erase(it);
      return;
    }
    it->second.level = std::min(level, kLevels - 1);
    rings_[it->second.level].push_back(key);
  }

  // Calls `visit` for every waiting item (to find the earliest time one becomes ready).
  void for_each(const std::function<void(const T&)>& visit) const {
    for (const auto& [key, source] : sources_)
      for (const T& item : source.items) visit(item);
  }
  // Removes every waiting item (shutdown); items in flight are still reported by done().
  void clear() {
    std::erase_if(sources_, [](const auto& item) { return !item.second.in_flight; });
    for (auto& [key, source] : sources_) source.items.clear();
    for (auto& ring : rings_) ring.clear();
    size_ = 0;
  }

  std::size_t size() const { return size_; }  // waiting items, not those in flight
  std::size_t in_flight() const {
    std::size_t n = 0;
    for (const auto& item : sources_) n += item.second.in_flight;
    return n;
  }

 private:
  struct Source {
    std::deque<T> items;
    bool in_flight = false;
    std::size_t level = 0;
  };
  std::unordered_map<std::string, Source> sources_;
  // Per level, the keys with waiting items and nothing in flight, in the order they get
  // their turn. A key in flight is off the rings and rejoins at the back in done().
  std::array<std::deque<std::string>, kLevels> rings_;
  std::size_t size_ = 0;
};

}  // namespace postroom::auth
