// Glass-to-glass latency benchmark source: live I420 frames whose top rows encode the
// wall-clock time (ms) at which each frame was made, in 16x16 black/white blocks that survive
// lossy encoding (a second row holds the inverted bits, so a damaged read is detected).
//
// h264: one x264 encode feeds camcast's msesink (/video, fMP4), whepsink (/webrtc) and, for the
// peer, msesink format=annexb (/h264), so every path carries exactly the same H.264.
// h264-ladder: the same, and /video and /webrtc a ladder as the presets make it (the top, 640x360
// at 500 kbit/s and 320x180 at 150, each a rung of its own); /flat and /webrtc-flat the top
// alone, as before ladders.
// relay-ladder: the same ladder muxed into MPEG-TS (a mpegtsmux a rung) and pushed by relaysink to
// BENCH_RELAY (a relay's publish URL), as `camcast relay-push` does; relay-flat: the top alone.
// rtsp: the same encode to camcast's rtspsink (rtsp://…:PORT+1/video) and, for the peer, to a bare
// gst-rtsp-server (rtsp://…:PORT+2/video) as a GStreamer user would serve an encode by hand: a
// shared media `appsrc ! rtph264pay`, the encode handed to its appsrc (the bench's client,
// tests/bench/rtsp/client.cpp, reads the times at its decoder).
// mpeg1: camcast's mpeg1enc feeds jsmpegsink as MPEG-TS (/ts, and with an MP2 tone muxed in:
// /ts-sound) and in jsmp mode (/jsmp); the
// peer is the seeds' approach (pistreaming, picam_livestream, JSMpeg's README): the same raw
// frames piped into Debian's ffmpeg, whose MPEG-TS and MPEG-1 output feed the same sinks
// (/ffmpeg-ts, /ffmpeg-jsmp).
//
//   bench-latency-server PORT WIDTH HEIGHT FPS BITRATE_KBPS GOP
//   [h264|h264-ladder|relay-ladder|relay-flat|rtsp|mpeg1[-half]][-grain]
//
// The time code is 40 blocks across the whole width (a block is WIDTH/40 pixels square, two
// rows: the bits and their inverse), so a smaller rendition carries it at its own scale.
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <gst/rtsp-server/rtsp-server.h>

#include <unistd.h>
#include <cstdlib>
#include <cstring>
#include <string>

#include "../bench_source.h"

constexpr int kBits = 40;

// Where the sinks listen: BENCH_ADDRESS, else loopback (the latency bench's --link runs this in a
// network namespace of its own, reached from outside it).
const char *const address = g_getenv("BENCH_ADDRESS") ? g_getenv("BENCH_ADDRESS") : "127.0.0.1";

