// A WHEP client of GStreamer's own, for the tests and benchmarks of WHEP endpoints.
#pragma once

#include "h264_wire.h"
#include "wait.h"
#include "ws_test_client.h"

#include "webrtc/peer.h"

#include <gst/gst.h>
#include <gst/sdp/sdp.h>
#include <gst/video/video.h>
#include <gst/webrtc/webrtc.h>

#include <atomic>
#include <chrono>
#include <string>

namespace camcast::test {

// A WHEP client of GStreamer's own: webrtcbin offering to receive H.264 (and Opus, if asked),
// connected to the sink over real ICE and DTLS, counting the RTP packets it gets.
// request_keyframe() sends what a decoder that lost a picture sends (a force-key-unit upstream,
// which its RTP session turns into RTCP PLI/FIR to the camera).
class Client {
public:
  ~Client() {
    if (pipeline_) {
      gst_element_set_state(pipeline_, GST_STATE_NULL);
      gst_object_unref(pipeline_);
    }
  }
  // Connects to the WHEP endpoint at `path` on loopback `port`; returns once RTP flows. With
  // `audio` the offer takes Opus too; `answer` gets the SDP answer; `headers` go with the offer.
  void connect(int port, const std::string &path, bool audio = false,
               std::string *answer_sdp = nullptr, const std::string &headers = "") {
    pipeline_ = gst_pipeline_new(nullptr);
    webrtc_ = gst_element_factory_make("webrtcbin", nullptr);
    gst_bin_add(GST_BIN(pipeline_), webrtc_);
    camcast::forbid_upnp(webrtc_);
    g_object_set(webrtc_, "bundle-policy", GST_WEBRTC_BUNDLE_POLICY_MAX_BUNDLE, nullptr);
    g_signal_connect(webrtc_, "pad-added", G_CALLBACK(on_pad), this);
    GstCaps *caps = gst_caps_from_string(
        "application/x-rtp,media=video,encoding-name=H264,payload=102,clock-rate=90000,"
        "packetization-mode=(string)1,profile-level-id=(string)42e01f");
    GstWebRTCRTPTransceiver *transceiver = nullptr;
    g_signal_emit_by_name(webrtc_, "add-transceiver", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_RECVONLY,
                          caps, &transceiver);
    gst_caps_unref(caps);
    if (lose_)  // it asks for what it lost (NACK), and takes resends (RTX)
      g_object_set(transceiver, "do-nack", TRUE, nullptr);
    gst_object_unref(transceiver);
    if (lose_) {
      GstElement *rtpbin = gst_bin_get_by_name(GST_BIN(webrtc_), "rtpbin");
      g_signal_connect(rtpbin, "pad-added", G_CALLBACK(on_rtpbin_pad), this);
      gst_object_unref(rtpbin);
    }
    if (audio) {
      caps = gst_caps_from_string(
          "application/x-rtp,media=audio,encoding-name=OPUS,payload=111,"
          "clock-rate=48000,encoding-params=(string)2");
      g_signal_emit_by_name(webrtc_, "add-transceiver",
                            GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_RECVONLY, caps, &transceiver);
      gst_caps_unref(caps);
      gst_object_unref(transceiver);
    }
    gst_element_set_state(pipeline_, GST_STATE_PLAYING);
    GstWebRTCSessionDescription *offer = nullptr;
    GstPromise *promise = gst_promise_new();
    g_signal_emit_by_name(webrtc_, "create-offer", nullptr, promise);
    g_assert_cmpint(gst_promise_wait(promise), ==, GST_PROMISE_RESULT_REPLIED);
    gst_structure_get(gst_promise_get_reply(promise), "offer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION,
                      &offer, nullptr);
    gst_promise_unref(promise);
    GstPromise *set_offer = gst_promise_new();  // (takes the reply: see webrtc/peer.cpp)
    g_signal_emit_by_name(webrtc_, "set-local-description", offer, set_offer);
    gst_promise_unref(set_offer);
    gst_webrtc_session_description_free(offer);
    g_assert_true(wait_for(
        [&] {
          GstWebRTCICEGatheringState state;
          g_object_get(webrtc_, "ice-gathering-state", &state, nullptr);
          return state == GST_WEBRTC_ICE_GATHERING_STATE_COMPLETE;
        },
        std::chrono::milliseconds(5000)));
    GstWebRTCSessionDescription *local = nullptr;
    g_object_get(webrtc_, "local-description", &local, nullptr);
    gchar *text = gst_sdp_message_as_text(local->sdp);
    gst_webrtc_session_description_free(local);
    std::string answer, head;
    g_assert_cmpint(
        http_request(port, "POST", path, text, "application/sdp", &answer, &head, headers, 10000),
        ==, 201);
    g_free(text);
    location_ = header_of(head, "Location");
    if (answer_sdp)
      *answer_sdp = answer;
    GstSDPMessage *sdp = nullptr;
    gst_sdp_message_new_from_text(answer.c_str(), &sdp);
    GstWebRTCSessionDescription *remote =
        gst_webrtc_session_description_new(GST_WEBRTC_SDP_TYPE_ANSWER, sdp);
    GstPromise *set_remote = gst_promise_new();  // (takes the reply: see webrtc/peer.cpp)
    g_signal_emit_by_name(webrtc_, "set-remote-description", remote, set_remote);
    gst_promise_unref(set_remote);
    gst_webrtc_session_description_free(remote);
    g_assert_true(wait_for([&] { return packets_ > 0; }, std::chrono::milliseconds(10000)));
  }
  // Before connect(): the picture is depayloaded and parsed, so width() says its size (the
  // rung of a ladder it gets); packets() then counts pictures, and first_idr() says whether the
  // first access unit as sent (before the parser) held an IDR (-1: none came yet).
  void watch_size() { sizes_ = true; }
  int width() const { return width_.load(); }
  int first_idr() const { return first_idr_.load(); }
  int packets() const { return packets_.load(); }
  // Before connect(): the client loses one in `n` of the picture's packets as they arrive (as a
  // bad link would; its NACKs ask for them again) and counts the bytes of first sends and of
  // resends that reached it.
  void lose_one_in(int n) { lose_ = n; }
  uint64_t sent_bytes() const { return sent_bytes_.load(); }
  uint64_t resent_bytes() const { return resent_bytes_.load(); }
  int audio_packets() const { return audio_packets_.load(); }
  const std::string &location() const { return location_; }
  void request_keyframe() {
    GstPad *in = gst_element_get_static_pad(sink_, "sink");
    gst_pad_push_event(in,
                       gst_video_event_new_upstream_force_key_unit(GST_CLOCK_TIME_NONE, TRUE, 0));
    gst_object_unref(in);
  }

private:
  static void on_pad(GstElement *, GstPad *pad, gpointer data) {
    auto *self = static_cast<Client *>(data);
    if (GST_PAD_DIRECTION(pad) != GST_PAD_SRC)
      return;
    GstCaps *caps = gst_pad_get_current_caps(pad);
    const char *media =
        caps ? gst_structure_get_string(gst_caps_get_structure(caps, 0), "media") : nullptr;
    const bool audio = g_strcmp0(media, "audio") == 0;
    gst_clear_caps(&caps);
    GstElement *sink = gst_element_factory_make("fakesink", nullptr);
    g_object_set(sink, "sync", FALSE, nullptr);
    gst_bin_add(GST_BIN(self->pipeline_), sink);
    if (!audio)
      self->sink_ = sink;
    GstPad *in = gst_element_get_static_pad(sink, "sink");
    if (!audio && self->sizes_) {
      GstElement *depay = gst_element_factory_make("rtph264depay", nullptr);
      GstElement *parse = gst_element_factory_make("h264parse", nullptr);
      gst_bin_add_many(GST_BIN(self->pipeline_), depay, parse, nullptr);
      // Byte-stream out of the depayloader: AVC would hold back all before the first SPS and
      // PPS (its codec_data needs them), hiding units sent before a keyframe.
      GstCaps *annexb = gst_caps_from_string("video/x-h264,stream-format=byte-stream,alignment=au");
      gst_element_link_filtered(depay, parse, annexb);
      gst_caps_unref(annexb);
      gst_element_link(parse, sink);
      gst_element_sync_state_with_parent(parse);
      gst_element_sync_state_with_parent(depay);
      GstPad *depay_in = gst_element_get_static_pad(depay, "sink");
      gst_pad_link(pad, depay_in);
      gst_object_unref(depay_in);
      GstPad *depayloaded = gst_element_get_static_pad(depay, "src");
      watch_first_access_unit(depayloaded, &self->first_idr_);
      gst_object_unref(depayloaded);
      gst_pad_add_probe(
          in, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
          [](GstPad *, GstPadProbeInfo *info, gpointer w) {
            GstEvent *event = GST_PAD_PROBE_INFO_EVENT(info);
            GstCaps *caps = nullptr;
            int width = 0;
            if (GST_EVENT_TYPE(event) == GST_EVENT_CAPS) {
              gst_event_parse_caps(event, &caps);
              if (gst_structure_get_int(gst_caps_get_structure(caps, 0), "width", &width))
                static_cast<std::atomic<int> *>(w)->store(width);
            }
            return GST_PAD_PROBE_OK;
          },
          &self->width_, nullptr);
    } else {
      gst_pad_link(pad, in);
    }
    gst_element_sync_state_with_parent(sink);
    gst_pad_add_probe(
        in, GST_PAD_PROBE_TYPE_BUFFER,
        [](GstPad *, GstPadProbeInfo *, gpointer n) {
          ++*static_cast<std::atomic<int> *>(n);
          return GST_PAD_PROBE_OK;
        },
        audio ? &self->audio_packets_ : &self->packets_, nullptr);
    gst_object_unref(in);
  }

