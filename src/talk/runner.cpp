#include "talk/runner.hpp"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <map>

#include "net/client.hpp"
#include "net/http_types.hpp"
#include "twilio/rest_client.hpp"

namespace vox::talk {
namespace asio = boost::asio;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

namespace {

std::string seconds_param(std::chrono::milliseconds ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", static_cast<double>(ms.count()) / 1000.0);
  return buf;
}

std::string secs(std::chrono::milliseconds ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ms.count()) / 1000.0);
  return buf;
}

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

TurnAnswer parse_answer(const net::HttpResponse& res) {
  TurnAnswer a;
  if (res.status == 204) {
    a.kind = TurnAnswer::Kind::silence;
    return a;
  }
  boost::system::error_code ec;
  auto v = json::parse(res.body, ec);
  const json::object* o = (!ec && v.is_object()) ? &v.as_object() : nullptr;
  if (res.status != 200 || !o) {
    a.kind = TurnAnswer::Kind::failed;
    std::string detail = res.body.substr(0, 300);
    if (o)
      if (const auto* d = o->if_contains("detail"); d && d->is_string()) detail = std::string(d->as_string());
    a.detail = "/generate answered " + std::to_string(res.status) + ": " + detail;
    return a;
  }
  auto str = [o](const char* k) -> std::string {
    const auto* f = o->if_contains(k);
    return f && f->is_string() ? std::string(f->as_string()) : std::string();
  };
  if (const auto* e = o->if_contains("ended"); e && e->is_bool() && e->as_bool()) {
    a.kind = TurnAnswer::Kind::ended;
    a.reason = str("reason");
    a.detail = str("response");
  } else {
    a.kind = TurnAnswer::Kind::reply;
    a.text = str("response");
    if (const auto* l = o->if_contains("latency_ms"); l && l->is_number()) a.latency_ms = l->to_number<double>();
  }
  if (const auto* s = o->if_contains("skipped"); s && s->is_array())
    for (const auto& x : s->as_array())
      if (x.is_string()) a.skipped.emplace_back(x.as_string());
  return a;
}

}  // namespace

ScenarioRunner::ScenarioRunner(net::HttpClient& http, twilio::RestClient& twilio, TalkTarget target, Progress& progress)
    : http_(http), twilio_(twilio), target_(std::move(target)), progress_(progress) {
  while (!target_.server_url.empty() && target_.server_url.back() == '/') target_.server_url.pop_back();
}

asio::awaitable<TurnAnswer> ScenarioRunner::generate(std::string sid, bool first, std::string input,
                                                     std::chrono::milliseconds timeout,
                                                     std::optional<double> talk_timeout_s) {
  std::string url = target_.server_url + "/generate?client=" + net::url_encode(target_.client) + "&sid=" + net::url_encode(sid) +
                    "&first=" + (first ? "true" : "false") + "&timeout=" + seconds_param(timeout);
  if (!input.empty()) url += "&input=" + net::url_encode(input);
  if (talk_timeout_s) url += "&talk_timeout=" + seconds_param(std::chrono::milliseconds(static_cast<std::int64_t>(*talk_timeout_s * 1000)));
  net::ClientRequest req;
  req.method = "GET";
  req.url = url;
  req.headers = {{"X-API-KEY", target_.api_key}, {"Accept", "application/json"}};
  // The server holds the request while our words play and then up to `timeout`.
  const auto slack = input.empty() ? std::chrono::milliseconds(15000) : std::chrono::milliseconds(180000);
  req.read_timeout = timeout + slack;
  std::optional<net::HttpResponse> res;
  std::string failure;
  try {
    res = co_await http_.send(std::move(req));
  } catch (const std::exception& e) {
    failure = e.what();
  }
  if (!res) {
    TurnAnswer a;
    a.kind = TurnAnswer::Kind::failed;
    a.detail = "the voxbridge server at " + target_.server_url + " did not answer /generate: " + failure;
    co_return a;
  }
  co_return parse_answer(*res);
}

asio::awaitable<void> ScenarioRunner::complete(std::string sid) {
  {
    std::lock_guard lock(mu_);
    if (!live_.erase(sid)) co_return;
  }
  std::string failure;
  try {
    co_await twilio_.complete_call(sid);
  } catch (const std::exception& e) {
    failure = e.what();
  }
  if (!failure.empty()) spdlog::warn("could not complete call {} at Twilio: {}", sid, failure);
  else spdlog::debug("call {} completed at Twilio", sid);
}

asio::awaitable<void> ScenarioRunner::interrupt() {
  interrupted_ = true;
  std::vector<std::string> sids;
  {
    std::lock_guard lock(mu_);
    sids.assign(live_.begin(), live_.end());
  }
  for (const auto& sid : sids) {
    std::string s = sid;
    co_await complete(std::move(s));
  }
}

