// Decodes MPEG-1 video with a decoder independent of camcast (libmpeg2, gst-plugins-ugly's
// mpeg2dec; camcast's encoder is libavcodec): the tests judge mpeg1enc's and jsmpegsink's output
// by whether a real decoder shows the pictures, not by camcast's own parsers.
#pragma once

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include <string>
#include <vector>

namespace camcast::test {

struct DecodedPicture {
  int width = 0, height = 0;
  double mean_luma = 0;
};

// `bytes` as an MPEG-1 elementary stream (or MPEG-TS with `transport_stream`), decoded from its
// first byte to its end; every picture the decoder shows, in order. Errors of the decoder fail
// the test. An elementary stream is given its sequence end code (ISO/IEC 11172-2 §2.4.2.1),
// without which a decoder may keep the last pictures waiting for what follows.
// The bytes of all buffers `launch` (an appsrc "in", an appsink "out") makes of `bytes`.
inline std::string run_bytes(const std::string &launch, const std::string &bytes,
                             std::vector<GstSample *> *samples = nullptr) {
  GError *error = nullptr;
  GstElement *pipeline = gst_parse_launch(launch.c_str(), &error);
  g_assert_no_error(error);
  GstElement *in = gst_bin_get_by_name(GST_BIN(pipeline), "in");
  GstElement *out = gst_bin_get_by_name(GST_BIN(pipeline), "out");
  gst_element_set_state(pipeline, GST_STATE_PLAYING);
  gst_app_src_push_buffer(GST_APP_SRC(in), gst_buffer_new_memdup(bytes.data(), bytes.size()));
  gst_app_src_end_of_stream(GST_APP_SRC(in));
  std::string all;
  while (GstSample *sample = gst_app_sink_try_pull_sample(GST_APP_SINK(out), 5 * GST_SECOND)) {
    GstBuffer *b = gst_sample_get_buffer(sample);
    const size_t at = all.size();
    all.resize(at + gst_buffer_get_size(b));
    gst_buffer_extract(b, 0, &all[at], gst_buffer_get_size(b));
    if (samples)
      samples->push_back(sample);
    else
      gst_sample_unref(sample);
  }
  GstBus *bus = gst_element_get_bus(pipeline);
  if (GstMessage *m = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR)) {
    GError *e = nullptr;
    gst_message_parse_error(m, &e, nullptr);
    g_error("%s refused the stream: %s", launch.c_str(), e->message);
  }
  gst_object_unref(bus);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(in);
  gst_object_unref(out);
  gst_object_unref(pipeline);
  return all;
}

// `bytes` as an MPEG-1 elementary stream (or MPEG-TS with `transport_stream`, demultiplexed
// first), decoded from its first byte to its end; every picture the decoder shows, in order.
// Errors fail the test. The elementary stream is given its sequence end code (ISO/IEC 11172-2
// §2.4.2.1), without which a decoder keeps the last pictures waiting for what follows.
inline std::vector<DecodedPicture> decode_mpeg1(const std::string &bytes, bool transport_stream) {
  const std::string es =
      transport_stream ? run_bytes(
                             "appsrc name=in format=bytes caps=video/mpegts,systemstream=true,"
                             "packetsize=188 ! tsdemux ! appsink name=out sync=false",
                             bytes)
                       : bytes;
  std::vector<GstSample *> samples;
  run_bytes(
      "appsrc name=in format=bytes caps=video/mpeg,mpegversion=1,systemstream=false ! "
      "mpegvideoparse ! mpeg2dec ! videoconvert ! video/x-raw,format=I420 ! "
      "appsink name=out sync=false",
      es + std::string("\x00\x00\x01\xb7", 4), &samples);
  std::vector<DecodedPicture> pictures;
  for (GstSample *sample : samples) {
    GstVideoInfo info;
    g_assert_true(gst_video_info_from_caps(&info, gst_sample_get_caps(sample)));
    GstVideoFrame frame;
    g_assert_true(gst_video_frame_map(&frame, &info, gst_sample_get_buffer(sample), GST_MAP_READ));
    DecodedPicture p;
    p.width = GST_VIDEO_INFO_WIDTH(&info);
    p.height = GST_VIDEO_INFO_HEIGHT(&info);
    const auto *y = static_cast<const uint8_t *>(GST_VIDEO_FRAME_PLANE_DATA(&frame, 0));
    const int stride = GST_VIDEO_FRAME_PLANE_STRIDE(&frame, 0);
    double sum = 0;
    for (int row = 0; row < p.height; row++)
      for (int x = 0; x < p.width; x++)
        sum += y[row * stride + x];
    p.mean_luma = sum / (double(p.width) * p.height);
    gst_video_frame_unmap(&frame);
    gst_sample_unref(sample);
    pictures.push_back(p);
  }
  return pictures;
}

}  // namespace camcast::test
