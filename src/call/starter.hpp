#pragma once
// How a media stream becomes a call: who owns it and which agent and voice it gets (the
// control API's record in memory, else the call store's, else the stream's trusted
// <Parameter>s), the agent made (or taken back from the registry when the stream
// resumes after keys were pressed), the call limit, and the session started. Shared by
// every media transport (Twilio's socket, and later the browser's).
#include <boost/asio/any_io_executor.hpp>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "call/session.hpp"

namespace vox::call {

struct StreamStart {
  std::string call_sid;
  std::string stream_sid;
  std::string stream_url;  // the URL the stream was opened on (to resume it after a redirect)
  std::map<std::string, std::string> parameters;
  // Attached to the session before it starts, so it sees the greeting too (the softphone's
  // page); null: none.
  std::shared_ptr<CallObserver> observer;
};

class CallStarter {
 public:
  // Makes the agent for a call; may set `call.parameters["agent"]` to the name it chose.
  // Throws std::invalid_argument (unknown agent, bad script).
  using MakeAgent = std::function<std::unique_ptr<Agent>(CallContext& call)>;
  // Looks a call up in the call store; `done` may run on any thread. Null: no store.
  using LookupRecord = std::function<void(const std::string& call_sid, std::function<void(std::optional<CallRecord>)> done)>;
  // A session, or null and why not (the socket is to be closed with `close_code`).
  struct Started {
    std::shared_ptr<CallSession> session;
    int close_code = 0;
    std::string reason;
  };

  CallStarter(CallServices services, MakeAgent make_agent, LookupRecord lookup = {});

  // Starts the call of `start` on `strand`, its audio going to `outbox`; `done` runs on
  // `strand` (at once when the registry knows the call, else after the store lookup).
  void start(StreamStart start, boost::asio::any_io_executor strand, std::shared_ptr<MediaOutbox> outbox,
             std::function<void(Started)> done);
  // start() for a media transport that is the call's outbox: `transport->started(Started)`
  // runs on `strand` if the transport still exists; a session started after it went away
  // is ended at once.
  template <typename Transport>
  void start_for(const std::shared_ptr<Transport>& transport, StreamStart start, boost::asio::any_io_executor strand) {
    std::weak_ptr<Transport> weak = transport;
    this->start(std::move(start), std::move(strand), transport, [weak](Started started) {
      auto self = weak.lock();
      if (!self) {
        if (started.session) started.session->end("socket closed while starting");
        return;
      }
      self->started(std::move(started));
    });
  }

 private:
  Started begin(StreamStart start, const std::optional<CallRecord>& record, boost::asio::any_io_executor strand,
                std::shared_ptr<MediaOutbox> outbox);

  CallServices svc_;
  MakeAgent make_agent_;
  LookupRecord lookup_;
};

}  // namespace vox::call
