#include "gateway/store/sqlite/audit_log.h"

#include <openssl/evp.h>

#include <map>
#include <memory>
#include <optional>
#include <utility>

#include "gateway/store/sqlite/schema.h"

namespace carebridge::store::sqlite_internal {
namespace {

struct StmtDeleter {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

Stmt Prepare(sqlite3* db, const char* sql) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) != SQLITE_OK) {
    sqlite3_finalize(s);
    return nullptr;
  }
  return Stmt(s);
}

std::string Column(sqlite3_stmt* s, int col) {
  const void* p = sqlite3_column_blob(s, col);
  const int n = sqlite3_column_bytes(s, col);
  return p != nullptr ? std::string(static_cast<const char*>(p), static_cast<std::size_t>(n))
                      : std::string();
}

bool TableExists(sqlite3* db, const char* name) {
  Stmt s = Prepare(db, "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1");
  if (!s) {
    return false;
  }
  sqlite3_bind_text(s.get(), 1, name, -1, SQLITE_STATIC);
  return sqlite3_step(s.get()) == SQLITE_ROW;
}

std::optional<std::int64_t> SchemaVersion(sqlite3* db) {
  Stmt s = Prepare(db, "PRAGMA user_version");
  if (!s || sqlite3_step(s.get()) != SQLITE_ROW) {
    return std::nullopt;
  }
  return sqlite3_column_int64(s.get(), 0);
}

struct Checkpoint {
  std::string hash;
  std::string signature;
  std::string key_id;
};

AuditVerifyReport Broken(AuditVerifyReport r, std::int64_t seq, std::string id,
                         std::string reason) {
  r.ok = false;
  r.broken_seq = seq;
  r.broken_id = std::move(id);
  r.reason = std::move(reason);
  return r;
}

}  // namespace

std::string GenesisHash() { return std::string(kHashSize, '\0'); }

std::string ChainHash(std::string_view prev_hash, std::string_view canonical) {
  std::string out(kHashSize, '\0');
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  unsigned int len = 0;
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), prev_hash.data(), prev_hash.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), canonical.data(), canonical.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len) != 1 ||
      len != kHashSize) {
    return {};  // never equal to a stored hash: the append fails, verification reports it
  }
  return out;
}

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
  return out;
}

std::string CheckpointMessage(std::int64_t seq, std::string_view hash) {
  return "carebridge-audit-checkpoint:" + std::to_string(seq) + ":" + Hex(hash);
}

