#include "call/media_stream.hpp"
#include "call/call_metrics.hpp"

#include <spdlog/spdlog.h>

#include "call/registry.hpp"
#include "core/base64.hpp"

namespace vox::call {

MediaStreamHandler::MediaStreamHandler(CallServices services, const agent::AgentFactory& agents, std::string stream_url)
    : svc_(services),
      agents_(agents),
      stream_url_(std::move(stream_url)),
      parser_(services.config.max_ws_message_bytes),
      payload_(base64::max_decoded_size(services.config.max_ws_message_bytes)) {}

MediaStreamHandler::~MediaStreamHandler() {
  if (session_) session_->end("handler destroyed");
}

void MediaStreamHandler::on_open(std::shared_ptr<net::WsConnection> connection) {
  conn_ = std::move(connection);
  spdlog::debug("media stream connected remote={}", conn_->remote());
}

void MediaStreamHandler::complain(std::uint64_t& counter, std::string_view what) {
  ++counter;
  if (counter <= 5 || counter % 100 == 0)
    spdlog::warn("media stream: {} call_sid={} remote={} (occurrence {})", what, call_sid_, conn_ ? conn_->remote() : "-",
                 counter);
}

void MediaStreamHandler::on_text(std::string_view message) {
  const twilio::Message m = parser_.parse(message);
  if (!m.bad_field.empty())
    complain(bad_numbers_, std::string(m.bad_field) + " is not a number in its range; read as absent");
  if (m.sequence_number > 0) {
    if (last_sequence_ > 0 && m.sequence_number != last_sequence_ + 1) {
      ++sequence_gaps_;
      if (svc_.metrics) svc_.metrics->sequence_gaps.inc();
    }
    last_sequence_ = m.sequence_number;
  }
  std::visit(
      [&](const auto& body) {
        using T = std::decay_t<decltype(body)>;
        if constexpr (std::is_same_v<T, twilio::ParseError>) {
          complain(bad_messages_, "bad message dropped: " + body.reason);
          // A stream whose start cannot be used never becomes a call: do not hold the socket.
          if (m.event == "start" && !session_ && conn_) conn_->close(1008, "invalid start message");
        } else if constexpr (std::is_same_v<T, twilio::Connected>) {
          spdlog::debug("media stream protocol={} version={}", body.protocol, body.version);
        } else if constexpr (std::is_same_v<T, twilio::Start>) {
          on_start(body);
        } else if constexpr (std::is_same_v<T, twilio::Media>) {
          if (!session_) return complain(early_media_, "media before start dropped");
          const auto n = base64::decode(body.payload, payload_);
          if (!n) return complain(bad_payloads_, "media payload is not valid base64; frame dropped");
          if (*n == 0) return complain(bad_payloads_, "empty media payload dropped");
          if (!body.track.empty() && body.track != "inbound") return;  // only the caller's audio feeds the pipeline
          session_->on_media(std::span<const std::uint8_t>(payload_.data(), *n), body.timestamp_ms);
        } else if constexpr (std::is_same_v<T, twilio::Mark>) {
          if (session_) session_->on_mark(body.name);
        } else if constexpr (std::is_same_v<T, twilio::Dtmf>) {
          if (session_) session_->on_dtmf(body.digit);
        } else if constexpr (std::is_same_v<T, twilio::Stop>) {
          if (session_) session_->end("stop");
          if (conn_) conn_->close(1000, "stream stopped");
        } else if constexpr (std::is_same_v<T, twilio::Clear>) {
          complain(bad_messages_, "'clear' is ours to send, not Twilio's; dropped");
        }
      },
      m.body);
}

void MediaStreamHandler::on_start(const twilio::Start& start) {
  if (session_) return complain(extra_starts_, "second start ignored");
  const bool sid_ok = svc_.config.relaxed_call_sids ? twilio::plausible_sid(start.call_sid)
                                                   : twilio::twilio_call_sid(start.call_sid);
  if (!sid_ok) {
    complain(bad_messages_, "start.callSid is not a Twilio Call SID (CA + 32 hex digits); stream refused");
    conn_->close(1008, "invalid callSid");
    return;
  }
  call_sid_ = start.call_sid;
  agent::CallContext ctx;
  ctx.call_sid = start.call_sid;
  ctx.stream_sid = start.stream_sid;
  ctx.parameters = start.custom_parameters;
  ctx.stream_url = stream_url_;
  if (auto it = ctx.parameters.find("from"); it != ctx.parameters.end()) ctx.from = it->second;
  if (auto it = ctx.parameters.find("to"); it != ctx.parameters.end()) ctx.to = it->second;
  // What the control API registered for this call (owner, agent, voice), if anything
  // (in memory, else in the store); else a trusted <Parameter> may name the tenant and agent.
  auto record = svc_.registry.record(ctx.call_sid);
  if (!record && svc_.stored_record) record = svc_.stored_record(ctx.call_sid);
  if (record) {
    ctx.tenant = record->tenant;
    ctx.agent_id = record->agent_id;
    if (ctx.from.empty()) ctx.from = record->from;
    if (ctx.to.empty()) ctx.to = record->to;
  } else {
    if (auto it = ctx.parameters.find("tenant"); it != ctx.parameters.end()) ctx.tenant = it->second;
    if (auto it = ctx.parameters.find("agent_id"); it != ctx.parameters.end()) ctx.agent_id = it->second;
  }
  // A customer's own agent id means the call is driven from outside (client socket/REST).
  if (!ctx.agent_id.empty() && !ctx.parameters.count("agent"))
    ctx.parameters["agent"] = agent::AgentFactory::built_in(ctx.agent_id) ? ctx.agent_id : "external";
  if (!start.encoding.empty() && start.encoding != "audio/x-mulaw")
    spdlog::warn("media stream encoding {} is not audio/x-mulaw; treating it as μ-law call_sid={}", start.encoding,
                 call_sid_);
  // A new stream of a call whose agent pressed digits carries on with that agent.
  std::unique_ptr<agent::Agent> agent = svc_.registry.unpark(ctx.call_sid);
  const bool resumed = agent != nullptr;
  try {
    if (!agent) agent = agents_.create(ctx);
  } catch (const std::exception& e) {
    spdlog::error("cannot start call call_sid={}: {}", call_sid_, e.what());
    conn_->close(1011, "agent unavailable");
    return;
  }
  session_ = std::make_shared<CallSession>(svc_, conn_->executor(), *this, ctx, std::move(agent));
  if (record) {
    // The registered voice, else the one the stream's parameters named.
    std::string voice = record->voice_id.empty() ? session_->voice_id() : record->voice_id;
    session_->set_voice(std::move(voice), record->voice_settings);
  }
  if (!svc_.registry.add(ctx.call_sid, session_)) {
    spdlog::warn("call refused call_sid={}: already live or the call limit ({}) is reached", call_sid_,
                 svc_.config.max_calls);
    session_.reset();
    conn_->close(1013, "call limit reached or duplicate CallSid");
    return;
  }
  spdlog::info("call started call_sid={} stream_sid={} from={} to={} agent={}", ctx.call_sid, ctx.stream_sid, ctx.from,
               ctx.to, ctx.parameters.count("agent") ? ctx.parameters.at("agent") : "default");
  svc_.registry.update_record(ctx.call_sid, [](CallRecord& r) { r.status = "in-progress"; });
  // Client sockets bind first, so they see the greeting too.
  if (svc_.on_session_started) svc_.on_session_started(session_);
  session_->start(resumed);
  // Text the control API sent before the stream started is spoken now.
  for (auto& text : svc_.registry.take_pending_texts(ctx.call_sid)) session_->say(std::move(text));
}

void MediaStreamHandler::on_close(std::string_view reason) {
  if (session_) session_->end(reason);
  if (sequence_gaps_ + bad_messages_ + early_media_ + bad_payloads_ + extra_starts_ > 0)
    spdlog::info("media stream closed call_sid={} sequence_gaps={} bad_messages={} early_media={} bad_payloads={} "
                 "extra_starts={}",
                 call_sid_, sequence_gaps_, bad_messages_, early_media_, bad_payloads_, extra_starts_);
}

void MediaStreamHandler::send_media(std::string_view stream_sid, std::span<const std::uint8_t> ulaw) {
  std::string msg;
  twilio::write_media(msg, stream_sid, ulaw);
  conn_->send_text(std::move(msg));
}

void MediaStreamHandler::send_mark(std::string_view stream_sid, std::string_view name) {
  std::string msg;
  twilio::write_mark(msg, stream_sid, name);
  conn_->send_text(std::move(msg));
}

void MediaStreamHandler::send_clear(std::string_view stream_sid) {
  std::string msg;
  twilio::write_clear(msg, stream_sid);
  conn_->send_text(std::move(msg));
}

void MediaStreamHandler::close(std::string_view reason) { conn_->close(1000, std::string(reason)); }

}  // namespace vox::call