asio::awaitable<std::optional<json::value>> ScenarioRunner::agent_get(std::string path, std::string* failure) {
  net::ClientRequest req;
  req.method = "GET";
  req.url = target_.agent_api + "/api/v1/elevenlabs-twilio" + path;
  req.headers = {{"X-API-KEY", target_.agent_api_key}, {"Accept", "application/json"}};
  req.read_timeout = std::chrono::seconds(15);
  try {
    auto res = co_await http_.send(std::move(req));
    boost::system::error_code ec;
    auto v = json::parse(res.body, ec);
    if (res.status == 200 && !ec) co_return v;
    *failure = "the agent's API (--agent-api " + target_.agent_api + ") answered " + std::to_string(res.status) +
               (res.status == 401 || res.status == 403 ? ": check --agent-api-key (AGENT_API_KEY)" : "");
  } catch (const std::exception& e) {
    *failure = "the agent's API (--agent-api " + target_.agent_api + ") did not answer: " + e.what();
  }
  co_return std::nullopt;
}

asio::awaitable<void> ScenarioRunner::check_tools(const Scenario* sp, std::string from, std::string to,
                                                  ScenarioResult* rp) {
  const Scenario& s = *sp;
  ScenarioResult& r = *rp;
  bool wanted = false;
  for (const auto& t : s.turns) wanted = wanted || !t.expect.tools.empty();
  if (!wanted) co_return;
  // The agent's turn n answers the n-th scenario turn that said something.
  std::map<int, std::vector<std::string>> called;  // agent turn -> tools
  std::string failure;
  if (target_.agent_api.empty()) {
    failure = "`tools` expectations need --agent-api (the control API of the voxbridge running the agent)";
  } else {
    // The agent's side of this call: its newest inbound call between the same numbers
    // (give scenarios that run at once and expect tools their own `from`).
    std::string agent_sid;
    auto calls = co_await agent_get("/calls?direction=inbound&limit=100", &failure);
    if (calls && calls->is_object()) {
      if (const auto* list = calls->as_object().if_contains("calls"); list && list->is_array())
        for (const auto& c : list->as_array()) {
          const auto* o = c.if_object();
          if (!o || !o->contains("from_") || !o->contains("to") || !o->contains("call_sid")) continue;
          if (o->at("from_") == json::value(from) && o->at("to") == json::value(to)) {
            agent_sid = std::string(o->at("call_sid").as_string());
            break;
          }
        }
      if (agent_sid.empty()) failure = "the agent's API has no inbound call from " + from + " to " + to;
    }
    std::optional<json::value> events;
    if (!agent_sid.empty()) events = co_await agent_get("/calls/" + net::url_encode(agent_sid) + "/events", &failure);
    if (events && events->is_object()) {
      if (const auto* list = events->as_object().if_contains("events"); list && list->is_array())
        for (const auto& e : list->as_array()) {
          const auto* o = e.if_object();
          if (!o || o->if_contains("kind") == nullptr || o->at("kind") != json::value("tool_call")) continue;
          const auto* d = o->if_contains("detail");
          if (!d || !d->is_string()) continue;
          // "turn=<n> <tool> <arguments> -> <result>"
          const std::string detail(d->as_string());
          int turn = 0;
          char name[128] = {};
          if (std::sscanf(detail.c_str(), "turn=%d %127s", &turn, name) == 2) called[turn].emplace_back(name);
        }
    }
  }
  int agent_turn = 0;
  for (auto& t : r.turns) {
    if (t.index == 0) continue;
    const ScenarioTurn& turn = s.turns[static_cast<std::size_t>(t.index - 1)];
    if (!turn.say.empty()) ++agent_turn;
    if (turn.expect.tools.empty()) continue;
    if (!failure.empty()) {
      t.failures.push_back(failure);
    } else {
      t.tools = called[agent_turn];
      for (const auto& want : turn.expect.tools)
        if (std::find(t.tools.begin(), t.tools.end(), want) == t.tools.end()) {
          std::string got;
          for (const auto& c : t.tools) got += (got.empty() ? "" : ", ") + c;
          t.failures.push_back("the agent did not call the tool '" + want + "' (called: " + (got.empty() ? "none" : got) + ")");
        }
    }
    if (!t.failures.empty() && r.reason.empty())
      r.reason = "turn " + std::to_string(t.index) + ": " + t.failures.back();
  }
}

