#pragma once

// An AuditRecord as the store's kAudit write op. Header-only, like store_signer.h: include it where
// both libraries are linked (the API, the delivery worker), so that gateway/audit never depends on
// gateway/store.

#include <utility>

#include "gateway/audit/audit_event.h"
#include "gateway/store/store.h"

namespace carebridge::audit {

inline store::WriteOp AuditWriteOp(AuditRecord record) {
  std::string id = record.id;
  return store::RenderedOp(store::WriteOp::Kind::kAudit, "AuditEvent", std::move(id),
                           std::move(record.json), std::move(record.index));
}

}  // namespace carebridge::audit
