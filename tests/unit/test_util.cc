#include "test_util.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace mp::test {

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "mp-unit-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::filesystem::path ToolsDir() {
  return std::filesystem::path(__FILE__).parent_path().parent_path() / "tools";
}

std::string ShellQuote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out.push_back(c);
    }
  }
  return out + "'";
}

RunResult RunCommand(const std::string& command) {
  RunResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return result;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) result.output.append(buf, n);
  result.status = pclose(pipe);
  return result;
}

PemCert MakeSelfSignedPem(const char* subject_alt_names, std::string* error) {
  PemCert out;
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x = X509_new();
  bool ok = key && x;
  if (ok) {
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, nullptr, nullptr, 0);
    X509_EXTENSION* san =
        X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, subject_alt_names);
    ok = san && X509_add_ext(x, san, -1) == 1;
    X509_EXTENSION_free(san);
    ok = ok && X509_sign(x, key, EVP_sha256()) > 0;
  }
  auto pem = [](auto write) {
    BIO* b = BIO_new(BIO_s_mem());
    std::string text;
    if (b && write(b) == 1) {
      char* data = nullptr;
      long n = BIO_get_mem_data(b, &data);
      text.assign(data, static_cast<size_t>(n));
    }
    BIO_free(b);
    return text;
  };
  if (ok) {
    out.cert_pem = pem([&](BIO* b) { return PEM_write_bio_X509(b, x); });
    out.key_pem = pem([&](BIO* b) {
      return PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
    });
  }
  if ((out.cert_pem.empty() || out.key_pem.empty()) && error) {
    char msg[256];
    ERR_error_string_n(ERR_get_error(), msg, sizeof msg);
    *error = msg;
  }
  X509_free(x);
  EVP_PKEY_free(key);
  return out;
}

}  // namespace mp::test
