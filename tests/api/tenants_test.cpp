// Tenants: company API keys from VOX_API_KEYS entries and a keys file, key lookup,
// the key of a request, and who may see a call.
#include "api/tenants.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "net/http_types.hpp"

namespace vox::api {
namespace {

// A keys file unique to this process, removed afterwards.
class KeysFile {
 public:
  KeysFile(const std::string& name, const std::string& content)
      : path_((std::filesystem::temp_directory_path() / (std::to_string(::getpid()) + "-" + name + ".keys")).string()) {
    std::ofstream(path_, std::ios::binary) << content;
  }
  ~KeysFile() {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }
  KeysFile(const KeysFile&) = delete;
  KeysFile& operator=(const KeysFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The tenant owning `key`, or "<none>".
std::string owner(const Tenants& t, std::string_view key) { return t.tenant_for(key).value_or("<none>"); }

// The message of the std::invalid_argument `f` throws ("" and a failure when it does not).
template <typename F>
std::string invalid_argument_of(F&& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  ADD_FAILURE() << "no std::invalid_argument thrown";
  return {};
}

TEST(Tenants, NoKeysMeansAnOpenApi) {
  Tenants none;
  EXPECT_TRUE(none.open());
  EXPECT_EQ(none.size(), 0u);
  EXPECT_EQ(owner(none, "key12345"), "<none>");
  const auto loaded = Tenants::load({}, "");
  EXPECT_TRUE(loaded.open());
  const auto blank = Tenants::load({"", " , ,"}, "");
  EXPECT_TRUE(blank.open());
}

TEST(Tenants, LoadsATenantKeyEntry) {
  const auto t = Tenants::load({"a:key12345"}, "");
  EXPECT_FALSE(t.open());
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(owner(t, "key12345"), "a");
}

TEST(Tenants, LoadsCommaSeparatedEntries) {
  const auto t = Tenants::load({"a:key-aaaa1, b:key-bbbb2 ,, c=key-cccc3", "d key-dddd4"}, "");
  EXPECT_EQ(t.size(), 4u);
  EXPECT_EQ(owner(t, "key-aaaa1"), "a");
  EXPECT_EQ(owner(t, "key-bbbb2"), "b");  // spaces around an entry are not part of it
  EXPECT_EQ(owner(t, "key-cccc3"), "c");
  EXPECT_EQ(owner(t, "key-dddd4"), "d");
}

TEST(Tenants, OnlyTheFirstSeparatorSplitsTenantFromKey) {
  const auto t = Tenants::load({"acme:key:with=colons"}, "");
  EXPECT_EQ(owner(t, "key:with=colons"), "acme");
}

TEST(Tenants, LoadsAKeysFileWithCommentsAndEveryLineForm) {
  KeysFile file("tenants-forms",
                "# company keys, one per line\n"
                "\n"
                "acme key-acme-0001\n"
                "   # an indented comment\n"
                "globex:key-globex-02\n"
                "initech=key-initech-3\n"
                "umbrella\tkey-umbrella-4   \n"
                "  hooli   key-hooli-005\r\n"
                "\n");
  const auto t = Tenants::load({}, file.path());
  EXPECT_EQ(t.size(), 5u);
  EXPECT_EQ(owner(t, "key-acme-0001"), "acme");
  EXPECT_EQ(owner(t, "key-globex-02"), "globex");
  EXPECT_EQ(owner(t, "key-initech-3"), "initech");
  EXPECT_EQ(owner(t, "key-umbrella-4"), "umbrella");
  EXPECT_EQ(owner(t, "key-hooli-005"), "hooli");
}

TEST(Tenants, EntriesAndFileAddUp) {
  KeysFile file("tenants-both", "b key-bbbb-file\n");
  const auto t = Tenants::load({"a:key-aaaa-env"}, file.path());
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(owner(t, "key-aaaa-env"), "a");
  EXPECT_EQ(owner(t, "key-bbbb-file"), "b");
}

TEST(Tenants, ATenantMayHaveSeveralKeys) {
  const auto t = Tenants::load({"a:key-first-1,a:key-second-2"}, "");
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(owner(t, "key-first-1"), "a");
  EXPECT_EQ(owner(t, "key-second-2"), "a");
}

TEST(Tenants, ADuplicateKeyThrows) {
  const auto msg = invalid_argument_of([] { Tenants::load({"a:samekey123,b:samekey123"}, ""); });
  EXPECT_NE(msg.find("twice"), std::string::npos) << msg;
  KeysFile file("tenants-dup", "b samekey123\n");
  invalid_argument_of([&] { Tenants::load({"a:samekey123"}, file.path()); });
  Tenants t;
  t.add("a", "samekey123");
  invalid_argument_of([&] { t.add("a", "samekey123"); });
  EXPECT_EQ(t.size(), 1u);
}

TEST(Tenants, AKeyShorterThanEightCharactersThrows) {
  const auto msg = invalid_argument_of([] { Tenants::load({"shorty:key1234"}, ""); });
  EXPECT_NE(msg.find("shorty"), std::string::npos) << msg;
  EXPECT_NE(msg.find('8'), std::string::npos) << msg;
  KeysFile file("tenants-short", "a tiny\n");
  invalid_argument_of([&] { Tenants::load({}, file.path()); });
  Tenants t;
  invalid_argument_of([&] { t.add("a", "1234567"); });
  EXPECT_NO_THROW(t.add("a", "12345678"));  // eight is enough
}

TEST(Tenants, ABadLineThrowsWithItsLineNumber) {
  KeysFile file("tenants-bad-line",
                "# keys\n"
                "acme key-acme-0001\n"
                "justonetoken\n"
                "globex key-globex-02\n");
  const auto msg = invalid_argument_of([&] { Tenants::load({}, file.path()); });
  EXPECT_NE(msg.find("line 3"), std::string::npos) << msg;
  EXPECT_NE(msg.find(file.path()), std::string::npos) << msg;

  KeysFile no_key("tenants-no-key", "acme:\n");
  const auto msg2 = invalid_argument_of([&] { Tenants::load({}, no_key.path()); });
  EXPECT_NE(msg2.find("line 1"), std::string::npos) << msg2;
}

TEST(Tenants, ABadEntryThrowsWithoutRepeatingTheSecret) {
  const auto msg = invalid_argument_of([] { Tenants::load({"secretvalue123"}, ""); });
  EXPECT_EQ(msg.find("secretvalue123"), std::string::npos) << msg;
  invalid_argument_of([] { Tenants::load({":key12345"}, ""); });
}

TEST(Tenants, AMissingKeysFileThrowsNamingIt) {
  const std::string path =
      (std::filesystem::temp_directory_path() / (std::to_string(::getpid()) + "-no-such.keys")).string();
  const auto msg = invalid_argument_of([&] { Tenants::load({}, path); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
}

TEST(Tenants, TenantForMatchesWholeKeysOnly) {
  const auto t = Tenants::load({"a:key12345,b:other-key-99"}, "");
  EXPECT_EQ(owner(t, "key12345"), "a");
  EXPECT_EQ(owner(t, "other-key-99"), "b");
  EXPECT_EQ(owner(t, "key12346"), "<none>");    // wrong
  EXPECT_EQ(owner(t, ""), "<none>");            // empty
  EXPECT_EQ(owner(t, "key1234"), "<none>");     // a prefix of a key
  EXPECT_EQ(owner(t, "key123456"), "<none>");   // a key with more after it
  EXPECT_EQ(owner(t, "KEY12345"), "<none>");    // keys are case-sensitive
  EXPECT_EQ(owner(t, " key12345"), "<none>");
}

TEST(RequestKey, ReadsXApiKey) {
  net::HttpRequest req;
  req.headers["X-API-KEY"] = "key-from-header";
  EXPECT_EQ(request_key(req), "key-from-header");
  net::HttpRequest lower;
  lower.headers["x-api-key"] = "key-lowercase-name";  // header names are case-insensitive
  EXPECT_EQ(request_key(lower), "key-lowercase-name");
}

TEST(RequestKey, ReadsAnAuthorizationBearerToken) {
  net::HttpRequest req;
  req.headers["Authorization"] = "Bearer key-from-bearer";
  EXPECT_EQ(request_key(req), "key-from-bearer");
}

TEST(RequestKey, XApiKeyWinsOverAuthorization) {
  net::HttpRequest req;
  req.headers["Authorization"] = "Bearer key-from-bearer";
  req.headers["X-API-KEY"] = "key-from-header";
  EXPECT_EQ(request_key(req), "key-from-header");
}

TEST(RequestKey, IsEmptyWithoutEither) {
  net::HttpRequest none;
  EXPECT_EQ(request_key(none), "");
  net::HttpRequest basic;
  basic.headers["Authorization"] = "Basic dXNlcjpwYXNz";
  EXPECT_EQ(request_key(basic), "");
  net::HttpRequest bare;
  bare.headers["Authorization"] = "Bearer ";
  EXPECT_EQ(request_key(bare), "");
  net::HttpRequest other;
  other.headers["X-Other"] = "key12345";
  EXPECT_EQ(request_key(other), "");
}

TEST(Principal, MayAccessOwnCallsOrEveryCallWhenOpen) {
  const Principal open{"local", true};
  EXPECT_TRUE(open.may_access("local"));
  EXPECT_TRUE(open.may_access("acme"));
  EXPECT_TRUE(open.may_access(""));
  const Principal acme{"acme", false};
  EXPECT_TRUE(acme.may_access("acme"));
  EXPECT_FALSE(acme.may_access("globex"));
  EXPECT_FALSE(acme.may_access(""));
  EXPECT_FALSE(acme.may_access("Acme"));
  EXPECT_FALSE(acme.may_access("acme2"));
}

}  // namespace
}  // namespace vox::api
