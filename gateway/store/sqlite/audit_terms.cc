#include "gateway/store/sqlite/audit_terms.h"

#include <sqlite3.h>

#include <algorithm>
#include <cstring>

namespace carebridge::store::sqlite_internal {
namespace {

std::uint64_t Rotl(std::uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

std::uint64_t ReadLe64(const unsigned char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) {
    v = (v << 8) | p[i];
  }
  return v;
}

void SipRound(std::uint64_t& v0, std::uint64_t& v1, std::uint64_t& v2, std::uint64_t& v3) {
  v0 += v1;
  v1 = Rotl(v1, 13);
  v1 ^= v0;
  v0 = Rotl(v0, 32);
  v2 += v3;
  v3 = Rotl(v3, 16);
  v3 ^= v2;
  v0 += v3;
  v3 = Rotl(v3, 21);
  v3 ^= v0;
  v2 += v1;
  v1 = Rotl(v1, 17);
  v1 ^= v2;
  v2 = Rotl(v2, 32);
}

// The hashed input names its kind and length-prefixes each part, so no two different
// (kind, parts) tuples hash the same bytes.
void AppendPart(std::string& out, std::string_view part) {
  const auto n = static_cast<std::uint32_t>(part.size());
  for (int i = 0; i < 4; ++i) {
    out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  }
  out.append(part);
}

// The bytes a term of `kind` hashes: its kind, then the parts of the row it names.
void TermInput(std::string& input, TermKind kind, std::string_view param, std::string_view system,
               std::string_view value) {
  input.assign(1, static_cast<char>(kind));
  AppendPart(input, param);
  switch (kind) {
    case TermKind::kExact:
      AppendPart(input, system);
      AppendPart(input, value);
      return;
    case TermKind::kAnySystem:
      AppendPart(input, value);
      break;
    case TermKind::kSystem:
      AppendPart(input, system);
      break;
    case TermKind::kPresent:
      AppendPart(input, {});
      break;
  }
  AppendPart(input, {});
}

std::string TermOf(const TermKey& key, std::string_view input) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string term(1, 't');
  term.reserve(33);
  for (std::uint64_t h : {SipHash24(key.words[0], key.words[1], input),
                          SipHash24(key.words[2], key.words[3], input)}) {
    for (int shift = 60; shift >= 0; shift -= 4) {
      term.push_back(kHex[(h >> shift) & 0xf]);
    }
  }
  return term;
}

std::string Term(const TermKey& key, TermKind kind, std::string_view param, std::string_view system,
                 std::string_view value) {
  std::string input;
  TermInput(input, kind, param, system, value);
  return TermOf(key, input);
}

void AuditTermsFunction(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
  if (argc != 4) {
    sqlite3_result_error(ctx, "carebridge_audit_terms takes 4 arguments", -1);
    return;
  }
  auto text = [&](int i) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_value_text(argv[i]));
    return std::string_view(p == nullptr ? "" : p,
                            static_cast<std::size_t>(sqlite3_value_bytes(argv[i])));
  };
  const auto* blob = static_cast<const char*>(sqlite3_value_blob(argv[0]));
  TermKey key;
  if (blob == nullptr ||
      !key.Load(std::string_view(blob, static_cast<std::size_t>(sqlite3_value_bytes(argv[0]))))) {
    sqlite3_result_error(ctx, "carebridge_audit_terms: the key must be 32 bytes", -1);
    return;
  }
  std::string terms = RowTerms(key, text(1), text(2), text(3));
  sqlite3_result_text(ctx, terms.data(), static_cast<int>(terms.size()), SQLITE_TRANSIENT);
}

}  // namespace

bool TermKey::Load(std::string_view bytes) {
  if (bytes.size() != 32) {
    return false;
  }
  for (std::size_t i = 0; i < 4; ++i) {
    words[i] = ReadLe64(reinterpret_cast<const unsigned char*>(bytes.data()) + 8 * i);
  }
  return true;
}

