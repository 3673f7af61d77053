// CallRegistry::park / unpark: a call's agent kept across the call's media streams.
// (Expiry after kParkedFor is not tested: it runs on the real steady clock.)
#include "call/registry.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "agent/agent.hpp"

namespace vox::call {
namespace {

class NamedAgent final : public call::Agent {
 public:
  explicit NamedAgent(std::string name) : name_(std::move(name)) {}
  std::string greeting() override { return name_; }
  void on_turn(const call::Turn&, std::function<void(call::AgentReply)> reply) override { reply(call::AgentReply{name_}); }

 private:
  std::string name_;
};

std::unique_ptr<call::Agent> make_agent(const std::string& name) { return std::make_unique<NamedAgent>(name); }

TEST(CallRegistryPark, UnparkOfAnUnknownSidIsNull) {
  CallRegistry registry;
  EXPECT_EQ(registry.unpark("CA00000000000000000000000000000001").get(), nullptr);
  EXPECT_EQ(registry.unpark("").get(), nullptr);
}

TEST(CallRegistryPark, UnparkReturnsTheParkedAgentExactlyOnce) {
  CallRegistry registry;
  auto agent = make_agent("first");
  const call::Agent* raw = agent.get();
  registry.park("CA1", std::move(agent));
  auto back = registry.unpark("CA1");
  ASSERT_NE(back.get(), nullptr);
  EXPECT_EQ(back.get(), raw);
  EXPECT_EQ(back->greeting(), "first");
  EXPECT_EQ(registry.unpark("CA1").get(), nullptr);
}

TEST(CallRegistryPark, ParkingTwiceForTheSameSidReplacesTheFirst) {
  CallRegistry registry;
  auto second = make_agent("second");
  const call::Agent* raw_second = second.get();
  registry.park("CA1", make_agent("first"));
  registry.park("CA1", std::move(second));
  auto back = registry.unpark("CA1");
  ASSERT_NE(back.get(), nullptr);
  EXPECT_EQ(back.get(), raw_second);
  EXPECT_EQ(back->greeting(), "second");
  EXPECT_EQ(registry.unpark("CA1").get(), nullptr);  // the first is gone, not queued behind
}

TEST(CallRegistryPark, SidsAreIndependent) {
  CallRegistry registry;
  auto a = make_agent("a");
  auto b = make_agent("b");
  const call::Agent* raw_a = a.get();
  const call::Agent* raw_b = b.get();
  registry.park("CAa", std::move(a));
  registry.park("CAb", std::move(b));
  EXPECT_EQ(registry.unpark("CAc").get(), nullptr);
  EXPECT_EQ(registry.unpark("caa").get(), nullptr);  // sids are case-sensitive
  auto back_b = registry.unpark("CAb");
  ASSERT_NE(back_b.get(), nullptr);
  EXPECT_EQ(back_b.get(), raw_b);
  EXPECT_EQ(registry.unpark("CAb").get(), nullptr);
  auto back_a = registry.unpark("CAa");  // untouched by the other sid's unpark
  ASSERT_NE(back_a.get(), nullptr);
  EXPECT_EQ(back_a.get(), raw_a);
  EXPECT_EQ(registry.unpark("CAa").get(), nullptr);
}

TEST(CallRegistryPark, ParkedAgentsAreNotLiveCalls) {
  CallRegistry registry;
  registry.park("CA1", make_agent("x"));
  EXPECT_EQ(registry.size(), 0u);
  EXPECT_FALSE(registry.find("CA1"));
  EXPECT_TRUE(registry.all().empty());
  EXPECT_NE(registry.unpark("CA1").get(), nullptr);
}

TEST(CallRegistryLimit, RingingCallsOfACompanyCountUntilTheyEndOrTheirTimePasses) {
  CallRegistry registry;
  auto rec = [](std::string sid, std::string tenant, std::string status) {
    CallRecord r;
    r.call_sid = std::move(sid);
    r.tenant = std::move(tenant);
    r.status = std::move(status);
    return r;
  };
  registry.register_call(rec("CA1", "acme", "registered"));
  registry.register_call(rec("CA2", "acme", "ringing"));
  registry.register_call(rec("CA3", "globex", "initiated"));
  EXPECT_EQ(registry.calls_of("acme", std::chrono::minutes(2)), 2u);
  EXPECT_EQ(registry.calls_of("globex", std::chrono::minutes(2)), 1u);
  EXPECT_EQ(registry.calls_of("initech", std::chrono::minutes(2)), 0u);
  // A call whose session ended (its record says "completed") frees its place at once.
  registry.update_record("CA1", [](CallRecord& r) { r.status = "completed"; });
  EXPECT_EQ(registry.calls_of("acme", std::chrono::minutes(2)), 1u);
  registry.update_record("CA2", [](CallRecord& r) { r.status = "no-answer"; });
  EXPECT_EQ(registry.calls_of("acme", std::chrono::minutes(2)), 0u);
  // One that has rung longer than the window no longer counts (a window already past).
  EXPECT_EQ(registry.calls_of("globex", std::chrono::nanoseconds(-1)), 0u);
}

}  // namespace
}  // namespace vox::call
