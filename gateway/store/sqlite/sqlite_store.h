#pragma once

#include <string>

#include "gateway/store/store.h"

namespace carebridge::store {

struct SqliteOptions {
  std::string path;          // the database file; created with its schema when missing
  int read_connections = 4;  // pooled read connections (WAL lets them run beside the writer)
  int max_batches_per_commit = 256;  // group-commit bound
};

// SQLite backend: WAL, synchronous=FULL (a reported write survives power loss), one writer thread
// doing group commit, versioned schema migrations applied at open.
Result<StorePtr> OpenSqliteStore(const SqliteOptions& options);

}  // namespace carebridge::store
