#include "support/test_certs.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace vox::testing {
namespace {

template <auto Fn>
struct Deleter {
  template <typename T>
  void operator()(T* p) const noexcept {
    Fn(p);
  }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using NamePtr = std::unique_ptr<X509_NAME, Deleter<X509_NAME_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;

// Throws with `what` plus whatever OpenSSL queued on this thread's error stack (which it clears).
[[noreturn]] void fail(const std::string& what) {
  std::string msg = "make_test_pki: " + what;
  char buf[256];
  while (const unsigned long e = ERR_get_error()) {
    ERR_error_string_n(e, buf, sizeof buf);
    msg += "; ";
    msg += buf;
  }
  throw std::runtime_error(msg);
}

void check(int ok, const char* what) {
  if (ok <= 0) fail(what);
}

PkeyPtr make_key() {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) fail("EC P-256 key generation failed");
  return key;
}

NamePtr make_name(const std::string& common_name) {
  NamePtr name(X509_NAME_new());
  if (!name) fail("X509_NAME_new");
  const auto add = [&](const char* field, const std::string& value) {
    check(X509_NAME_add_entry_by_txt(name.get(), field, MBSTRING_UTF8,
                                     reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1, 0),
          "X509_NAME_add_entry_by_txt");
  };
  add("O", "voxbridge tests");
  add("CN", common_name);
  return name;
}

std::string random_hex(int bytes) {
  std::vector<unsigned char> raw(static_cast<std::size_t>(bytes));
  check(RAND_bytes(raw.data(), bytes), "RAND_bytes");
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (const unsigned char b : raw) {
    out += kDigits[b >> 4];
    out += kDigits[b & 0x0F];
  }
  return out;
}

// Adds one extension given in openssl.cnf syntax, e.g. (NID_basic_constraints, "critical,CA:TRUE").
// `issuer` is the signing certificate (== cert when self-signed); it is consulted for authorityKeyIdentifier.
void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (!ext) fail(std::string("bad extension ") + OBJ_nid2sn(nid) + "=" + value);
  check(X509_add_ext(cert, ext.get(), -1), "X509_add_ext");
}

// A v3 certificate for `subject_key` named `subject`, issued by `issuer_name`, valid from now - 1 h
// to now + 23 h, with a random positive 127-bit serial; extensions and signature are added by the caller.
X509Ptr make_cert_skeleton(EVP_PKEY* subject_key, const X509_NAME* subject, const X509_NAME* issuer_name) {
  X509Ptr cert(X509_new());
  if (!cert) fail("X509_new");
  check(X509_set_version(cert.get(), X509_VERSION_3), "X509_set_version");

  BnPtr serial(BN_new());
  if (!serial) fail("BN_new");
  check(BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY), "BN_rand");
  if (BN_is_zero(serial.get())) check(BN_one(serial.get()), "BN_one");
  if (!BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get()))) fail("BN_to_ASN1_INTEGER");

  if (!X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60L * 60)) fail("X509_gmtime_adj(notBefore)");
  if (!X509_gmtime_adj(X509_getm_notAfter(cert.get()), 23L * 60 * 60)) fail("X509_gmtime_adj(notAfter)");
  check(X509_set_subject_name(cert.get(), subject), "X509_set_subject_name");
  check(X509_set_issuer_name(cert.get(), issuer_name), "X509_set_issuer_name");
  check(X509_set_pubkey(cert.get(), subject_key), "X509_set_pubkey");
  return cert;
}

void sign(X509* cert, EVP_PKEY* issuer_key) {
  if (X509_sign(cert, issuer_key, EVP_sha256()) <= 0) fail("X509_sign");
}

std::string bio_to_string(BIO* bio) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  if (len <= 0 || data == nullptr) fail("empty PEM output");
  return std::string(data, static_cast<std::size_t>(len));
}

std::string cert_pem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) fail("BIO_new");
  check(PEM_write_bio_X509(bio.get(), cert), "PEM_write_bio_X509");
  return bio_to_string(bio.get());
}

std::string key_pem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) fail("BIO_new");
  check(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr),
        "PEM_write_bio_PrivateKey");
  return bio_to_string(bio.get());
}

void write_file(const std::string& path, const std::string& content, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) throw std::runtime_error("make_test_pki: cannot create " + path + ": " + std::strerror(errno));
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      throw std::runtime_error("make_test_pki: cannot write " + path + ": " + std::strerror(err));
    }
    done += static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0) throw std::runtime_error("make_test_pki: cannot close " + path + ": " + std::strerror(errno));
}

}  // namespace

TestPki make_test_pki() {
  ERR_clear_error();

  // --- the CA -------------------------------------------------------------------------------
  PkeyPtr ca_key = make_key();
  NamePtr ca_name = make_name("voxbridge test CA " + random_hex(6));
  X509Ptr ca = make_cert_skeleton(ca_key.get(), ca_name.get(), ca_name.get());
  add_ext(ca.get(), ca.get(), NID_basic_constraints, "critical,CA:TRUE");
  add_ext(ca.get(), ca.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
  add_ext(ca.get(), ca.get(), NID_subject_key_identifier, "hash");
  add_ext(ca.get(), ca.get(), NID_authority_key_identifier, "keyid:always");
  sign(ca.get(), ca_key.get());

  // --- the server certificate -----------------------------------------------------------------
  PkeyPtr server_key = make_key();
  NamePtr server_name = make_name("localhost");
  X509Ptr server = make_cert_skeleton(server_key.get(), server_name.get(), X509_get_subject_name(ca.get()));
  add_ext(server.get(), ca.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_ext(server.get(), ca.get(), NID_key_usage, "critical,digitalSignature");
  add_ext(server.get(), ca.get(), NID_ext_key_usage, "serverAuth");
  add_ext(server.get(), ca.get(), NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1");
  add_ext(server.get(), ca.get(), NID_subject_key_identifier, "hash");
  add_ext(server.get(), ca.get(), NID_authority_key_identifier, "keyid:always");
  sign(server.get(), ca_key.get());

  TestPki pki;
  pki.ca_cert_pem = cert_pem(ca.get());
  pki.server_cert_pem = cert_pem(server.get());
  pki.server_key_pem = key_pem(server_key.get());

  // --- the files ----------------------------------------------------------------------------
  char tmpl[] = "/tmp/vox-test-pki-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr)
    throw std::runtime_error(std::string("make_test_pki: mkdtemp: ") + std::strerror(errno));
  pki.dir = tmpl;
  pki.ca_cert_file = pki.dir + "/ca.pem";
  pki.server_cert_file = pki.dir + "/server.pem";
  pki.server_key_file = pki.dir + "/server.key";
  try {
    write_file(pki.ca_cert_file, pki.ca_cert_pem, 0644);
    write_file(pki.server_cert_file, pki.server_cert_pem, 0644);
    write_file(pki.server_key_file, pki.server_key_pem, 0600);
  } catch (...) {
    remove_test_pki(pki);
    throw;
  }
  return pki;
}

void remove_test_pki(const TestPki& pki) noexcept {
  // Only ever delete what make_test_pki() could have created.
  if (pki.dir.rfind("/tmp/vox-test-pki-", 0) != 0) return;
  std::error_code ec;
  std::filesystem::remove_all(pki.dir, ec);
}

}  // namespace vox::testing
