#pragma once

// Adapts the audit CheckpointSigner to the store's AuditSigner (plain functions, so that
// gateway/store never depends on gateway/audit). Header-only: include it where both libraries are
// linked (gateway/main.cc, the API), e.g.
//
//   auto signer = audit::CheckpointSigner::LoadOrCreate(config.store.data_dir);
//   store_options.audit_signer = audit::MakeStoreSigner(*signer);

#include <utility>

#include "gateway/audit/checkpoint_signer.h"
#include "gateway/store/store.h"

namespace carebridge::audit {

inline store::AuditSigner MakeStoreSigner(CheckpointSignerPtr signer) {
  store::AuditSigner out;
  out.key_id = signer->key_id();
  if (signer->can_sign()) {
    out.sign = [signer](std::string_view message) { return signer->Sign(message); };
  }
  out.verify = [signer](std::string_view message, std::string_view signature) {
    return signer->Verify(message, signature);
  };
  return out;
}

}  // namespace carebridge::audit