Result<AuditVerifyReport> VerifyAuditOn(sqlite3* db, const AuditSigner* signer) {
  AuditVerifyReport report;
  report.last_hash_hex = Hex(GenesisHash());
  if (!TableExists(db, "audit_chain")) {
    return report;  // a database from before the audit log: an empty chain
  }
  const std::error_code io = make_error_code(errc::kIo);

  std::map<std::int64_t, Checkpoint> checkpoints;
  {
    Stmt s = Prepare(db, "SELECT seq, hash, signature, key_id FROM audit_checkpoints ORDER BY seq");
    if (!s) {
      return io;
    }
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
      checkpoints.emplace(sqlite3_column_int64(s.get(), 0),
                          Checkpoint{Column(s.get(), 1), Column(s.get(), 2), Column(s.get(), 3)});
    }
    if (rc != SQLITE_DONE) {
      return io;
    }
  }

  // A database the gateway has not migrated yet (this command never writes) keeps its events in
  // resource_versions as well; verification then also compares what the API serves.
  const std::optional<std::int64_t> schema = SchemaVersion(db);
  if (!schema) {
    return io;
  }
  const bool json_in_chain = *schema >= kAuditInChainSchemaVersion;
  Stmt chain =
      Prepare(db, "SELECT seq, id, prev_hash, hash, canonical FROM audit_chain ORDER BY seq");
  // Before migration 9, the AuditEvent as the API served it: its current version's JSON.
  Stmt resource;
  if (!json_in_chain) {
    resource = Prepare(db,
                       "SELECT c.version, c.deleted, v.json FROM resources_current c "
                       "JOIN resource_versions v ON v.type = c.type AND v.id = c.id AND "
                       "v.version = c.version WHERE c.type = 'AuditEvent' AND c.id = ?1");
    if (!resource) {
      return io;
    }
  }
  if (!chain) {
    return io;
  }
  std::string prev = GenesisHash();
  std::int64_t expected_seq = 1;
  int rc;
  while ((rc = sqlite3_step(chain.get())) == SQLITE_ROW) {
    const std::int64_t seq = sqlite3_column_int64(chain.get(), 0);
    std::string id = Column(chain.get(), 1);
    const std::string prev_hash = Column(chain.get(), 2);
    const std::string hash = Column(chain.get(), 3);
    const std::string canonical = Column(chain.get(), 4);
    if (seq != expected_seq) {
      return Broken(std::move(report), expected_seq, "",
                    "record " + std::to_string(expected_seq) + " is missing (the next is " +
                        std::to_string(seq) + ")");
    }
    if (prev_hash != prev) {
      return Broken(std::move(report), seq, std::move(id),
                    "prev_hash does not match the previous record's hash");
    }
    if (json_in_chain) {
      if (ChainHash(prev, canonical) != hash) {
        return Broken(std::move(report), seq, std::move(id),
                      "hash does not match SHA-256(prev_hash || canonical JSON)");
      }
    } else {
      sqlite3_reset(resource.get());
      sqlite3_bind_text64(resource.get(), 1, id.data(), id.size(), SQLITE_STATIC, SQLITE_UTF8);
      const int rrc = sqlite3_step(resource.get());
      if (rrc == SQLITE_DONE) {
        return Broken(std::move(report), seq, std::move(id), "the AuditEvent resource is missing");
      }
      if (rrc != SQLITE_ROW) {
        return io;
      }
      if (sqlite3_column_int64(resource.get(), 0) != 1 || sqlite3_column_int64(resource.get(), 1)) {
        return Broken(std::move(report), seq, std::move(id),
                      "the AuditEvent resource was changed after it was recorded (version " +
                          std::to_string(sqlite3_column_int64(resource.get(), 0)) + ")");
      }
      const std::string stored = Column(resource.get(), 2);
      // Records written from carebridge 0.2 to migration 9 have an empty canonical: the hash
      // covers the resource's stored JSON itself.
      if (ChainHash(prev, canonical.empty() ? stored : canonical) != hash) {
        return Broken(std::move(report), seq, std::move(id),
                      canonical.empty()
                          ? "the AuditEvent resource's JSON does not match the chained hash "
                            "SHA-256(prev_hash || JSON)"
                          : "hash does not match SHA-256(prev_hash || canonical JSON)");
      }
      if (!canonical.empty() && stored != canonical) {
        return Broken(std::move(report), seq, std::move(id),
                      "the AuditEvent resource's JSON differs from the chained record");
      }
    }
    if (auto it = checkpoints.find(seq); it != checkpoints.end()) {
      const Checkpoint& cp = it->second;
      if (cp.hash != hash) {
        return Broken(std::move(report), seq, std::move(id),
                      "checkpoint hash differs from the chain's hash at this record");
      }
      if (signer == nullptr || !signer->verify) {
        return Broken(std::move(report), seq, std::move(id),
                      "checkpoint present but no audit public key to check its signature");
      }
      if (cp.key_id != signer->key_id) {
        return Broken(std::move(report), seq, std::move(id),
                      "checkpoint signed by an unknown key '" + cp.key_id + "'");
      }
      if (!signer->verify(CheckpointMessage(seq, hash), cp.signature)) {
        return Broken(std::move(report), seq, std::move(id), "checkpoint signature is invalid");
      }
      ++report.checkpoints;
      checkpoints.erase(it);
    }
    prev = hash;
    report.records = seq;
    report.last_hash_hex = Hex(hash);
    ++expected_seq;
  }
  if (rc != SQLITE_DONE) {
    return io;
  }
  if (!checkpoints.empty()) {
    // A signed head beyond the end: records were cut off the tail.
    const std::int64_t seq = checkpoints.begin()->first;
    const std::int64_t first_missing = report.records + 1;
    std::string reason = "records " + std::to_string(first_missing) + ".." + std::to_string(seq) +
                         " are missing (a signed checkpoint names record " + std::to_string(seq) +
                         ")";
    return Broken(std::move(report), first_missing, "", std::move(reason));
  }
  // Every AuditEvent must be in the chain: before migration 9, one planted beside it would have
  // been served as genuine; since, the chain is the only place an AuditEvent may be.
  {
    Stmt s = Prepare(db, json_in_chain
                             ? "SELECT id FROM resource_versions WHERE type = 'AuditEvent' LIMIT 1"
                             : "SELECT c.id FROM resources_current c WHERE c.type = 'AuditEvent' "
                               "AND NOT EXISTS (SELECT 1 FROM audit_chain a WHERE a.id = c.id) "
                               "LIMIT 1");
    if (!s) {
      return io;
    }
    const int src = sqlite3_step(s.get());
    if (src == SQLITE_ROW) {
      return Broken(std::move(report), 0, Column(s.get(), 0),
                    "an AuditEvent resource is not in the chain");
    }
    if (src != SQLITE_DONE) {
      return io;
    }
  }
  return report;
}

}  // namespace carebridge::store::sqlite_internal
