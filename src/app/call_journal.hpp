#pragma once
// Writes every call's events into the call store: status changes, the transcript
// (caller and agent turns, with the words heard when a reply was cut), barge-ins, keys,
// provider fallbacks and errors. Runs on the calls' strands; only queues writes.
#include "call/events.hpp"
#include "store/call_store.hpp"

namespace vox::app {

class CallJournal final : public call::CallObserver {
 public:
  // `instance_id` is written on each call this server runs (see CallStore).
  explicit CallJournal(store::CallStore& store, std::string instance_id = {})
      : store_(store), instance_id_(std::move(instance_id)) {}
  void on_event(const call::CallContext& call, const call::CallEvent& event) override;

 private:
  store::CallStore& store_;
  std::string instance_id_;
};

}  // namespace vox::app
