#include "call/starter.hpp"

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

namespace vox::call {

CallStarter::CallStarter(CallServices services, MakeAgent make_agent, LookupRecord lookup)
    : svc_(std::move(services)), make_agent_(std::move(make_agent)), lookup_(std::move(lookup)) {}

void CallStarter::start(StreamStart start, boost::asio::any_io_executor strand, std::shared_ptr<MediaOutbox> outbox,
                        std::function<void(Started)> done) {
  if (auto record = svc_.registry.record(start.call_sid); record || !lookup_) {
    done(begin(std::move(start), record, std::move(strand), std::move(outbox)));
    return;
  }
  // Not registered here: the call store may know its owner (after a restart, or once the
  // in-memory record was dropped). Asked off this thread; the stream waits meanwhile.
  const std::string sid = start.call_sid;
  lookup_(sid, [this, start = std::move(start), strand, outbox = std::move(outbox),
                done = std::move(done)](std::optional<CallRecord> record) mutable {
    boost::asio::post(strand, [this, start = std::move(start), strand, outbox = std::move(outbox),
                               done = std::move(done), record = std::move(record)]() mutable {
      done(begin(std::move(start), record, strand, std::move(outbox)));
    });
  });
}

CallStarter::Started CallStarter::begin(StreamStart start, const std::optional<CallRecord>& record,
                                        boost::asio::any_io_executor strand, std::shared_ptr<MediaOutbox> outbox) {
  CallContext ctx;
  ctx.call_sid = start.call_sid;
  ctx.stream_sid = start.stream_sid;
  ctx.parameters = std::move(start.parameters);
  ctx.stream_url = std::move(start.stream_url);
  if (auto it = ctx.parameters.find("from"); it != ctx.parameters.end()) ctx.from = it->second;
  if (auto it = ctx.parameters.find("to"); it != ctx.parameters.end()) ctx.to = it->second;
  // What the control API registered (owner, agent, voice) wins; else a trusted
  // <Parameter> may name the tenant and agent.
  if (record) {
    ctx.tenant = record->tenant;
    ctx.agent_id = record->agent_id;
    if (ctx.from.empty()) ctx.from = record->from;
    if (ctx.to.empty()) ctx.to = record->to;
  } else {
    if (auto it = ctx.parameters.find("tenant"); it != ctx.parameters.end()) ctx.tenant = it->second;
    if (auto it = ctx.parameters.find("agent_id"); it != ctx.parameters.end()) ctx.agent_id = it->second;
  }
  // A new stream of a call whose agent pressed digits carries on with that agent.
  std::unique_ptr<Agent> agent = svc_.registry.unpark(ctx.call_sid);
  const bool resumed = agent != nullptr;
  // A new call (not a live one's next stream) may be refused by overload control.
  if (!resumed && svc_.admit && !svc_.admit()) {
    spdlog::warn("call refused call_sid={}: the server is overloaded or at its call limit (closed with 1013)",
                 ctx.call_sid);
    return Started{nullptr, 1013, "server overloaded, try again later"};
  }
  try {
    if (!agent) agent = make_agent_(ctx);
  } catch (const std::exception& e) {
    spdlog::error("cannot start call call_sid={}: {}", ctx.call_sid, e.what());
    return Started{nullptr, 1011, "agent unavailable"};
  }
  auto session = std::make_shared<CallSession>(svc_, std::move(strand), std::move(outbox), ctx, std::move(agent));
  if (start.observer) session->add_observer(std::move(start.observer));
  if (record) {
    // The registered voice, else the one the stream's parameters named.
    std::string voice = record->voice_id.empty() ? session->voice_id() : record->voice_id;
    session->set_voice(std::move(voice), record->voice_settings);
  }
  if (!svc_.registry.add(ctx.call_sid, session)) {
    spdlog::warn("call refused call_sid={}: already live or the call limit ({}) is reached", ctx.call_sid,
                 svc_.settings.max_calls);
    return Started{nullptr, 1013, "call limit reached or duplicate CallSid"};
  }
  spdlog::info("call started call_sid={} stream_sid={} from={} to={} agent={}", ctx.call_sid, ctx.stream_sid, ctx.from,
               ctx.to, ctx.parameters.count("agent") ? ctx.parameters.at("agent") : "default");
  svc_.registry.update_record(ctx.call_sid, [](CallRecord& r) { r.status = "in-progress"; });
  // Client sockets bind first, so they see the greeting too.
  if (svc_.on_session_started) svc_.on_session_started(session);
  session->start(resumed);
  // Text the control API sent before the stream started is spoken now.
  for (auto& text : svc_.registry.take_pending_texts(ctx.call_sid)) session->say(std::move(text));
  return Started{std::move(session), 0, {}};
}

}  // namespace vox::call
