// The error category of the storage contract (gateway/store/store.h).
//
// Conventions shared by every backend, kept here because store.h states them only briefly:
//
//  - Atomic batch with a failing op: `WriteResult::failed_op` is the index of the first failing op,
//    whose entry holds the real error (kVersionConflict, kNotFound, kMultipleMatches...). Every
//    other entry holds std::errc::operation_canceled (generic category): "not applied because
//    another op of the same batch failed". It is deliberately not a store::errc, so that nobody
//    mistakes it for a verdict about that op's own resource (a kNotFound or kVersionConflict there
//    would lie).
//  - Non-atomic batch: each entry carries its own outcome and `failed_op` stays empty; a failing op
//    never undoes the others.
//  - A failed durable commit (or any database I/O failure on the writer): every op of every batch
//    in that group holds errc::kIo (an atomic batch also gets failed_op = 0), and every later write
//    fails with errc::kIo without touching the database, as LevelDB does after a failed sync: what
//    reached the disk is unknown, so nothing more may be acknowledged. Reopen the store to recover.
//  - Writes after Close(): every op holds errc::kClosed, `done` runs on the calling thread.

#include "gateway/store/store.h"

#include <string>

namespace carebridge::store {
namespace {

class StoreCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "carebridge.store"; }

  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::kNotFound:
        return "resource or version not found";
      case errc::kGone:
        return "resource deleted";
      case errc::kVersionConflict:
        return "version conflict: If-Match does not name the current version";
      case errc::kMultipleMatches:
        return "conditional create matched more than one resource";
      case errc::kUnsupportedQuery:
        return "search criterion not supported by the store";
      case errc::kIo:
        return "database I/O failure";
      case errc::kClosed:
        return "store closed";
    }
    return "unknown store error";
  }
};

}  // namespace

const std::error_category& store_category() {
  static const StoreCategory category;
  return category;
}

std::error_code make_error_code(errc e) { return {static_cast<int>(e), store_category()}; }

std::string_view ToCode(DeliveryState state) {
  switch (state) {
    case DeliveryState::kPending:
      return "pending";
    case DeliveryState::kDelivered:
      return "delivered";
    case DeliveryState::kDead:
      return "dead";
    case DeliveryState::kStopped:
      return "stopped";
  }
  return "";
}

std::string_view ToCode(DeliveryAttempt::Outcome outcome) {
  using O = DeliveryAttempt::Outcome;
  switch (outcome) {
    case O::kDelivered:
      return "delivered";
    case O::kRetry:
      return "retry";
    case O::kDeadLetter:
      return "dead-letter";
    case O::kStopped:
      return "stopped";
    case O::kAbandoned:
      return "abandoned";
  }
  return "";
}

}  // namespace carebridge::store
