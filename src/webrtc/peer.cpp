#include "webrtc/peer.hpp"

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#define GST_USE_UNSTABLE_API
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <gst/sdp/sdp.h>
#include <gst/webrtc/webrtc.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <vector>

namespace vox::webrtc {

namespace {

void init_gstreamer() {
  static std::once_flag once;
  std::call_once(once, [] { gst_init(nullptr, nullptr); });
}

// The Opus payload type the offer uses for audio (Chrome: 111), or -1.
int opus_payload_type(const GstSDPMessage* sdp) {
  for (guint m = 0; m < gst_sdp_message_medias_len(sdp); ++m) {
    const GstSDPMedia* media = gst_sdp_message_get_media(sdp, m);
    if (std::strcmp(gst_sdp_media_get_media(media), "audio") != 0) continue;
    for (guint a = 0; a < gst_sdp_media_attributes_len(media); ++a) {
      const GstSDPAttribute* attr = gst_sdp_media_get_attribute(media, a);
      if (!attr->key || !attr->value || std::strcmp(attr->key, "rtpmap") != 0) continue;
      int pt = -1;
      char codec[32] = {};
      if (std::sscanf(attr->value, "%d %31[^/]", &pt, codec) == 2 && g_ascii_strcasecmp(codec, "opus") == 0) return pt;
    }
  }
  return -1;
}

}  // namespace

std::string webrtc_unavailable() {
  init_gstreamer();
  static const std::string why = [] {
    for (const char* e : {"webrtcbin", "nicesrc", "dtlssrtpenc", "srtpenc", "opusenc", "opusdec", "rtpopuspay",
                          "rtpopusdepay", "appsrc", "appsink", "audioconvert", "audioresample"}) {
      GstElementFactory* f = gst_element_factory_find(e);
      if (!f)
        return std::string("the GStreamer element ") + e +
               " is missing: install gstreamer1.0-plugins-base, -good, -bad and gstreamer1.0-nice";
      gst_object_unref(f);
    }
    return std::string();
  }();
  return why;
}

void warm_up() {
  static std::once_flag once;  // each browser call asks; the plugins load once
  std::call_once(once, [] {
    if (!webrtc_unavailable().empty()) return;
    for (const char* e : {"webrtcbin", "opusenc", "opusdec", "rtpopuspay", "rtpopusdepay", "appsrc", "appsink",
                          "audioconvert", "audioresample", "nicesrc", "nicesink", "dtlssrtpenc", "dtlssrtpdec"}) {
      if (GstElement* el = gst_element_factory_make(e, nullptr)) gst_object_unref(gst_object_ref_sink(el));
    }
  });
}

struct Peer::Impl {
  boost::asio::any_io_executor ex;
  PeerSettings settings;
  PeerCallbacks cb;
  // Set once by offer() (the owner's thread), read by GStreamer's threads in callbacks,
  // cleared by teardown; the elements live until teardown has stopped the pipeline.
  std::atomic<GstElement*> pipe{nullptr};
  std::atomic<GstElement*> webrtc{nullptr};
  std::atomic<GstElement*> src{nullptr};
  std::atomic<GstElement*> sink{nullptr};  // set when the browser's track arrives (a GStreamer thread)
  std::atomic<bool> stopped{false};
  std::atomic<bool> reported_failure{false};
  std::vector<std::int16_t> rest;  // samples pulled but not yet taken
  std::size_t rest_at = 0;

  // Runs `fn(impl)` on the owner's executor, unless the peer stopped meanwhile.
  template <typename F>
  static void post(const std::weak_ptr<Impl>& weak, F fn) {
    auto self = weak.lock();
    if (!self || self->stopped) return;
    boost::asio::post(self->ex, [weak, fn = std::move(fn)]() mutable {
      auto s = weak.lock();
      if (s && !s->stopped) fn(*s);
    });
  }

  void fail(const std::weak_ptr<Impl>& weak, std::string why) {
    if (reported_failure.exchange(true)) return;
    post(weak, [why = std::move(why)](Impl& s) {
      if (s.cb.failed) s.cb.failed(why);
    });
  }

  ~Impl() { teardown(); }

