// --max-calls-per-company on one instance, without Redis: a company's live calls, and
// those it placed or registered that have not started yet, count against its limit; more
// answer 429; another company has its own; a call that ends frees its place.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <future>
#include <string>
#include <vector>

#include "twilio_support.hpp"

namespace vox::test {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;

const std::string kApi = "/api/v1/elevenlabs-twilio";
const std::string kAcme = "acme-key-000001", kGlobex = "globex-key-0001", kInitech = "initech-key-001";

net::HttpResponse api(const ServerProcess& s, const std::string& method, const std::string& path,
                      const std::string& body, const std::string& key) {
  net::Headers h = {{"Content-Type", "application/json"}, {"X-API-KEY", key}};
  return run_io([&]() { return net::http_request(method, s.url() + kApi + path, h, body, std::chrono::seconds(30)); });
}

std::string detail(const net::HttpResponse& r) {
  boost::system::error_code ec;
  auto v = json::parse(r.body, ec);
  if (ec || !v.is_object() || !v.as_object().contains("detail")) return {};
  return std::string(v.as_object().at("detail").as_string());
}

TEST(CompanyLimit, OneInstanceWithoutRedisKeepsEachCompanysConcurrentCallsUnderItsLimit) {
  // Placed calls ring for a minute: they count while they ring.
  auto emulator = twilio_emulator({}, {"--ring-ms", "60000"});
  auto server = gateway(*emulator, {"--api-key", "acme:" + kAcme + ",globex:" + kGlobex + ",initech:" + kInitech,
                                    "--max-calls-per-company", "2", "--relaxed-call-sids"});
  auto reg = [&](const std::string& sid, const std::string& key) {
    return api(*server, "POST", "/calls/incoming", R"({"call_sid":")" + sid + R"(","agent_id":"x"})", key);
  };
  auto place = [&](const std::string& key) {
    return api(*server, "POST", "/calls", R"({"to_number":"+15550002222","from_number":"+15550001111"})", key);
  };
  // Registered calls.
  EXPECT_EQ(reg("CAlimit1", kAcme).status, 200);
  EXPECT_EQ(reg("CAlimit2", kAcme).status, 200);
  const auto third = reg("CAlimit3", kAcme);
  EXPECT_EQ(third.status, 429) << third.body;
  EXPECT_NE(detail(third).find("concurrent calls"), std::string::npos) << third.body;
  EXPECT_EQ(reg("CAlimit1", kAcme).status, 200);  // registered again: not a new call
  EXPECT_EQ(reg("CAlimit4", kGlobex).status, 200);

  // Placed calls, while they ring: the second is over globex's limit of 2 (one registered).
  const auto placed = place(kGlobex);
  ASSERT_EQ(placed.status, 200) << placed.body;
  const auto over = place(kGlobex);
  EXPECT_EQ(over.status, 429) << over.body;
  // Hanging up the ringing call frees its place.
  boost::system::error_code ec;
  const auto sid = std::string(json::parse(placed.body, ec).as_object().at("call_sid").as_string());
  EXPECT_EQ(api(*server, "DELETE", "/calls/" + sid, "", kGlobex).status, 200);
  EXPECT_TRUE(eventually([&] {
    const auto again = place(kGlobex);
    return again.status == 200;
  }, 20s));

  // Many at once: exactly the limit gets through.
  std::vector<std::future<net::HttpResponse>> all;
  for (int i = 0; i < 8; ++i)
    all.push_back(std::async(std::launch::async, [&, i] { return reg("CArace" + std::to_string(i), kInitech); }));
  int ok = 0, refused = 0;
  for (auto& f : all) {
    const auto r = f.get();
    if (r.status == 200) ++ok;
    else if (r.status == 429) ++refused;
  }
  EXPECT_EQ(ok, 2);
  EXPECT_EQ(refused, 6);
}

}  // namespace
}  // namespace vox::test
