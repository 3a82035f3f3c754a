// msesink's sound: Opus riding in the video's fragments, and sound alone; qtdemux reads both
// tracks back with every frame's bytes and time.
#include "idle_watch.h"
#include "msesink_test.h"

#include <gst/app/gstappsrc.h>

#include <cstdlib>
#include <cstring>

namespace msesink_test {

namespace {

// What qtdemux reads from a stream of fMP4 messages: the samples of video_0 and audio_0.
struct Demuxed {
  std::vector<Sample> video, audio;
};

Demuxed demux(const std::string &file, bool video, bool audio) {
  std::string launch = "appsrc name=src ! qtdemux name=d";
  if (video)
    launch += " d.video_0 ! queue ! appsink name=v sync=false";
  if (audio)
    launch += " d.audio_0 ! queue ! appsink name=a sync=false";
  GstElement *pipeline = gst_parse_launch(launch.c_str(), nullptr);
  g_assert_nonnull(pipeline);
  GstElement *src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
  gst_element_set_state(pipeline, GST_STATE_PLAYING);
  gst_app_src_push_buffer(GST_APP_SRC(src), gst_buffer_new_memdup(file.data(), file.size()));
  gst_app_src_end_of_stream(GST_APP_SRC(src));
  Demuxed out;
  for (const char *name : {"v", "a"})
    if (GstElement *sink = gst_bin_get_by_name(GST_BIN(pipeline), name)) {
      (name[0] == 'v' ? out.video : out.audio) = pull_all(sink);
      gst_object_unref(sink);
    }
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(src);
  gst_object_unref(pipeline);
  return out;
}

// The messages of a viewer until the stream pauses for `quiet_ms`: the description, then
// everything binary concatenated (init segment and fragments, prft boxes included: qtdemux skips
// them). `fragments` counts the media messages.
std::string read_stream(WsTestClient &client, std::string *description, int *fragments,
                        int quiet_ms = 2000) {
  Frame info = client.read_frame(5000);
  g_assert_cmpint(info.opcode, ==, 1);
  *description = info.payload;
  std::string file;
  *fragments = -1;  // the init segment is not one
  for (Frame f; (f = client.read_frame(quiet_ms)).opcode == 2; ++*fragments)
    file += f.payload;
  return file;
}

// `got` is a stretch of `sent` (frames before the stream was described are not sent), in order
// with the same bytes, the first few missing at most.
void assert_same_frames(const std::vector<Sample> &got, const std::vector<Sample> &sent,
                        size_t most_missing, uint32_t timescale) {
  g_assert_cmpuint(got.size(), >, 0);
  g_assert_cmpuint(got.size() + most_missing, >=, sent.size());
  size_t start = 0;
  while (start < sent.size() && sent[start].bytes != got[0].bytes)
    start++;
  g_assert_cmpuint(start, <=, most_missing);
  for (size_t i = 0; i < got.size() && start + i < sent.size(); i++) {
    g_assert_true(got[i].bytes == sent[start + i].bytes);
    // On the running-time line of both tracks, within a tick of the track's timescale.
    g_assert_cmpint(llabs(int64_t(got[i].pts) - int64_t(sent[start + i].pts)), <=,
                    GST_SECOND / timescale + 1);
  }
}

const char *kTone =
    "audiotestsrc is-live=true num-buffers=%d samplesperbuffer=960 freq=1000 ! "
    "audio/x-raw,rate=48000,channels=1 ! opusenc frame-size=20 ! tee name=at "
    "at. ! queue ! sink.audio at. ! queue ! appsink name=aref sync=false";

// Video and audio: one message per video frame, the audio frames riding in them; qtdemux reads
// both tracks back, every audio frame with its bytes and time.
void test_audio_rides_with_video() {
  g_autofree char *video = g_strdup_printf(kEncode, 60, 320, 240, "");
  g_autofree char *tone = g_strdup_printf(kTone, 100);
  WsTestClient client;
  GstElement *pipeline = play_watched(std::string(video) + " " + tone, &client, "/v");
  GstElement *ref = gst_bin_get_by_name(GST_BIN(pipeline), "ref");
  GstElement *aref = gst_bin_get_by_name(GST_BIN(pipeline), "aref");
  std::string description;
  int fragments = 0;
  const std::string file = read_stream(client, &description, &fragments);
  std::vector<Sample> sent_video = pull_all(ref, true), sent_audio = pull_all(aref, true);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  g_test_message("%s; %d fragments", description.c_str(), fragments);
  g_assert_nonnull(strstr(description.c_str(), "\"codec\":\"avc1."));
  g_assert_nonnull(
      strstr(description.c_str(), "\"audio\":{\"codec\":\"opus\",\"rate\":48000,\"channels\":1}"));
  // Audio adds no message of its own while pictures come.
  g_assert_cmpint(fragments, ==, 60);
  Demuxed got = demux(file, true, true);
  g_assert_cmpuint(got.video.size(), ==, 60);
  // The audio sent after the last picture waits for a fragment that never comes (up to 200 ms).
  assert_same_frames(got.audio, sent_audio, 12, 48000);
  g_assert_cmpuint(got.audio.size() + 12 + 10, >=, sent_audio.size());
  assert_same_frames(got.video, sent_video, 0, 90000);
  gst_object_unref(aref);
  gst_object_unref(ref);
  gst_object_unref(pipeline);
}

// Audio alone: the element plays without a picture to preroll, each audio frame is a fragment a
// viewer can start at, the description has no video, and the end of the audio ends the stream.
void test_audio_alone() {
  g_autofree char *tone = g_strdup_printf(kTone, 50);
  WsTestClient client;
  GstElement *pipeline =
      play_watched(std::string("msesink name=sink port=0 path=/a ") + tone, &client, "/a");
  GstElement *aref = gst_bin_get_by_name(GST_BIN(pipeline), "aref");
  GstState state = GST_STATE_NULL;
  g_assert_cmpint(gst_element_get_state(pipeline, &state, nullptr, 5 * GST_SECOND), ==,
                  GST_STATE_CHANGE_SUCCESS);
  g_assert_cmpint(state, ==, GST_STATE_PLAYING);
  std::string description;
  int fragments = 0;
  const std::string file = read_stream(client, &description, &fragments);
  std::vector<Sample> sent = pull_all(aref, true);  // appsink posts EOS once it is drained
  GstBus *bus = gst_element_get_bus(pipeline);
  GstMessage *eos = gst_bus_timed_pop_filtered(bus, 5 * GST_SECOND, GST_MESSAGE_EOS);
  g_assert_nonnull(eos);
  gst_message_unref(eos);
  gst_object_unref(bus);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  g_assert_null(strstr(description.c_str(), "avc1"));
  g_assert_nonnull(strstr(description.c_str(), "\"audio\":{\"codec\":\"opus\""));
  g_assert_cmpuint(sent.size(), >=, 50);             // opusenc may add a last frame at the end
  g_assert_cmpint(fragments, ==, int(sent.size()));  // nothing waits for a picture
  Demuxed got = demux(file, false, true);
  assert_same_frames(got.audio, sent, 0, 48000);
  gst_object_unref(aref);
  gst_object_unref(pipeline);
}

// The sound's encoder idles with the picture's while nobody watches (the microphone goes on), and
// a viewer wakes both: its stream has sound again.
void test_audio_idles_with_the_picture() {
  GstElement *pipeline = gst_parse_launch(
      "videotestsrc is-live=true ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 ! "
      "x264enc name=venc tune=zerolatency speed-preset=ultrafast key-int-max=300 ! h264parse ! "
      "msesink name=sink port=0 path=/v idle-after=1 "
      "audiotestsrc is-live=true samplesperbuffer=960 ! audio/x-raw,rate=48000,channels=1 ! "
      "tee name=mic mic. ! queue ! opusenc name=aenc frame-size=20 ! sink.audio "
      "mic. ! queue ! fakesink name=other",
      nullptr);
  g_assert_nonnull(pipeline);
  camcast::test::BufferCounts counts(pipeline, {"venc", "aenc", "other"});
  g_assert_cmpint(gst_element_set_state(pipeline, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
  GstElement *sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
  int port = -1;
  g_object_get(sink, "current-port", &port, nullptr);
  g_assert_true(camcast::test::wait_for([&] { return counts[1] > 0; }));
  g_assert_true(camcast::test::wait_for([&] { return camcast::test::api_says_idle(port); },
                                        std::chrono::milliseconds(5000)));
  const std::vector<int> idle = counts.during(std::chrono::milliseconds(1000));
  g_test_message(
      "while idle: %d pictures and %d sound frames encoded, %d sound buffers "
      "elsewhere",
      idle[0], idle[1], idle[2]);
  g_assert_cmpint(idle[0], ==, 0);
  g_assert_cmpint(idle[1], ==, 0);
  g_assert_cmpint(idle[2], >=, 40);  // the microphone's other way goes on (50 a second)

  WsTestClient viewer;
  g_assert_true(viewer.connect(port, "/v"));
  const Frame description = viewer.read_frame(3000);
  g_assert_nonnull(strstr(description.payload.c_str(), "\"audio\":{\"codec\":\"opus\""));
  std::string file;
  for (int i = 0; i < 30; i++)
    file += viewer.read_frame(3000).payload;
  const Demuxed got = demux(file, true, true);
  g_test_message("awake: %zu pictures and %zu sound frames in 30 messages", got.video.size(),
                 got.audio.size());
  g_assert_cmpuint(got.video.size(), >=, 20);
  g_assert_cmpuint(got.audio.size(), >=, 20);
  viewer.close();
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(sink);
  gst_object_unref(pipeline);
}

}  // namespace

void add_audio_tests() {
  g_test_add_func("/msesink/audio-rides-with-video", test_audio_rides_with_video);
  g_test_add_func("/msesink/audio-alone", test_audio_alone);
  g_test_add_func("/msesink/audio-idles-with-the-picture", test_audio_idles_with_the_picture);
}

}  // namespace msesink_test
