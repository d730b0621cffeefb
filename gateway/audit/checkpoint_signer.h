#pragma once

// The gateway's audit signing key: ECDSA P-256, kept as PEM in the data directory
// (<data_dir>/audit-signing.key, mode 0600, with its public key in audit-signing.pub). The store
// signs audit checkpoints with it and `carebridge audit verify` checks them (DESIGN.md
// capability 4). A key is not a secret this class hands out: only signatures leave it.

#include <memory>
#include <string>
#include <string_view>

#include "fhir/base/result.h"

namespace carebridge::audit {

inline constexpr std::string_view kSigningKeyFile = "audit-signing.key";
inline constexpr std::string_view kPublicKeyFile = "audit-signing.pub";

class CheckpointSigner;
using CheckpointSignerPtr = std::shared_ptr<const CheckpointSigner>;

class CheckpointSigner {
 public:
  // Loads <data_dir>/audit-signing.key, or, when it does not exist, generates a new P-256 key
  // there (created exclusively, mode 0600, fsynced) and writes audit-signing.pub beside it.
  // Errors: the directory or the key cannot be read/written, or the file is not an EC P-256 key.
  // For start-up only (file I/O).
  static Result<CheckpointSignerPtr> LoadOrCreate(const std::string& data_dir);

  // For verification: the public key of <data_dir>/audit-signing.pub, or of the private key when
  // only that exists. std::errc::no_such_file_or_directory when neither does. Can() sign: false.
  static Result<CheckpointSignerPtr> LoadForVerify(const std::string& data_dir);

  // Builds from PEM text (a private key, or a SubjectPublicKeyInfo public key).
  static Result<CheckpointSignerPtr> FromPem(std::string_view pem);

  ~CheckpointSigner();
  CheckpointSigner(const CheckpointSigner&) = delete;
  CheckpointSigner& operator=(const CheckpointSigner&) = delete;

  // Hex SHA-256 of the DER public key (SubjectPublicKeyInfo), first 16 bytes: names the key in
  // every checkpoint it signs.
  const std::string& key_id() const { return key_id_; }
  bool can_sign() const { return has_private_; }
  // The public key as PEM.
  std::string PublicPem() const;

  // DER ECDSA-with-SHA-256 signature of `message`. Fails when only the public key is loaded.
  // Thread-safe.
  Result<std::string> Sign(std::string_view message) const;
  // True when `signature` is a valid signature of `message` by this key. Thread-safe.
  bool Verify(std::string_view message, std::string_view signature) const;

 private:
  struct Key;
  CheckpointSigner(std::unique_ptr<Key> key, bool has_private);

  std::unique_ptr<Key> key_;
  bool has_private_ = false;
  std::string key_id_;
};

}  // namespace carebridge::audit
