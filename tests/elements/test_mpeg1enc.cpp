// mpeg1enc: one whole picture per buffer with no delay, a sequence header on every GOP, no
// B-pictures, keyframes on request, the bitrate it is asked for at MPEG-1's rates and others (a
// 15 frames/s camera), and clear errors for what MPEG-1 cannot carry.
#include "element_error.h"
#include "formats/mpeg1.h"
#include "mpeg_decode.h"

#include <gst/app/gstappsink.h>
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include <cstring>

using namespace camcast;

namespace {

const char *kCaps = "video/x-raw,format=I420,width=320,height=240,framerate=30/1";

void push_frame(GstHarness *h, int i) {
  GstBuffer *b = gst_harness_create_buffer(h, 320 * 240 * 3 / 2);
  // A still grey picture with a short line moving along the top: no scene cuts, so the
  // encoder's own I-pictures fall exactly where key-int-max puts them.
  gst_buffer_memset(b, 0, 100, gst_buffer_get_size(b));
  gst_buffer_memset(b, size_t(i % 300), 200, 16);
  GST_BUFFER_PTS(b) = i * GST_SECOND / 30;
  GST_BUFFER_DURATION(b) = GST_SECOND / 30;
  g_assert_cmpint(gst_harness_push(h, b), ==, GST_FLOW_OK);
}

// The one picture a buffer must hold.
mpeg1::PictureStart only_picture(GstBuffer *b) {
  GstMapInfo map;
  g_assert_true(gst_buffer_map(b, &map, GST_MAP_READ));
  const auto pictures = mpeg1::find_pictures(map.data, map.size);
  gst_buffer_unmap(b, &map);
  g_assert_cmpuint(pictures.size(), ==, 1);
  g_assert_cmpuint(pictures[0].offset, ==, 0);
  return pictures[0];
}

void test_pictures_gops_and_no_delay() {
  GstHarness *h = gst_harness_new_parse("mpeg1enc key-int-max=10");
  gst_harness_set_src_caps_str(h, kCaps);
  for (int i = 0; i < 25; i++) {
    push_frame(h, i);
    // Out before the next frame goes in: no frame of delay.
    g_assert_cmpuint(gst_harness_buffers_received(h), ==, guint(i + 1));
    GstBuffer *b = gst_harness_pull(h);
    const mpeg1::PictureStart p = only_picture(b);
    const bool key = i % 10 == 0;
    g_assert_cmpint(p.type == mpeg1::PictureType::I, ==, key);
    g_assert_true(p.type != mpeg1::PictureType::B);
    g_assert_cmpint(p.sequence_header, ==, key);
    g_assert_cmpint(GST_BUFFER_FLAG_IS_SET(b, GST_BUFFER_FLAG_DELTA_UNIT), ==, !key);
    g_assert_cmpuint(GST_BUFFER_PTS(b), ==, i * GST_SECOND / 30);
    if (key) {
      g_assert_cmpint(p.width, ==, 320);
      g_assert_cmpint(p.height, ==, 240);
    }
    gst_buffer_unref(b);
  }
  GstCaps *caps = gst_pad_get_current_caps(h->sinkpad);
  GstCaps *want = gst_caps_from_string(
      "video/mpeg,mpegversion=1,systemstream=false,parsed=true,width=320,height=240");
  g_assert_true(gst_caps_is_subset(caps, want));
  gst_caps_unref(want);
  gst_caps_unref(caps);
  gst_harness_teardown(h);
}

// The output is MPEG-1 a decoder other than the encoder's own library shows, picture for picture:
// libmpeg2 (mpeg2dec) decodes 30 frames of distinct greys back to those greys, in order.
void test_independent_decoder_shows_every_picture() {
  GstHarness *h = gst_harness_new_parse("mpeg1enc key-int-max=10 bitrate=2000");
  gst_harness_set_src_caps_str(h, kCaps);
  std::string es;
  const int n = 30;
  for (int i = 0; i < n; i++) {
    GstBuffer *b = gst_harness_create_buffer(h, 320 * 240 * 3 / 2);
    gst_buffer_memset(b, 0, guint8(40 + 5 * i), 320 * 240);                    // luma
    gst_buffer_memset(b, 320 * 240, 128, gst_buffer_get_size(b) - 320 * 240);  // grey
    GST_BUFFER_PTS(b) = i * GST_SECOND / 30;
    GST_BUFFER_DURATION(b) = GST_SECOND / 30;
    g_assert_cmpint(gst_harness_push(h, b), ==, GST_FLOW_OK);
    GstBuffer *out = gst_harness_pull(h);
    const size_t at = es.size();
    es.resize(at + gst_buffer_get_size(out));
    gst_buffer_extract(out, 0, &es[at], gst_buffer_get_size(out));
    gst_buffer_unref(out);
  }
  gst_harness_teardown(h);
  const auto decoded = test::decode_mpeg1(es, false);
  g_assert_cmpuint(decoded.size(), ==, guint(n));
  for (int i = 0; i < n; i++) {
    g_assert_cmpint(decoded[i].width, ==, 320);
    g_assert_cmpint(decoded[i].height, ==, 240);
    g_assert_cmpfloat(std::abs(decoded[i].mean_luma - (40 + 5 * i)), <, 4);
  }
}

void test_keyframe_on_request() {
  GstHarness *h = gst_harness_new_parse("mpeg1enc key-int-max=100");
  gst_harness_set_src_caps_str(h, kCaps);
  for (int i = 0; i < 4; i++) {
    push_frame(h, i);
    gst_buffer_unref(gst_harness_pull(h));
  }
  g_assert_true(gst_harness_push_upstream_event(
      h, gst_video_event_new_upstream_force_key_unit(GST_CLOCK_TIME_NONE, TRUE, 1)));
  push_frame(h, 4);
  GstBuffer *b = gst_harness_pull(h);
  const mpeg1::PictureStart p = only_picture(b);
  g_assert_true(mpeg1::is_entry_point(p));
  g_assert_false(GST_BUFFER_FLAG_IS_SET(b, GST_BUFFER_FLAG_DELTA_UNIT));
  gst_buffer_unref(b);
  push_frame(h, 5);
  b = gst_harness_pull(h);
  g_assert_true(only_picture(b).type == mpeg1::PictureType::P);
  gst_buffer_unref(b);
  gst_harness_teardown(h);
}

void test_refuses_what_mpeg1_cannot_carry() {
  test::expect_caps_refused("mpeg1enc",
                            "video/x-raw,format=I420,width=321,height=240,framerate=30/1",
                            "cannot carry a 321x240 picture", "videoscale");
}

// Negotiation picks a rate MPEG-1 has when upstream can choose.
void test_negotiates_an_mpeg1_rate() {
  GstElement *pipeline = gst_parse_launch(
      "videotestsrc num-buffers=1 ! video/x-raw,width=320,height=240 ! mpeg1enc ! "
      "appsink name=out sync=false",
      nullptr);
  GstElement *out = gst_bin_get_by_name(GST_BIN(pipeline), "out");
  gst_element_set_state(pipeline, GST_STATE_PLAYING);
  GstSample *sample = gst_app_sink_try_pull_sample(GST_APP_SINK(out), 10 * GST_SECOND);
  g_assert_nonnull(sample);
  gint num = 0, den = 0;
  gst_structure_get_fraction(gst_caps_get_structure(gst_sample_get_caps(sample), 0), "framerate",
                             &num, &den);
  g_assert_cmpint(num, ==, 30);
  g_assert_cmpint(den, ==, 1);
  gst_sample_unref(sample);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(out);
  gst_object_unref(pipeline);
}

// Ten seconds of moving picture at `fps` frames a second come out near the `kbps` asked for, one
// picture for each frame. (This picture needs no more than ~20 kbit a picture at the best
// quantizer: the bitrates asked stay below that.)
void expect_bitrate(int fps, int asked) {
  g_autofree char *enc = g_strdup_printf("mpeg1enc bitrate=%d", asked);
  GstHarness *h = gst_harness_new_parse(enc);
  g_autofree char *src = g_strdup_printf(
      "videotestsrc pattern=pinwheel horizontal-speed=3 ! capsfilter "
      "caps=video/x-raw,format=I420,width=320,height=240,framerate=%d/1",
      fps);
  gst_harness_add_src_parse(h, src, TRUE);
  g_assert_cmpint(gst_harness_src_crank_and_push_many(h, 0, 10 * fps), ==, GST_FLOW_OK);
  guint64 bytes = 0;
  int pictures = 0;
  while (GstBuffer *b = gst_harness_try_pull(h)) {
    bytes += gst_buffer_get_size(b);
    pictures++;
    gst_buffer_unref(b);
  }
  const double kbps = bytes * 8.0 / 10.0 / 1000.0;
  g_test_message("%d frames/s: %d kbit/s asked, %.0f kbit/s made", fps, asked, kbps);
  g_assert_cmpint(pictures, ==, 10 * fps);
  g_assert_cmpfloat(kbps, >, asked * 0.8);
  g_assert_cmpfloat(kbps, <, asked * 1.2);
  gst_harness_teardown(h);
}

void test_bitrate() {
  expect_bitrate(30, 400);
}

// A rate MPEG-1 has no code for (15 frames/s, a common camera setting) is encoded all the same:
// every frame a picture at once with its own timestamp, the bitrate as asked over the real rate.
void test_takes_any_frame_rate() {
  GstHarness *h = gst_harness_new_parse("mpeg1enc key-int-max=15");
  gst_harness_set_src_caps_str(h, "video/x-raw,format=I420,width=320,height=240,framerate=15/1");
  for (int i = 0; i < 16; i++) {
    GstBuffer *in = gst_harness_create_buffer(h, 320 * 240 * 3 / 2);
    gst_buffer_memset(in, 0, 100, gst_buffer_get_size(in));
    gst_buffer_memset(in, size_t(i), 200, 16);
    GST_BUFFER_PTS(in) = i * GST_SECOND / 15;
    GST_BUFFER_DURATION(in) = GST_SECOND / 15;
    g_assert_cmpint(gst_harness_push(h, in), ==, GST_FLOW_OK);
    GstBuffer *b = gst_harness_pull(h);
    g_assert_cmpint(only_picture(b).type == mpeg1::PictureType::I, ==, i % 15 == 0);
    g_assert_cmpuint(GST_BUFFER_PTS(b), ==, i * GST_SECOND / 15);
    gst_buffer_unref(b);
  }
  gst_harness_teardown(h);
  expect_bitrate(15, 200);
  expect_bitrate(10, 150);
  expect_bitrate(90, 400);
}

}  // namespace

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  g_test_init(&argc, &argv, nullptr);
  g_test_add_func("/mpeg1enc/independent-decoder", test_independent_decoder_shows_every_picture);
  g_test_add_func("/mpeg1enc/pictures-gops-no-delay", test_pictures_gops_and_no_delay);
  g_test_add_func("/mpeg1enc/keyframe-on-request", test_keyframe_on_request);
  g_test_add_func("/mpeg1enc/takes-any-frame-rate", test_takes_any_frame_rate);
  g_test_add_func("/mpeg1enc/refuses-what-mpeg1-cannot-carry",
                  test_refuses_what_mpeg1_cannot_carry);
  g_test_add_func("/mpeg1enc/negotiates-an-mpeg1-rate", test_negotiates_an_mpeg1_rate);
  g_test_add_func("/mpeg1enc/bitrate", test_bitrate);
  return g_test_run();
}
