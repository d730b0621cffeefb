#pragma once

// The audit log's hash chain, shared by the SQLite writer (appending) and verification.
// Internal to the SQLite backend.

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "gateway/store/store.h"

namespace carebridge::store::sqlite_internal {

inline constexpr std::size_t kHashSize = 32;  // SHA-256

// 32 zero bytes: the prev_hash of the first record.
std::string GenesisHash();

// SHA-256(prev_hash || canonical), 32 raw bytes.
std::string ChainHash(std::string_view prev_hash, std::string_view canonical);

// What a checkpoint signs: "carebridge-audit-checkpoint:<seq>:<hex hash>".
std::string CheckpointMessage(std::int64_t seq, std::string_view hash);

std::string Hex(std::string_view bytes);

// The walk behind Store::VerifyAudit on `db`. REQUIRES: a read transaction is open on `db`, so
// the walk sees one snapshot. `signer` may be null (then any checkpoint fails verification).
// Errors are SQLite failures (errc::kIo).
Result<AuditVerifyReport> VerifyAuditOn(sqlite3* db, const AuditSigner* signer);

}  // namespace carebridge::store::sqlite_internal
