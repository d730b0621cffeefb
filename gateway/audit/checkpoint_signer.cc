#include "gateway/audit/checkpoint_signer.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>
#include <utility>

namespace carebridge::audit {

struct CheckpointSigner::Key {
  EVP_PKEY* pkey = nullptr;
  ~Key() { EVP_PKEY_free(pkey); }
};

namespace {

namespace fs = std::filesystem;

std::error_code Errc(std::errc e) { return std::make_error_code(e); }

using BioPtr = std::unique_ptr<BIO, decltype(&BIO_free)>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

std::string BioText(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

// True for an EC key on P-256.
bool IsP256(EVP_PKEY* pkey) {
  if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC) {
    return false;
  }
  char group[64] = {};
  std::size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len) !=
      1) {
    return false;
  }
  return std::string_view(group, len) == "prime256v1" || std::string_view(group, len) == "P-256";
}

Result<std::string> ReadFile(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    return Errc(ec ? std::errc::io_error : std::errc::no_such_file_or_directory);
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Errc(std::errc::io_error);
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return Errc(std::errc::io_error);
  }
  return text.str();
}

// Writes `text` to a new file (O_EXCL) with `mode`, fsynced. EEXIST is
// std::errc::file_exists.
Result<void> WriteNewFile(const fs::path& path, std::string_view text, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    return std::error_code(errno, std::generic_category());
  }
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      const int err = errno;
      ::close(fd);
      return std::error_code(err, std::generic_category());
    }
    done += static_cast<std::size_t>(n);
  }
  // The umask may have narrowed the mode; make it exactly what was asked.
  const bool ok = ::fchmod(fd, mode) == 0 && ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  if (!ok) {
    return std::error_code(err, std::generic_category());
  }
  return {};
}

}  // namespace

CheckpointSigner::CheckpointSigner(std::unique_ptr<Key> key, bool has_private)
    : key_(std::move(key)), has_private_(has_private) {
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(key_->pkey, &der);
  if (len > 0) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    if (EVP_Digest(der, static_cast<std::size_t>(len), digest, &dlen, EVP_sha256(), nullptr) == 1) {
      static constexpr char kHex[] = "0123456789abcdef";
      for (unsigned int i = 0; i < 16 && i < dlen; ++i) {
        key_id_ += kHex[digest[i] >> 4];
        key_id_ += kHex[digest[i] & 15];
      }
    }
  }
  OPENSSL_free(der);
}

CheckpointSigner::~CheckpointSigner() = default;

Result<CheckpointSignerPtr> CheckpointSigner::FromPem(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  if (!bio) {
    return Errc(std::errc::not_enough_memory);
  }
  auto key = std::make_unique<Key>();
  bool has_private = false;
  if (pem.find("PRIVATE KEY-----") != std::string_view::npos) {
    key->pkey = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
    has_private = true;
  } else {
    key->pkey = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
  }
  if (key->pkey == nullptr || !IsP256(key->pkey)) {
    return Errc(std::errc::invalid_argument);
  }
  return CheckpointSignerPtr(new CheckpointSigner(std::move(key), has_private));
}

Result<CheckpointSignerPtr> CheckpointSigner::LoadOrCreate(const std::string& data_dir) {
  const fs::path key_path = fs::path(data_dir) / kSigningKeyFile;
  const fs::path pub_path = fs::path(data_dir) / kPublicKeyFile;
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto pem = ReadFile(key_path);
    if (pem) {
      auto signer = FromPem(*pem);
      if (!signer) {
        return signer;
      }
      if (!(*signer)->can_sign()) {
        return Errc(std::errc::invalid_argument);
      }
      // Restore a lost public key file (it is derived data).
      std::error_code ec;
      if (!fs::exists(pub_path, ec)) {
        (void)WriteNewFile(pub_path, (*signer)->PublicPem(), 0644);
      }
      return signer;
    }
    if (pem.error() != Errc(std::errc::no_such_file_or_directory)) {
      return pem.error();
    }
    EVP_PKEY* raw = EVP_EC_gen("P-256");
    if (raw == nullptr) {
      return Errc(std::errc::io_error);
    }
    auto key = std::make_unique<Key>();
    key->pkey = raw;
    BioPtr bio(BIO_new(BIO_s_mem()), BIO_free);
    if (!bio || PEM_write_bio_PrivateKey(bio.get(), key->pkey, nullptr, nullptr, 0, nullptr,
                                         nullptr) != 1) {
      return Errc(std::errc::io_error);
    }
    auto written = WriteNewFile(key_path, BioText(bio.get()), 0600);
    if (!written) {
      if (written.error() == Errc(std::errc::file_exists)) {
        continue;  // another process created it meanwhile: load that one
      }
      return written.error();
    }
    CheckpointSignerPtr signer(new CheckpointSigner(std::move(key), true));
    std::error_code ec;
    fs::remove(pub_path, ec);
    if (auto w = WriteNewFile(pub_path, signer->PublicPem(), 0644); !w) {
      return w.error();
    }
    return signer;
  }
  return Errc(std::errc::io_error);
}

Result<CheckpointSignerPtr> CheckpointSigner::LoadForVerify(const std::string& data_dir) {
  auto pub = ReadFile(fs::path(data_dir) / kPublicKeyFile);
  if (pub) {
    return FromPem(*pub);
  }
  auto priv = ReadFile(fs::path(data_dir) / kSigningKeyFile);
  if (!priv) {
    return priv.error();
  }
  auto signer = FromPem(*priv);
  if (!signer) {
    return signer;
  }
  // Verification needs only the public half.
  return FromPem((*signer)->PublicPem());
}

std::string CheckpointSigner::PublicPem() const {
  BioPtr bio(BIO_new(BIO_s_mem()), BIO_free);
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key_->pkey) != 1) {
    return {};
  }
  return BioText(bio.get());
}

Result<std::string> CheckpointSigner::Sign(std::string_view message) const {
  if (!has_private_) {
    return Errc(std::errc::operation_not_permitted);
  }
  MdCtxPtr ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  std::size_t len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_->pkey) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1) {
    return Errc(std::errc::io_error);
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1) {
    return Errc(std::errc::io_error);
  }
  sig.resize(len);
  return sig;
}

bool CheckpointSigner::Verify(std::string_view message, std::string_view signature) const {
  MdCtxPtr ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_->pkey) != 1) {
    return false;
  }
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                          signature.size(), reinterpret_cast<const unsigned char*>(message.data()),
                          message.size()) == 1;
}

}  // namespace carebridge::audit
