#pragma once

// Keys and signed JWTs for the auth tests, made with OpenSSL the way a partner's client would.

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>

#include "fhir/json/json.h"
#include "gateway/auth/jwt.h"

namespace carebridge::auth::testing {

namespace fs = std::filesystem;
using jwt::EvpPkeyPtr;

inline EvpPkeyPtr GenerateEc(const char* curve) {
  return EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve));
}

inline EvpPkeyPtr GenerateRsa(std::size_t bits) {
  return EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", bits));
}

inline EvpPkeyPtr GenerateEd25519() {
  return EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
}

inline std::string PublicPem(EVP_PKEY* key) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  EXPECT_EQ(PEM_write_bio_PUBKEY(bio.get(), key), 1);
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(length));
}

// Signs `signing_input` with SHA-384 as RS384 or ES384 would (ES384 in JOSE's r||s form).
inline std::string SignSha384(EVP_PKEY* key, std::string_view signing_input) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  EVP_PKEY_CTX* pctx = nullptr;
  EXPECT_EQ(EVP_DigestSignInit(ctx.get(), &pctx, EVP_sha384(), nullptr, key), 1);
  if (EVP_PKEY_is_a(key, "RSA")) {
    EXPECT_EQ(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING), 1);
  }
  std::size_t length = 0;
  const auto* input = reinterpret_cast<const unsigned char*>(signing_input.data());
  EXPECT_EQ(EVP_DigestSign(ctx.get(), nullptr, &length, input, signing_input.size()), 1);
  std::string signature(length, '\0');
  EXPECT_EQ(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                           input, signing_input.size()),
            1);
  signature.resize(length);
  if (!EVP_PKEY_is_a(key, "EC")) {
    return signature;
  }
  const auto* der = reinterpret_cast<const unsigned char*>(signature.data());
  std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> sig(
      d2i_ECDSA_SIG(nullptr, &der, static_cast<long>(signature.size())), &ECDSA_SIG_free);
  EXPECT_NE(sig, nullptr);
  std::string raw(96, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  EXPECT_EQ(BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), out, 48), 48);
  EXPECT_EQ(BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), out + 48, 48), 48);
  return raw;
}

inline std::string HmacSha384(std::string_view secret, std::string_view input) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int length = 0;
  HMAC(EVP_sha384(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac.data(), &length);
  return std::string(reinterpret_cast<const char*>(mac.data()), length);
}

inline std::string Encode(const fhir::json::Value& value) {
  return jwt::Base64UrlEncode(fhir::json::Write(value));
}

inline fhir::json::Value Header(std::string_view alg) {
  fhir::json::Value header = fhir::json::Value::Object();
  header.Set("alg", fhir::json::Value::String(std::string(alg)));
  header.Set("typ", fhir::json::Value::String("JWT"));
  return header;
}

// A compact JWS of `claims` with header alg `alg`, signed with SHA-384 by `key`.
inline std::string SignJwt(EVP_PKEY* key, std::string_view alg, const fhir::json::Value& claims) {
  const std::string input = Encode(Header(alg)) + "." + Encode(claims);
  return input + "." + jwt::Base64UrlEncode(SignSha384(key, input));
}

inline fhir::json::Value ParseJson(std::string_view text) {
  std::string message;
  auto value = fhir::json::Parse(text, fhir::json::Limits{}, message);
  EXPECT_TRUE(value) << message << ": " << text;
  return value ? std::move(*value) : fhir::json::Value();
}

// A fresh folder per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() /
            ("carebridge-auth-test-" + std::to_string(::getpid()) + "-" +
             (info != nullptr ? std::string(info->test_suite_name()) + "." + info->name()
                              : std::string("suite")));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const fs::path& path() const { return path_; }
  std::string Write(const std::string& name, std::string_view text) const {
    const fs::path file = path_ / name;
    fs::create_directories(file.parent_path());
    std::ofstream(file, std::ios::binary) << text;
    return file.string();
  }

 private:
  fs::path path_;
};

}  // namespace carebridge::auth::testing
