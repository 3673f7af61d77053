#include "support/test_certs.hpp"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

namespace vox::testing {
namespace {

template <auto Fn>
struct Deleter {
  template <typename T>
  void operator()(T* p) const noexcept {
    Fn(p);
  }
};
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using StorePtr = std::unique_ptr<X509_STORE, Deleter<X509_STORE_free>>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX_free>>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, Deleter<SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, Deleter<SSL_free>>;

X509Ptr parse_cert(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

PkeyPtr parse_key(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return PkeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Verifies `cert` against the single trust anchor `ca` for TLS server use (strict X.509 checks);
// returns the X509_V_* result.
int verify(X509* ca, X509* cert) {
  StorePtr store(X509_STORE_new());
  EXPECT_EQ(X509_STORE_add_cert(store.get(), ca), 1);
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  EXPECT_EQ(X509_STORE_CTX_init(ctx.get(), store.get(), cert, nullptr), 1);
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_SERVER);
  X509_STORE_CTX_set_flags(ctx.get(), X509_V_FLAG_X509_STRICT);
  const int ok = X509_verify_cert(ctx.get());
  const int err = X509_STORE_CTX_get_error(ctx.get());
  EXPECT_EQ(ok == 1, err == X509_V_OK);
  return err;
}

class TestCerts : public ::testing::Test {
 protected:
  void SetUp() override {
    pki_ = make_test_pki();
    other_ = make_test_pki();
  }
  void TearDown() override {
    remove_test_pki(pki_);
    remove_test_pki(other_);
  }
  TestPki pki_, other_;
};

TEST_F(TestCerts, WritesPemFilesIntoAFreshTempDirectory) {
  EXPECT_EQ(pki_.dir.rfind("/tmp/", 0), 0u);
  EXPECT_NE(pki_.dir, other_.dir);
  EXPECT_EQ(slurp(pki_.ca_cert_file), pki_.ca_cert_pem);
  EXPECT_EQ(slurp(pki_.server_cert_file), pki_.server_cert_pem);
  EXPECT_EQ(slurp(pki_.server_key_file), pki_.server_key_pem);
  EXPECT_EQ(pki_.ca_cert_pem.rfind("-----BEGIN CERTIFICATE-----", 0), 0u);
  EXPECT_EQ(pki_.server_key_pem.rfind("-----BEGIN PRIVATE KEY-----", 0), 0u);
  struct stat st{};
  ASSERT_EQ(::stat(pki_.server_key_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0077, 0u) << "private key must not be group/world readable";
}

TEST_F(TestCerts, ServerCertificateVerifiesAgainstItsCaOnly) {
  X509Ptr ca = parse_cert(pki_.ca_cert_pem), server = parse_cert(pki_.server_cert_pem);
  X509Ptr other_ca = parse_cert(other_.ca_cert_pem), other_server = parse_cert(other_.server_cert_pem);
  ASSERT_TRUE(ca && server && other_ca && other_server);

  EXPECT_EQ(verify(ca.get(), server.get()), X509_V_OK);
  EXPECT_EQ(verify(other_ca.get(), other_server.get()), X509_V_OK);
  EXPECT_NE(verify(other_ca.get(), server.get()), X509_V_OK);
  EXPECT_NE(verify(ca.get(), other_server.get()), X509_V_OK);
  EXPECT_EQ(verify(other_ca.get(), server.get()), X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
}

TEST_F(TestCerts, CaIsASelfSignedSigningCa) {
  X509Ptr ca = parse_cert(pki_.ca_cert_pem), server = parse_cert(pki_.server_cert_pem);
  ASSERT_TRUE(ca && server);
  EXPECT_EQ(X509_check_ca(ca.get()), 1);
  EXPECT_EQ(X509_check_ca(server.get()), 0);
  EXPECT_TRUE(X509_get_extension_flags(ca.get()) & EXFLAG_SS);
  EXPECT_TRUE(X509_get_key_usage(ca.get()) & KU_KEY_CERT_SIGN);
  EXPECT_EQ(X509_check_issued(ca.get(), server.get()), X509_V_OK);
  EXPECT_EQ(X509_check_purpose(server.get(), X509_PURPOSE_SSL_SERVER, 0), 1);
  EXPECT_TRUE(X509_get_extended_key_usage(server.get()) & XKU_SSL_SERVER);
}

TEST_F(TestCerts, ValidityStartsInThePastAndLastsAboutADay) {
  X509Ptr server = parse_cert(pki_.server_cert_pem);
  ASSERT_TRUE(server);
  EXPECT_LT(X509_cmp_current_time(X509_get0_notBefore(server.get())), 0);
  EXPECT_GT(X509_cmp_current_time(X509_get0_notAfter(server.get())), 0);
  int days = -1, secs = -1;
  ASSERT_EQ(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(server.get()), X509_get0_notAfter(server.get())), 1);
  EXPECT_EQ(days, 1);
  EXPECT_EQ(secs, 0);
}

TEST_F(TestCerts, SubjectAltNamesCoverLocalhostOnly) {
  X509Ptr server = parse_cert(pki_.server_cert_pem);
  ASSERT_TRUE(server);
  EXPECT_EQ(X509_check_host(server.get(), "localhost", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(server.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(server.get(), "::1", 0), 1);
  EXPECT_EQ(X509_check_host(server.get(), "example.com", 0, 0, nullptr), 0);
  EXPECT_EQ(X509_check_ip_asc(server.get(), "127.0.0.2", 0), 0);
}

TEST_F(TestCerts, KeyMatchesCertificate) {
  X509Ptr server = parse_cert(pki_.server_cert_pem), other_server = parse_cert(other_.server_cert_pem);
  PkeyPtr key = parse_key(pki_.server_key_pem);
  ASSERT_TRUE(server && other_server && key);
  EXPECT_EQ(X509_check_private_key(server.get(), key.get()), 1);
  EXPECT_EQ(X509_check_private_key(other_server.get(), key.get()), 0);
  ERR_clear_error();
}

// Runs a TLS handshake over an in-memory BIO pair: the server uses `server_pki`'s files, the
// client trusts `client_ca_file` and checks host "localhost". Returns true when both sides finish.
bool handshake(const TestPki& server_pki, const std::string& client_ca_file) {
  SslCtxPtr sctx(SSL_CTX_new(TLS_server_method())), cctx(SSL_CTX_new(TLS_client_method()));
  if (!sctx || !cctx) return false;
  EXPECT_EQ(SSL_CTX_use_certificate_chain_file(sctx.get(), server_pki.server_cert_file.c_str()), 1);
  EXPECT_EQ(SSL_CTX_use_PrivateKey_file(sctx.get(), server_pki.server_key_file.c_str(), SSL_FILETYPE_PEM), 1);
  EXPECT_EQ(SSL_CTX_check_private_key(sctx.get()), 1);
  EXPECT_EQ(SSL_CTX_load_verify_locations(cctx.get(), client_ca_file.c_str(), nullptr), 1);
  SSL_CTX_set_verify(cctx.get(), SSL_VERIFY_PEER, nullptr);

  SslPtr client(SSL_new(cctx.get())), server(SSL_new(sctx.get()));
  BIO *cbio = nullptr, *sbio = nullptr;
  if (!client || !server || BIO_new_bio_pair(&cbio, 0, &sbio, 0) != 1) return false;
  SSL_set_bio(client.get(), cbio, cbio);
  SSL_set_bio(server.get(), sbio, sbio);
  SSL_set_connect_state(client.get());
  SSL_set_accept_state(server.get());
  EXPECT_EQ(SSL_set_tlsext_host_name(client.get(), "localhost"), 1);
  EXPECT_EQ(SSL_set1_host(client.get(), "localhost"), 1);

  bool client_done = false, server_done = false;
  for (int round = 0; round < 50 && !(client_done && server_done); ++round) {
    for (auto [ssl, done] : {std::pair{client.get(), &client_done}, std::pair{server.get(), &server_done}}) {
      if (*done) continue;
      const int rc = SSL_do_handshake(ssl);
      if (rc == 1) {
        *done = true;
        continue;
      }
      const int err = SSL_get_error(ssl, rc);
      if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
        ERR_clear_error();
        return false;
      }
    }
  }
  return client_done && server_done && SSL_get_verify_result(client.get()) == X509_V_OK;
}

TEST_F(TestCerts, TlsHandshakeSucceedsWithTheRightCaAndFailsWithAnother) {
  EXPECT_TRUE(handshake(pki_, pki_.ca_cert_file));
  EXPECT_FALSE(handshake(pki_, other_.ca_cert_file));
}

TEST(TestCertsCleanup, RemoveDeletesTheDirectory) {
  const TestPki pki = make_test_pki();
  ASSERT_TRUE(std::filesystem::exists(pki.server_key_file));
  remove_test_pki(pki);
  EXPECT_FALSE(std::filesystem::exists(pki.dir));
}

}  // namespace
}  // namespace vox::testing