  static void on_rtpbin_pad(GstElement *, GstPad *pad, gpointer data) {
    if (!g_str_has_prefix(GST_PAD_NAME(pad), "recv_rtp_sink_"))
      return;
    gst_pad_add_probe(
        pad, GST_PAD_PROBE_TYPE_BUFFER,
        [](GstPad *, GstPadProbeInfo *info, gpointer data) {
          auto *self = static_cast<Client *>(data);
          GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER(info);
          guint8 head[2];
          if (gst_buffer_extract(buffer, 0, head, 2) != 2)
            return GST_PAD_PROBE_OK;
          const gsize size = gst_buffer_get_size(buffer);
          if ((head[1] & 0x7f) != 102) {  // not the picture's payload type: a resend
            self->resent_bytes_ += size;
            return GST_PAD_PROBE_OK;
          }
          self->sent_bytes_ += size;
          return ++self->arrived_ % self->lose_ == 0 ? GST_PAD_PROBE_DROP : GST_PAD_PROBE_OK;
        },
        data, nullptr);
  }

  GstElement *pipeline_ = nullptr;
  GstElement *webrtc_ = nullptr;
  GstElement *sink_ = nullptr;
  std::atomic<int> packets_{0}, audio_packets_{0}, width_{0};
  std::atomic<int> first_idr_{-1};
  int lose_ = 0;
  std::atomic<uint64_t> arrived_{0}, sent_bytes_{0}, resent_bytes_{0};
  bool sizes_ = false;
  std::string location_;
};

}  // namespace camcast::test
