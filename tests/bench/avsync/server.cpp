// A/V sync benchmark source: a picture that flashes white and a 1 kHz beep that starts at the
// same instant, once a second, as a camera and its microphone would catch a clapperboard.
// H.264 (x264) and Opus into one msesink at /video.
//
// Both are stamped as a live capture is: a frame with the instant it shows, an audio buffer
// with the instant of its first sample, pushed once its last sample has been "heard" (10 ms
// later). The flash is frames [n s, n s + 100 ms), the beep samples [n s, n s + 100 ms).
//
//   bench-avsync-server PORT [WIDTH HEIGHT]
#include "../bench_source.h"

#include <cmath>
#include <cstdlib>
#include <thread>
#include <vector>

namespace {

constexpr int kFps = 30, kRate = 48000, kChunk = kRate / 100;  // 10 ms audio buffers
constexpr uint64_t kFlashNs = 100000000ull;                    // flash and beep: 100 ms

bool flashing(uint64_t pts) {
  return pts % 1000000000ull < kFlashNs;
}

// Says on stdout the wall-clock instant (µs since 1970) of `what`'s time 0: clap n is then n s
// after it, for the measuring end's glass-to-glass.
void say_zero(const char *what) {
  g_print("%s-zero %" G_GINT64_FORMAT "\n", what, g_get_real_time());
}

void push_video(GstElement *src, int width, int height) {
  const size_t y_size = size_t(width) * height, c_size = y_size / 4;
  bench::Pacer pacer(kFps);
  say_zero("picture");
  while (!bench::stop_requested) {
    const uint64_t i = pacer.wait();
    const uint64_t pts = i * 1000000000ull / kFps;
    GstBuffer *buf = gst_buffer_new_allocate(nullptr, y_size + 2 * c_size, nullptr);
    GstMapInfo map;
    gst_buffer_map(buf, &map, GST_MAP_WRITE);
    memset(map.data, flashing(pts) ? 235 : 16, y_size);
    memset(map.data + y_size, 128, 2 * c_size);
    gst_buffer_unmap(buf, &map);
    GST_BUFFER_PTS(buf) = pts;
    GST_BUFFER_DURATION(buf) = 1000000000ull / kFps;
    gst_app_src_push_buffer(GST_APP_SRC(src), buf);
  }
}

void push_audio(GstElement *src) {
  bench::Pacer pacer(kRate / kChunk);
  say_zero("sound");
  std::vector<int16_t> samples(kChunk);
  while (!bench::stop_requested) {
    const uint64_t k = pacer.wait();  // buffer k's samples are all in once tick k has passed
    const uint64_t first = k * kChunk;
    for (int s = 0; s < kChunk; s++) {
      const uint64_t n = first + uint64_t(s);
      const uint64_t t = n * 1000000000ull / kRate;
      samples[size_t(s)] =
          flashing(t) ? int16_t(16000 * std::sin(2 * M_PI * 1000.0 * double(n) / kRate)) : 0;
    }
    GstBuffer *buf = gst_buffer_new_memdup(samples.data(), samples.size() * sizeof(int16_t));
    GST_BUFFER_PTS(buf) = first * 1000000000ull / kRate;
    GST_BUFFER_DURATION(buf) = uint64_t(kChunk) * 1000000000ull / kRate;
    gst_app_src_push_buffer(GST_APP_SRC(src), buf);
  }
}

}  // namespace

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  if (argc != 2 && argc != 4) {
    g_printerr("usage: %s PORT [WIDTH HEIGHT]\n", argv[0]);
    return 2;
  }
  const int port = atoi(argv[1]);
  const int width = argc == 4 ? atoi(argv[2]) : 320, height = argc == 4 ? atoi(argv[3]) : 240;
  bench::stop_on_signals();
  g_autofree char *launch = g_strdup_printf(
      "appsrc name=src is-live=true format=time "
      "caps=video/x-raw,format=I420,width=%d,height=%d,framerate=%d/1 ! "
      "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=60 ! h264parse ! "
      "msesink name=out address=127.0.0.1 port=%d path=/video "
      "appsrc name=asrc is-live=true format=time "
      "caps=audio/x-raw,format=S16LE,rate=%d,channels=1,layout=interleaved ! "
      "opusenc frame-size=20 ! out.audio",
      width, height, kFps, port, kRate);
  GstElement *video = nullptr;
  GstElement *pipeline = bench::start_pipeline(launch, &video);
  if (!pipeline)
    return 1;
  GstElement *audio = gst_bin_get_by_name(GST_BIN(pipeline), "asrc");
  g_print("ready port=%d\n", port);
  std::thread audio_thread(push_audio, audio);
  push_video(video, width, height);
  audio_thread.join();
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(audio);
  gst_object_unref(video);
  gst_object_unref(pipeline);
  return 0;
}