  void teardown() {
    GstElement* p = pipe.exchange(nullptr);
    webrtc = nullptr;
    src = nullptr;
    GstElement* s = sink.exchange(nullptr);
    if (!p) return;
    auto job = [p, s] {
      gst_element_set_state(p, GST_STATE_NULL);  // joins the pipeline's threads
      if (s) gst_object_unref(s);
      gst_object_unref(p);
    };
    if (settings.run_blocking) settings.run_blocking(std::move(job));
    else job();
  }
};

namespace {

using Weak = std::weak_ptr<Peer::Impl>;

// Signal and promise user data: a weak reference to the peer, deleted with the handler.
gpointer weak_data(const std::shared_ptr<Peer::Impl>& impl) { return new Weak(impl); }
void delete_weak(gpointer data, GClosure*) { delete static_cast<Weak*>(data); }
void delete_weak_notify(gpointer data) { delete static_cast<Weak*>(data); }

void on_ice_candidate(GstElement*, guint mline, gchar* candidate, gpointer data) {
  const Weak& weak = *static_cast<Weak*>(data);
  Peer::Impl::post(weak, [c = std::string(candidate ? candidate : ""), mline](Peer::Impl& s) {
    if (s.cb.candidate) s.cb.candidate(c, static_cast<int>(mline));
  });
}

void on_connection_state(GstElement* webrtc, GParamSpec*, gpointer data) {
  const Weak& weak = *static_cast<Weak*>(data);
  GstWebRTCPeerConnectionState state = GST_WEBRTC_PEER_CONNECTION_STATE_NEW;
  g_object_get(webrtc, "connection-state", &state, nullptr);
  auto impl = weak.lock();
  if (!impl) return;
  if (state == GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED) {
    Peer::Impl::post(weak, [](Peer::Impl& s) {
      if (s.cb.connected) s.cb.connected();
    });
  } else if (state == GST_WEBRTC_PEER_CONNECTION_STATE_FAILED) {
    impl->fail(weak, "the WebRTC connection failed (ICE or DTLS)");
  } else if (state == GST_WEBRTC_PEER_CONNECTION_STATE_CLOSED) {
    impl->fail(weak, "the WebRTC connection closed");
  }
}

// The browser's audio track: RTP -> Opus -> PCM16 8 kHz into an appsink pulled by the owner.
void on_pad_added(GstElement*, GstPad* pad, gpointer data) {
  if (GST_PAD_DIRECTION(pad) != GST_PAD_SRC) return;
  auto impl = static_cast<Weak*>(data)->lock();
  GstElement* pipe = impl ? impl->pipe.load() : nullptr;
  if (!impl || impl->stopped || !pipe) return;
  GError* err = nullptr;
  GstElement* bin = gst_parse_bin_from_description(
      "rtpopusdepay ! opusdec plc=true ! audioconvert ! "
      "audio/x-raw,format=S16LE,rate=8000,channels=1,layout=interleaved ! "
      "appsink name=sink sync=false max-buffers=100 drop=true emit-signals=false",
      TRUE, &err);
  if (!bin) {
    impl->fail(*static_cast<Weak*>(data), std::string("cannot build the receive chain: ") + (err ? err->message : "?"));
    if (err) g_error_free(err);
    return;
  }
  if (err) g_error_free(err);  // a warning
  gst_bin_add(GST_BIN(pipe), bin);
  gst_element_sync_state_with_parent(bin);
  GstPad* sinkpad = gst_element_get_static_pad(bin, "sink");
  if (gst_pad_link(pad, sinkpad) != GST_PAD_LINK_OK)
    impl->fail(*static_cast<Weak*>(data), "cannot link the browser's audio track");
  gst_object_unref(sinkpad);
  GstElement* old = impl->sink.exchange(gst_bin_get_by_name(GST_BIN(bin), "sink"));
  if (old) gst_object_unref(old);
  // Torn down meanwhile: teardown has taken the sink it saw; release this one.
  if (impl->stopped)
    if (GstElement* late = impl->sink.exchange(nullptr)) gst_object_unref(late);
}

void on_answer_created(GstPromise* promise, gpointer data) {
  // `data` lives as long as the promise: copy the reference out before letting it go.
  const Weak weak = *static_cast<Weak*>(data);
  auto impl = weak.lock();
  const GstStructure* reply = gst_promise_get_reply(promise);
  GstWebRTCSessionDescription* answer = nullptr;
  if (reply) gst_structure_get(reply, "answer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &answer, nullptr);
  gst_promise_unref(promise);
  if (!impl || impl->stopped) {
    if (answer) gst_webrtc_session_description_free(answer);
    return;
  }
  if (!answer) return impl->fail(weak, "webrtcbin could not answer the offer");
  GstElement* webrtc = impl->webrtc.load();
  if (!webrtc) {
    gst_webrtc_session_description_free(answer);
    return;
  }
  g_signal_emit_by_name(webrtc, "set-local-description", answer, nullptr);
  gchar* text = gst_sdp_message_as_text(answer->sdp);
  std::string sdp(text ? text : "");
  g_free(text);
  gst_webrtc_session_description_free(answer);
  Peer::Impl::post(weak, [sdp = std::move(sdp)](Peer::Impl& s) {
    if (s.cb.answer) s.cb.answer(sdp);
  });
}

void on_remote_set(GstPromise* promise, gpointer data) {
  auto impl = static_cast<Weak*>(data)->lock();  // before the promise (which owns `data`) goes
  gst_promise_unref(promise);
  GstElement* webrtc = impl ? impl->webrtc.load() : nullptr;
  if (!impl || impl->stopped || !webrtc) return;
  GstPromise* answer = gst_promise_new_with_change_func(on_answer_created, weak_data(impl), delete_weak_notify);
  g_signal_emit_by_name(webrtc, "create-answer", nullptr, answer);
}

GstBusSyncReply on_bus(GstBus*, GstMessage* msg, gpointer data) {
  if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
    GError* err = nullptr;
    gchar* debug = nullptr;
    gst_message_parse_error(msg, &err, &debug);
    const std::string what = err ? err->message : "unknown error";
    spdlog::warn("webrtc: GStreamer error from {}: {} ({})", GST_OBJECT_NAME(msg->src), what, debug ? debug : "");
    if (auto impl = static_cast<Weak*>(data)->lock()) impl->fail(*static_cast<Weak*>(data), "media error: " + what);
    if (err) g_error_free(err);
    g_free(debug);
  }
  return GST_BUS_DROP;
}

}  // namespace

std::shared_ptr<Peer> Peer::create(boost::asio::any_io_executor executor, PeerSettings settings, PeerCallbacks callbacks) {
  init_gstreamer();
  std::shared_ptr<Peer> peer(new Peer());
  peer->impl_ = std::make_shared<Impl>();
  peer->impl_->ex = std::move(executor);
  peer->impl_->settings = std::move(settings);
  peer->impl_->cb = std::move(callbacks);
  return peer;
}

Peer::~Peer() { stop(); }

void Peer::offer(const std::string& text) {
  auto& s = *impl_;
  if (s.pipe) throw std::invalid_argument("an offer was already answered on this call");
  GstSDPMessage* sdp = nullptr;
  if (text.rfind("v=0", 0) != 0) throw std::invalid_argument("the offer is not valid SDP (it must begin with v=0)");
  if (gst_sdp_message_new_from_text(text.c_str(), &sdp) != GST_SDP_OK || !sdp)
    throw std::invalid_argument("the offer is not valid SDP");
  const int pt = opus_payload_type(sdp);
  if (pt < 0 || pt > 127) {
    gst_sdp_message_free(sdp);
    throw std::invalid_argument("the offer has no Opus audio");
  }
  const std::string description =
      "webrtcbin name=webrtc bundle-policy=max-bundle latency=50 "
      "appsrc name=src is-live=true format=time do-timestamp=true "
      "caps=audio/x-raw,format=S16LE,rate=8000,channels=1,layout=interleaved ! "
      "opusenc bitrate=" + std::to_string(s.settings.opus_bitrate) + " frame-size=20 ! "
      "rtpopuspay pt=" + std::to_string(pt) + " ! queue ! "
      "application/x-rtp,media=audio,encoding-name=OPUS,clock-rate=48000,payload=" + std::to_string(pt) + " ! webrtc.";
  GError* err = nullptr;
  GstElement* pipe = gst_parse_launch(description.c_str(), &err);
  if (!pipe) {
    std::string why = err ? err->message : "unknown error";
    if (err) g_error_free(err);
    gst_sdp_message_free(sdp);
    throw std::runtime_error("cannot build the WebRTC pipeline: " + why);
  }
  if (err) g_error_free(err);  // a warning (a missing optional property)
  GstElement* webrtc = gst_bin_get_by_name(GST_BIN(pipe), "webrtc");
  GstElement* src = gst_bin_get_by_name(GST_BIN(pipe), "src");
  gst_object_unref(webrtc);  // the pipeline holds them
  gst_object_unref(src);
  s.pipe = pipe;
  s.webrtc = webrtc;
  s.src = src;
  GstBus* bus = gst_element_get_bus(pipe);
  gst_bus_set_sync_handler(bus, on_bus, weak_data(impl_), delete_weak_notify);
  gst_object_unref(bus);
  g_signal_connect_data(webrtc, "on-ice-candidate", G_CALLBACK(on_ice_candidate), weak_data(impl_), delete_weak,
                        GConnectFlags(0));
  g_signal_connect_data(webrtc, "pad-added", G_CALLBACK(on_pad_added), weak_data(impl_), delete_weak,
                        GConnectFlags(0));
  g_signal_connect_data(webrtc, "notify::connection-state", G_CALLBACK(on_connection_state), weak_data(impl_),
                        delete_weak, GConnectFlags(0));
  if (gst_element_set_state(pipe, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    gst_sdp_message_free(sdp);
    throw std::runtime_error("the WebRTC pipeline would not start");
  }
  GstWebRTCSessionDescription* offer = gst_webrtc_session_description_new(GST_WEBRTC_SDP_TYPE_OFFER, sdp);
  GstPromise* promise = gst_promise_new_with_change_func(on_remote_set, weak_data(impl_), delete_weak_notify);
  g_signal_emit_by_name(webrtc, "set-remote-description", offer, promise);
  gst_webrtc_session_description_free(offer);  // frees the SDP too
}

void Peer::add_candidate(const std::string& candidate, int mline_index) {
  auto& s = *impl_;
  GstElement* webrtc = s.webrtc.load();
  if (!webrtc || s.stopped || candidate.empty()) return;
  g_signal_emit_by_name(webrtc, "add-ice-candidate", static_cast<guint>(std::max(0, mline_index)), candidate.c_str());
}

void Peer::push_frame(std::span<const std::int16_t> pcm) {
  auto& s = *impl_;
  GstElement* src = s.src.load();
  if (!src || s.stopped || pcm.empty()) return;
  GstBuffer* buf = gst_buffer_new_allocate(nullptr, pcm.size_bytes(), nullptr);
  gst_buffer_fill(buf, 0, pcm.data(), pcm.size_bytes());
  GST_BUFFER_DURATION(buf) = gst_util_uint64_scale(pcm.size(), GST_SECOND, 8000);
  gst_app_src_push_buffer(GST_APP_SRC(src), buf);  // takes the buffer
}

std::size_t Peer::pull(std::span<std::int16_t> out) {
  auto& s = *impl_;
  std::size_t n = 0;
  while (n < out.size()) {
    if (s.rest_at < s.rest.size()) {
      const std::size_t take = std::min(out.size() - n, s.rest.size() - s.rest_at);
      std::memcpy(out.data() + n, s.rest.data() + s.rest_at, take * sizeof(std::int16_t));
      n += take;
      s.rest_at += take;
      continue;
    }
    GstElement* sink = s.sink.load();
    if (!sink || s.stopped) break;
    GstSample* sample = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 0);
    if (!sample) break;
    GstBuffer* buf = gst_sample_get_buffer(sample);
    GstMapInfo map;
    if (buf && gst_buffer_map(buf, &map, GST_MAP_READ)) {
      s.rest.resize(map.size / sizeof(std::int16_t));
      std::memcpy(s.rest.data(), map.data, s.rest.size() * sizeof(std::int16_t));
      s.rest_at = 0;
      gst_buffer_unmap(buf, &map);
    }
    gst_sample_unref(sample);
  }
  return n;
}

void Peer::stop() {
  if (!impl_ || impl_->stopped.exchange(true)) return;
  if (GstElement* src = impl_->src.load()) gst_app_src_end_of_stream(GST_APP_SRC(src));
  impl_->teardown();
}

}  // namespace vox::webrtc