// The mpeg1 pipeline: camcast's encoder into two jsmpegsinks, and beside it ffmpeg (started
// here, its pid in `ffmpeg`) fed the same frames, its output into two more. Null on failure.
char *mpeg1_launch(const char *appsrc, int width, int height, int fps, int kbps, int gop, int port,
                   bool half, GPid *ffmpeg) {
  // ffmpeg as the seeds run it: raw frames on stdin, -bf 0, the same bitrate and GOP; one
  // encode written both as MPEG-TS (stdout) and as raw MPEG-1 (fd 3).
  int in[2], ts[2], es[2];
  if (pipe(in) || pipe(ts) || pipe(es))
    return nullptr;
  g_autofree char *size = g_strdup_printf("%dx%d", width, height);
  g_autofree char *rate = g_strdup_printf("%d", fps);
  g_autofree char *bitrate = g_strdup_printf("%dk", kbps);
  g_autofree char *gop_s = g_strdup_printf("%d", gop);
  const char *ffmpeg_argv[] = {"ffmpeg",     "-loglevel",
                               "error",      "-f",
                               "rawvideo",   "-pix_fmt",
                               "yuv420p",    "-s",
                               size,         "-r",
                               rate,         "-i",
                               "pipe:0",     "-codec:v",
                               "mpeg1video", "-b:v",
                               bitrate,      "-bf",
                               "0",          "-g",
                               gop_s,        "-map",
                               "0:v",        "-f",
                               "tee",        "[f=mpegts]pipe\\:1|[f=mpeg1video]pipe\\:3",
                               nullptr};
  const int source_fds[] = {es[1]}, target_fds[] = {3};
  GError *error = nullptr;
  if (!g_spawn_async_with_pipes_and_fds(nullptr, ffmpeg_argv, nullptr, G_SPAWN_SEARCH_PATH, nullptr,
                                        nullptr, in[0], ts[1], -1, source_fds, target_fds, 1,
                                        ffmpeg, nullptr, nullptr, nullptr, &error)) {
    g_printerr("cannot start ffmpeg (apt-get install ffmpeg): %s\n", error->message);
    return nullptr;
  }
  close(in[0]);
  close(ts[1]);
  close(es[1]);
  // Half: camcast's encode at half the size (what a lower rung would be), ffmpeg's at the full.
  g_autofree char *scale = half ? g_strdup_printf("videoscale ! video/x-raw,width=%d,height=%d ! ",
                                                  width / 2, height / 2)
                                : g_strdup("");
  return g_strdup_printf(
      "%s tee name=raw ! queue ! %smpeg1enc bitrate=%d key-int-max=%d ! tee name=m "
      "m. ! queue ! mpegtsmux ! jsmpegsink address=%s port=%d path=/ts "
      "m. ! queue ! jsmpegsink address=%s port=%d path=/jsmp mode=jsmp "
      // With sound, as the default preset muxes it: a tone in MP2 beside the pictures.
      "m. ! queue ! mpegtsmux name=tss latency=0 ! jsmpegsink address=%s port=%d path=/ts-sound "
      "audiotestsrc is-live=true wave=sine freq=440 volume=0.2 ! audioconvert ! audioresample ! "
      "audio/x-raw,rate=44100,channels=1 ! avenc_mp2 bitrate=64000 ! queue ! tss. "
      // The ffmpeg side cannot preroll before ffmpeg has frames: async=false, or PLAYING
      // would wait for it forever.
      "raw. ! queue ! fdsink fd=%d sync=false async=false "
      "fdsrc fd=%d blocksize=4096 ! video/mpegts,systemstream=true,packetsize=188 ! "
      "jsmpegsink address=%s port=%d path=/ffmpeg-ts async=false "
      "fdsrc fd=%d blocksize=4096 ! video/mpeg,mpegversion=1,systemstream=false ! "
      "jsmpegsink address=%s port=%d path=/ffmpeg-jsmp mode=jsmp async=false",
      appsrc, scale, kbps, gop, address, port, address, port, address, port, in[1], ts[0], address,
      port, es[0], address, port);
}

// The bare gst-rtsp-server of the rtsp mode: its media's appsrc, once a client made it.
GMutex bare_lock;
GstElement *bare_src = nullptr;
int bare_port = 0;

