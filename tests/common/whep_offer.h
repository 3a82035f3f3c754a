// What the tests of WHEP endpoints share: an SDP offer made by a real webrtcbin, as a WHEP
// client makes it.
#pragma once

#include "webrtc/peer.h"

#include <gst/gst.h>
#include <gst/sdp/sdp.h>
#include <gst/webrtc/webrtc.h>

#include <string>

namespace camcast::test {

// An offer as a WHEP client makes it: a webrtcbin with one receive-only video transceiver for
// H.264 of `profile_level_id` (or, with `encoding` other than H264, that codec instead).
inline std::string make_offer(const char *profile_level_id, const char *encoding = "H264") {
  GstElement *client = gst_element_factory_make("webrtcbin", nullptr);
  camcast::forbid_upnp(client);
  gst_element_set_state(client, GST_STATE_READY);
  GstCaps *caps = gst_caps_new_simple(
      "application/x-rtp", "media", G_TYPE_STRING, "video", "encoding-name", G_TYPE_STRING,
      encoding, "payload", G_TYPE_INT, 102, "clock-rate", G_TYPE_INT, 90000, "packetization-mode",
      G_TYPE_STRING, "1", "profile-level-id", G_TYPE_STRING, profile_level_id, nullptr);
  GstWebRTCRTPTransceiver *transceiver = nullptr;
  g_signal_emit_by_name(client, "add-transceiver", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_RECVONLY,
                        caps, &transceiver);
  gst_caps_unref(caps);
  gst_object_unref(transceiver);
  GstPromise *promise = gst_promise_new();
  g_signal_emit_by_name(client, "create-offer", nullptr, promise);
  g_assert_cmpint(gst_promise_wait(promise), ==, GST_PROMISE_RESULT_REPLIED);
  GstWebRTCSessionDescription *offer = nullptr;
  gst_structure_get(gst_promise_get_reply(promise), "offer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION,
                    &offer, nullptr);
  gst_promise_unref(promise);
  g_assert_nonnull(offer);
  gchar *text = gst_sdp_message_as_text(offer->sdp);
  const std::string sdp = text;
  g_free(text);
  gst_webrtc_session_description_free(offer);
  gst_element_set_state(client, GST_STATE_NULL);
  gst_object_unref(client);
  return sdp;
}

}  // namespace camcast::test
