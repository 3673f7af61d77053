#pragma once
// The "webhook" agent: the customer's agent as a plain HTTP endpoint. On each final
// transcript it POSTs
//   {"call_sid", "text", "turn", "from", "to", "agent_id", "barged_in",
//    "interrupted_reply_heard", "parameters": {...}}
// to the configured URL and speaks the answer:
//   - application/json {"text": "...", "hangup": false, "transfer_to": "", "digits": ""};
//   - newline-delimited JSON objects like the above, spoken one by one as they arrive;
//   - plain text, spoken sentence by sentence as it arrives (a streamed answer starts
//     playing before it is complete).
// A timeout (no answer, or a stalled stream), a transport error or a non-2xx status is
// logged and the fallback phrase is spoken instead; the call goes on.
#include <memory>

#include "agent/agent.hpp"

namespace vox::agent {

std::unique_ptr<call::Agent> make_webhook_agent(net::HttpClient& http, const WebhookSettings& settings,
                                          const call::CallContext& call, std::string greeting);

// Cuts complete sentences off the front of `buffer` (text streamed so far): a sentence
// ends at . ! ? or a newline followed by whitespace (or at a newline). Returns them
// trimmed, non-empty; the unfinished rest stays in `buffer`.
std::vector<std::string> take_sentences(std::string& buffer);

}  // namespace vox::agent