// The encode (appsink "bare" of the launch line) into the bare server's media, stamped as it
// comes, as do-timestamp does.
void start_bare_server(GstElement *pipeline) {
  GstRTSPServer *server = gst_rtsp_server_new();
  g_autofree char *service = g_strdup_printf("%d", bare_port);
  gst_rtsp_server_set_address(server, address);
  gst_rtsp_server_set_service(server, service);
  GstRTSPMediaFactory *factory = gst_rtsp_media_factory_new();
  gst_rtsp_media_factory_set_launch(factory,
                                    "( appsrc name=bare is-live=true format=time "
                                    "do-timestamp=true ! rtph264pay name=pay0 pt=96 "
                                    "config-interval=-1 )");
  gst_rtsp_media_factory_set_shared(factory, TRUE);
  g_signal_connect(factory, "media-configure",
                   G_CALLBACK(+[](GstRTSPMediaFactory *, GstRTSPMedia *media, gpointer) {
                     GstElement *bin = gst_rtsp_media_get_element(media);
                     g_mutex_lock(&bare_lock);
                     gst_clear_object(&bare_src);
                     bare_src = gst_bin_get_by_name(GST_BIN(bin), "bare");
                     g_mutex_unlock(&bare_lock);
                     gst_object_unref(bin);
                   }),
                   nullptr);
  GstRTSPMountPoints *mounts = gst_rtsp_server_get_mount_points(server);
  gst_rtsp_mount_points_add_factory(mounts, "/video", factory);
  g_object_unref(mounts);
  gst_rtsp_server_attach(server, nullptr);
  g_thread_new(
      "bare-rtsp",
      +[](gpointer) -> gpointer {
        g_main_loop_run(g_main_loop_new(nullptr, FALSE));
        return nullptr;
      },
      nullptr);
  GstElement *sink = gst_bin_get_by_name(GST_BIN(pipeline), "bare");
  GstAppSinkCallbacks callbacks = {};
  callbacks.new_sample = +[](GstAppSink *sink, gpointer) {
    GstSample *sample = gst_app_sink_pull_sample(sink);
    g_mutex_lock(&bare_lock);
    if (bare_src) {
      gst_app_src_set_caps(GST_APP_SRC(bare_src), gst_sample_get_caps(sample));
      GstBuffer *buffer = gst_buffer_copy(gst_sample_get_buffer(sample));
      GST_BUFFER_PTS(buffer) = GST_BUFFER_DTS(buffer) = GST_CLOCK_TIME_NONE;
      gst_app_src_push_buffer(GST_APP_SRC(bare_src), buffer);
    }
    g_mutex_unlock(&bare_lock);
    gst_sample_unref(sample);
    return GST_FLOW_OK;
  };
  gst_app_sink_set_callbacks(GST_APP_SINK(sink), &callbacks, nullptr, nullptr);
  gst_object_unref(sink);
}

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  if (argc != 7 && argc != 8) {
    g_printerr(
        "usage: %s PORT WIDTH HEIGHT FPS BITRATE_KBPS GOP "
        "[h264|h264-ladder|relay-ladder|relay-flat|rtsp|mpeg1[-half]][-grain]\n",
        argv[0]);
    return 2;
  }
  const std::string mode = argc == 8 ? argv[7] : "h264";
  const bool mpeg1 = mode.rfind("mpeg1", 0) == 0;
  const bool ladder = mode == "h264-ladder";
  const bool relay = mode.rfind("relay-", 0) == 0;
  // Grain on the picture: the ladder's, or asked for (MODE-grain; mpeg1-half-grain too).
  const bool grainy = ladder || relay || mode.find("-grain") != std::string::npos;
  const int port = atoi(argv[1]), width = atoi(argv[2]), height = atoi(argv[3]);
  const int fps = atoi(argv[4]), kbps = atoi(argv[5]), gop = atoi(argv[6]);
  const int kBlock = width / kBits;
  if (kBlock < 16 || height < 4 * kBlock) {
    g_printerr("the picture must be at least %dx%d\n", kBits * 16, 4 * 16);
    return 2;
  }
  bench::stop_on_signals();
  const char *caps_fmt =
      "appsrc name=src is-live=true do-timestamp=true format=time "
      "caps=video/x-raw,format=I420,width=%d,height=%d,framerate=%d/1 ! ";
  g_autofree char *appsrc = g_strdup_printf(caps_fmt, width, height, fps);
  g_autofree char *launch = nullptr;
  GPid ffmpeg = 0;
  if (relay) {
    const char *to = g_getenv("BENCH_RELAY");
    if (!to) {
      g_printerr("relay modes push to BENCH_RELAY (http://HOST:PORT/publish/SECRET)\n");
      return 2;
    }
    // As the relay-push preset has it (rungs as the h264 ladder's above).
    const char *enc =
        "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=%d vbv-buf-capacity=%d "
        "bitrate=%d ! h264parse config-interval=-1 ! mpegtsmux latency=0 ! ";
    g_autofree char *top = g_strdup_printf(enc, gop, 600, kbps);
    g_autofree char *r1 = g_strdup_printf(enc, gop, 200, 500);
    g_autofree char *r2 = g_strdup_printf(enc, gop, 200, 150);
    const bool rungs = mode == "relay-ladder";
    launch = g_strdup_printf(
        "%s tee name=raw raw. ! queue ! %s relaysink name=relay location=%s %s%s%s%s", appsrc, top,
        to,
        rungs ? "raw. ! queue leaky=downstream max-size-buffers=2 ! videoscale ! "
                "video/x-raw,width=640,height=360 ! "
              : "",
        rungs ? r1 : "",
        rungs ? "relay.rung_1 raw. ! queue leaky=downstream max-size-buffers=2 ! videoscale ! "
                "video/x-raw,width=320,height=180 ! "
              : "",
        rungs ? (std::string(r2) + "relay.rung_2").c_str() : "");
  } else if (ladder) {
    const char *enc =
        "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=%d "
        "vbv-buf-capacity=%d bitrate=";
    // As the presets have it: x264's default VBV buffer on top, 200 ms on the lower rungs
    // (${rung-h264enc}).
    g_autofree char *x264 = g_strdup_printf(enc, gop, 600);
    g_autofree char *rung_x264 = g_strdup_printf(enc, gop, 200);
    launch = g_strdup_printf(
        "%s tee name=raw raw. ! queue ! %s%d ! h264parse ! tee name=t "
        "t. ! queue ! msesink name=v address=%s port=%d path=/video "
        "t. ! queue ! msesink address=%s port=%d path=/flat "
        "t. ! queue ! whepsink name=w address=%s port=%d path=/webrtc "
        "t. ! queue ! whepsink address=%s port=%d path=/webrtc-flat "
        "raw. ! queue leaky=downstream max-size-buffers=2 ! videoscale ! "
        "video/x-raw,width=640,height=360 ! %s500 ! h264parse ! tee name=r1 "
        "r1. ! queue ! v.rung_1 r1. ! queue ! w.rung_1 "
        "raw. ! queue leaky=downstream max-size-buffers=2 ! videoscale ! "
        "video/x-raw,width=320,height=180 ! %s150 ! h264parse ! tee name=r2 "
        "r2. ! queue ! v.rung_2 r2. ! queue ! w.rung_2",
        appsrc, x264, kbps, address, port, address, port, address, port, address, port, rung_x264,
        rung_x264);
  } else if (mode.rfind("rtsp", 0) == 0) {
    bare_port = port + 2;
    launch = g_strdup_printf(
        "%s x264enc tune=zerolatency speed-preset=ultrafast bitrate=%d key-int-max=%d ! "
        "h264parse ! tee name=t ! queue ! rtspsink address=%s port=%d rtsp-port=%d path=/video "
        "idle-after=0 t. ! queue ! appsink name=bare sync=false emit-signals=false",
        appsrc, kbps, gop, address, port, port + 1);
  } else if (!mpeg1) {
    launch = g_strdup_printf(
        "%s x264enc tune=zerolatency speed-preset=ultrafast bitrate=%d key-int-max=%d ! "
        "h264parse ! tee name=t ! queue ! msesink address=%s port=%d path=/video "
        "t. ! queue ! msesink address=%s port=%d path=/h264 format=annexb "
        "t. ! queue ! whepsink address=%s port=%d path=/webrtc",
        appsrc, kbps, gop, address, port, address, port, address, port);
  } else {
    launch = mpeg1_launch(appsrc, width, height, fps, kbps, gop, port,
                          mode.find("-half") != std::string::npos, &ffmpeg);
    if (!launch)
      return 1;
  }
  uint32_t grain = 1;
  const int status = bench::run_i420_source(
      launch, port, width, height, fps,
      [&](uint8_t *luma, uint64_t i) {
        // A moving gradient below the code, so the encoder has real work to do; for a ladder,
        // grain on it too (one pixel in eight), so that the top fills its bitrate as a camera's
        // picture does (the gradient alone compresses to a tenth of 2 Mbit/s).
        for (int y = 2 * kBlock; y < height; y++) {
          uint8_t *row = luma + size_t(y) * width;
          memset(row, int((y + i * 4) & 0xFF), size_t(width));
          if (grainy)
            for (int x = int((y * 7 + i) % 8); x < width; x += 8)
              row[x] = uint8_t(grain = grain * 1103515245 + 12345) >> 1;
        }
        const uint64_t ms = bench::wall_ms() & ((1ull << kBits) - 1);
        for (int b = 0; b < kBits; b++) {
          const bool one = (ms >> (kBits - 1 - b)) & 1;
          for (int y = 0; y < 2 * kBlock; y++) {
            const bool white = (y < kBlock) ? one : !one;
            memset(luma + size_t(y) * width + size_t(b) * kBlock, white ? 235 : 16, kBlock);
          }
        }
      },
      bare_port ? start_bare_server : nullptr);
  if (ffmpeg)
    kill(ffmpeg, SIGTERM);
  return status;
}
