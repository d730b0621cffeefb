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

#include <algorithm>
#include <future>
#include <string>

#include "fhir/json/json.h"
#include "fhir/resource/resource.h"

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

WriteOp ResourceOp(WriteOp::Kind kind, std::string type, std::string id,
                   fhir::json::Value resource) {
  fhir::SetResourceId(resource, id);
  std::vector<fhir::IndexEntry> index = fhir::ExtractIndex(type, resource);
  std::string patient_id = fhir::PatientIdOf(type, resource).value_or("");
  const fhir::json::Value* meta = resource.Find("meta");
  std::string meta_source(meta != nullptr ? meta->StringAt("source") : "");
  WriteOp op = RenderedOp(kind, std::move(type), std::move(id),
                          fhir::WriteUnstamped(std::move(resource)), std::move(index));
  op.patient_id = std::move(patient_id);
  op.meta_source = std::move(meta_source);
  return op;
}

WriteOp RenderedOp(WriteOp::Kind kind, std::string type, std::string id, fhir::UnstampedJson json,
                   std::vector<fhir::IndexEntry> index) {
  WriteOp op;
  op.kind = kind;
  op.type = std::move(type);
  op.id = std::move(id);
  op.index = std::move(index);
  op.render = [json = std::move(json)](const VersionStamp& stamp) {
    return fhir::Stamped(json, std::to_string(stamp.version), stamp.last_updated);
  };
  return op;
}

WriteResult WriteAndWait(Store& store, WriteBatch batch) {
  std::promise<WriteResult> promise;
  std::future<WriteResult> written = promise.get_future();
  store.Write(std::move(batch),
              [&promise](WriteResult result) { promise.set_value(std::move(result)); });
  return written.get();
}

Result<void> Redrive(Store& store, std::string_view id, std::int64_t now_ms) {
  WriteOp op;
  op.kind = WriteOp::Kind::kRedrive;
  op.id = std::string(id);
  op.outbox = OutboxMessage{};
  op.outbox->not_before_ms = now_ms;
  WriteBatch batch;
  batch.ops.push_back(std::move(op));
  WriteResult written = WriteAndWait(store, std::move(batch));
  if (written.ops.empty()) {
    return std::make_error_code(std::errc::io_error);
  }
  if (!written.ops.front()) {
    return written.ops.front().error();
  }
  return {};
}

Result<std::vector<ResourceVersion>> AllVersions(Store& store, std::string_view type,
                                                 std::string_view id) {
  constexpr int kPage = 200;
  std::vector<ResourceVersion> versions;  // newest first, as History pages them
  for (int offset = 0;; offset += kPage) {
    HistoryQuery query;
    query.type = std::string(type);
    query.id = std::string(id);
    query.count = kPage;
    query.offset = offset;
    auto page = store.History(query);
    if (!page) {
      return page.error();
    }
    const std::size_t got = page->entries.size();
    for (auto& version : page->entries) {
      versions.push_back(std::move(version));
    }
    if (got < static_cast<std::size_t>(kPage) ||
        static_cast<std::int64_t>(versions.size()) >= page->total) {
      break;
    }
  }
  std::reverse(versions.begin(), versions.end());
  return versions;
}

Result<std::vector<fhir::json::Value>> PatientConsents(Store& store, std::string_view patient_id,
                                                       int max) {
  fhir::SearchQuery query;
  query.type = "Consent";
  query.count = max;
  fhir::SearchCriterion patient;
  patient.param = "patient";
  patient.type = fhir::ParamType::kReference;
  fhir::SearchValue value;
  value.system = "Patient";
  value.value = std::string(patient_id);
  patient.any_of.push_back(std::move(value));
  query.all_of.push_back(std::move(patient));
  auto page = store.Search(query);
  if (!page) {
    return page.error();
  }
  std::vector<fhir::json::Value> consents;
  for (const auto& entry : page->entries) {
    std::string message;
    if (auto consent = fhir::json::Parse(entry.json, fhir::json::Limits{}, message)) {
      consents.push_back(std::move(*consent));
    }
  }
  return consents;
}

}  // namespace carebridge::store
