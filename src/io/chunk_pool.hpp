// A worker's pool of body chunks: the 64 KiB pieces bodies are relayed through.
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <vector>

namespace egressd::io {

// Hands out fixed-size chunks and takes them back, keeping up to `keep` free ones, so
// that relaying a body allocates nothing once the worker is warm, and an idle connection
// holds no chunk (a relay takes one for as long as it runs). One per worker thread: not
// thread-safe.
class ChunkPool {
 public:
  static constexpr std::size_t kSize = 64 * 1024;
  using Chunk = std::array<char, kSize>;

  // A chunk on loan; it goes back to the pool when this is destroyed.
  class Lease {
   public:
    Lease(ChunkPool& pool, std::unique_ptr<Chunk> chunk) : pool_(&pool), chunk_(std::move(chunk)) {}
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() {
      if (chunk_) pool_->give_back(std::move(chunk_));
    }
    char* data() { return chunk_->data(); }
    static constexpr std::size_t size() { return kSize; }

   private:
    ChunkPool* pool_;
    std::unique_ptr<Chunk> chunk_;
  };

  explicit ChunkPool(std::size_t keep = 64) : keep_(keep) {}

  Lease take() {
    if (free_.empty()) return Lease(*this, std::make_unique_for_overwrite<Chunk>());
    auto chunk = std::move(free_.back());
    free_.pop_back();
    return Lease(*this, std::move(chunk));
  }

  std::size_t free_chunks() const { return free_.size(); }

 private:
  void give_back(std::unique_ptr<Chunk> chunk) {
    if (free_.size() < keep_) free_.push_back(std::move(chunk));
  }

  std::size_t keep_;
  std::vector<std::unique_ptr<Chunk>> free_;
};

}  // namespace egressd::io