std::uint64_t SipHash24(std::uint64_t k0, std::uint64_t k1, std::string_view data) {
  std::uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
  std::uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
  std::uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
  std::uint64_t v3 = 0x7465646279746573ULL ^ k1;
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  const std::size_t n = data.size();
  const std::size_t whole = n - n % 8;
  for (std::size_t i = 0; i < whole; i += 8) {
    const std::uint64_t m = ReadLe64(p + i);
    v3 ^= m;
    SipRound(v0, v1, v2, v3);
    SipRound(v0, v1, v2, v3);
    v0 ^= m;
  }
  std::uint64_t last = static_cast<std::uint64_t>(n & 0xff) << 56;
  for (std::size_t i = 0; i < n % 8; ++i) {
    last |= static_cast<std::uint64_t>(p[whole + i]) << (8 * i);
  }
  v3 ^= last;
  SipRound(v0, v1, v2, v3);
  SipRound(v0, v1, v2, v3);
  v0 ^= last;
  v2 ^= 0xff;
  for (int i = 0; i < 4; ++i) {
    SipRound(v0, v1, v2, v3);
  }
  return v0 ^ v1 ^ v2 ^ v3;
}

std::string ExactTerm(const TermKey& key, std::string_view param, std::string_view system,
                      std::string_view value) {
  return Term(key, TermKind::kExact, param, system, value);
}

std::string AnySystemTerm(const TermKey& key, std::string_view param, std::string_view value) {
  return Term(key, TermKind::kAnySystem, param, {}, value);
}

std::string SystemTerm(const TermKey& key, std::string_view param, std::string_view system) {
  return Term(key, TermKind::kSystem, param, system, {});
}

std::string PresentTerm(const TermKey& key, std::string_view param) {
  return Term(key, TermKind::kPresent, param, {}, {});
}

std::string RowTerms(const TermKey& key, std::string_view param, std::string_view system,
                     std::string_view value) {
  std::string out = ExactTerm(key, param, system, value);
  out += ' ';
  out += AnySystemTerm(key, param, value);
  if (!system.empty()) {
    out += ' ';
    out += SystemTerm(key, param, system);
  }
  out += ' ';
  out += PresentTerm(key, param);
  return out;
}

const std::string& DocumentTermsMaker::Remembered(TermKind kind, std::string_view param,
                                                  std::string_view system, std::string_view value) {
  TermInput(lookup_, kind, param, system, value);
  if (auto it = remembered_.find(lookup_); it != remembered_.end()) {
    return it->second;
  }
  if (remembered_.size() >= kMaxRemembered) {
    remembered_.clear();
  }
  return remembered_.emplace(lookup_, TermOf(key_, lookup_)).first->second;
}

std::string DocumentTermsMaker::Make(const std::vector<fhir::IndexEntry>& index) {
  std::lock_guard lock(mu_);
  std::string out;
  out.reserve(index.size() * 3 * 34);
  auto add = [&out](const std::string& term) {
    if (!out.empty()) {
      out += ' ';
    }
    out += term;
  };
  std::vector<std::string_view> params;
  for (const fhir::IndexEntry& e : index) {
    if (e.type == fhir::ParamType::kDate) {
      continue;
    }
    add(Remembered(TermKind::kExact, e.param, e.system, e.value));
    add(Remembered(TermKind::kAnySystem, e.param, e.system, e.value));
    if (e.type == fhir::ParamType::kToken && !e.system.empty()) {
      add(Remembered(TermKind::kSystem, e.param, e.system, e.value));
    }
    if (std::find(params.begin(), params.end(), e.param) == params.end()) {
      params.push_back(e.param);
      add(Remembered(TermKind::kPresent, e.param, e.system, e.value));
    }
  }
  return out;
}

int RegisterAuditTermsFunction(sqlite3* db) {
  return sqlite3_create_function_v2(db, "carebridge_audit_terms", 4,
                                    SQLITE_UTF8 | SQLITE_DETERMINISTIC, nullptr,
                                    &AuditTermsFunction, nullptr, nullptr, nullptr);
}

}  // namespace carebridge::store::sqlite_internal
