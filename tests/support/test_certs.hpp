#pragma once
// Throwaway PKI for TLS tests: a self-signed CA and a localhost server certificate it signed.
#include <string>

namespace vox::testing {

struct TestPki {
  std::string dir;               // fresh directory under /tmp holding the three files below
  std::string ca_cert_file;      // dir + "/ca.pem"
  std::string server_cert_file;  // dir + "/server.pem"
  std::string server_key_file;   // dir + "/server.key" (unencrypted PKCS#8, mode 0600)
  std::string ca_cert_pem;
  std::string server_cert_pem;
  std::string server_key_pem;
};

// Makes a new CA (EC P-256, self-signed, CA:TRUE, keyCertSign|cRLSign) and a server certificate
// (EC P-256) signed by it with subjectAltName DNS:localhost, IP:127.0.0.1, IP:::1 and the serverAuth
// EKU. Both are valid from one hour ago for one day (notAfter = now + 23 h). Writes the PEM files into
// a new mkdtemp() directory. Every call yields an unrelated CA, so calling it twice gives the
// "wrong CA" material for negative tests. Throws std::runtime_error on failure.
TestPki make_test_pki();

// Deletes the files and directory of `pki` (best effort; never throws).
void remove_test_pki(const TestPki& pki) noexcept;

}  // namespace vox::testing