asio::awaitable<ScenarioResult> ScenarioRunner::run(const Scenario* sp) {
  const Scenario& s = *sp;
  ScenarioResult r;
  r.name = s.name;
  r.file = s.file;
  r.persona = s.persona;
  const auto started = Clock::now();
  const auto deadline = started + s.call_timeout;
  auto finish = [&](std::string reason) {
    if (r.reason.empty()) r.reason = std::move(reason);
  };

  twilio::CreateCall create;
  create.to = s.to;
  if (create.to.empty()) create.to = target_.to;
  create.from = s.from;
  if (create.from.empty()) create.from = target_.from;
  create.url = target_.voice_url;
  create.status_callback = target_.status_callback;
  if (create.to.empty()) finish("no number to call: give --to or `to:` in the scenario");
  else if (create.from.empty()) finish("no caller id: give --from, TWILIO_PHONE_NUMBER or `from:` in the scenario");
  else if (interrupted_) finish("interrupted before the call was placed");
  if (r.reason.empty()) {
    std::string failure;
    try {
      twilio::Call call = co_await twilio_.create_call(create);
      r.call_sid = call.sid;
    } catch (const std::exception& e) {
      failure = e.what();
    }
    if (!failure.empty()) finish("could not place the call through Twilio: " + failure);
  }
  if (!r.call_sid.empty()) {
    {
      std::lock_guard lock(mu_);
      live_.insert(r.call_sid);
    }
    progress_.started(s, r.call_sid);
    std::optional<double> talk_timeout = s.talk_timeout_s;
    // Turn 0 is the other side speaking first; then the scenario's turns.
    const int first_turn = s.wait_for_greeting ? 0 : 1;
    for (int i = first_turn; i <= static_cast<int>(s.turns.size()); ++i) {
      if (interrupted_) {
        finish("interrupted (SIGINT/SIGTERM): the call was completed at Twilio");
        break;
      }
      const ScenarioTurn* turn = i == 0 ? nullptr : &s.turns[static_cast<std::size_t>(i - 1)];
      std::chrono::milliseconds timeout = s.turn_timeout;
      if (!turn) timeout = s.greeting_timeout.value_or(std::max(s.turn_timeout, std::chrono::milliseconds(30000)));
      else if (turn->timeout) timeout = *turn->timeout;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) {
        finish("the scenario's timeout_s (" + secs(s.call_timeout) + ") passed");
        break;
      }
      timeout = std::min(timeout, left);
      TurnResult t;
      t.index = i;
      if (turn) t.said = turn->say;
      const auto turn_started = Clock::now();
      std::string sid = r.call_sid;
      std::string input = t.said;
      // The first request may reach the server before the call does: first=true (or
      // input) lets it wait for the call to arrive.
      const bool first = i == 0 || (i == first_turn && input.empty());
      TurnAnswer a = co_await generate(std::move(sid), first, std::move(input), timeout, talk_timeout);
      talk_timeout.reset();  // sent once
      t.duration_ms = ms_since(turn_started);
      t.skipped = a.skipped;
      std::string what = "the greeting";
      if (i > 0) what = "turn " + std::to_string(i);
      switch (a.kind) {
        case TurnAnswer::Kind::reply: {
          t.heard = a.text;
          t.latency_ms = a.latency_ms;
          const Expectation& e = turn ? turn->expect : s.greeting;
          t.failures = check(e, a.text, a.latency_ms);
          if (!t.failures.empty() && r.reason.empty()) r.reason = what + ": " + t.failures.front() + " (heard \"" + a.text + "\")";
          break;
        }
        case TurnAnswer::Kind::silence:
          t.failures.push_back("nothing was said within " + secs(timeout));
          finish(what + ": the other side said nothing within " + secs(timeout));
          break;
        case TurnAnswer::Kind::ended:
          r.ended = "call ended (" + a.reason + "): " + a.detail;
          t.failures.push_back("the call ended (" + a.reason + ") before a reply");
          if (interrupted_) finish(what + ": interrupted (SIGINT/SIGTERM)");
          else finish(what + ": " + r.ended);
          break;
        case TurnAnswer::Kind::failed:
          t.failures.push_back(a.detail);
          finish(what + ": " + a.detail);
          break;
      }
      // An expectation that fails does not stop the conversation (the report shows all);
      // silence, an ended call or a failed request does.
      progress_.turn(s, t);
      const bool stop = a.kind != TurnAnswer::Kind::reply;
      r.turns.push_back(std::move(t));
      if (stop) break;
    }
    std::string sid = r.call_sid;
    co_await complete(std::move(sid));
    co_await check_tools(&s, create.from, create.to, &r);
  }
  r.duration_s = ms_since(started) / 1000.0;
  r.passed = r.reason.empty();
  progress_.finished(r);
  co_return r;
}

}  // namespace vox::talk
