#pragma once

#include <optional>
#include <string>

#include "gateway/store/store.h"

namespace carebridge::store {

struct SqliteOptions {
  std::string path;          // the database file; created with its schema when missing
  int read_connections = 4;  // pooled read connections (WAL lets them run beside the writer)
  int max_batches_per_commit = 256;  // group-commit bound
  // Audit checkpoints: when set (with `sign`), the writer signs the chain's latest hash after every
  // `audit_checkpoint_every` audit records and at Close(); VerifyAudit checks the signatures with
  // `verify`. Unset: no checkpoints are written, and VerifyAudit fails on any it finds.
  std::optional<AuditSigner> audit_signer;
  int audit_checkpoint_every = 1000;
  // How much the WAL grows, in 4 KB pages, between wakes of the checkpoint thread (4 MB, SQLite's
  // own default for its size). A larger step coalesces more rewrites of one page into one copy (64
  // MB spent ~6% less CPU per request), but the checkpoint's sync of that much data stalls the
  // writer's WAL sync behind it: commits of 12-60 ms every half second under load, where 4 MB keeps
  // them under ~3 ms.
  int wal_checkpoint_pages = 1000;
};

// SQLite backend: WAL, synchronous=FULL (a reported write survives power loss), one writer thread
// doing group commit, versioned schema migrations applied at open.
Result<StorePtr> OpenSqliteStore(const SqliteOptions& options);

// Verifies the audit log of the database at `options.path` (Store::VerifyAudit's walk) without
// opening a store: read-only, no migrations, no writer, so checking a copy or a live gateway's file
// changes nothing. Signatures are checked with `options.audit_signer->verify`. A missing file, or
// one that is not a carebridge database, is errc::kIo; a database without an audit log yet
// verifies as an empty chain.
Result<AuditVerifyReport> VerifySqliteAudit(const SqliteOptions& options);

}  // namespace carebridge::store
