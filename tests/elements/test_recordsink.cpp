// recordsink writing real encodes to real filesystems, judged by ffprobe and ffmpeg: segments
// with pictures and sound that follow one another without a gap, each starting at a keyframe; a
// second run beside the first's files; retention by age and by a floor of free space (a small
// tmpfs); a full disk that pauses the recording, never the live view, and resumes when space is
// freed; a disk that stalls (a frozen filesystem) costing the recording frames, counted, and
// never the live view; settings and directories refused at start with the reason.
#include "isobmff.h"
#include "programs.h"
#include "wait.h"
#include "ws_test_client.h"

#include <glib/gstdio.h>
#include <gst/gst.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using camcast::test::wait_for;

namespace {

// A program run to its end (at most `timeout_s`): true if it exited 0; what it printed in `out`.
bool run(const std::vector<std::string> &argv, std::string *out = nullptr, int timeout_s = 30) {
  return camcast::test::run_program(argv, out, timeout_s) == 0;
}

std::string read_file(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The segments under `dir`, oldest first (their names sort by time in these tests: one per
// second at most, no `_N`), as paths relative to it.
std::vector<std::string> segments(const std::string &dir) {
  std::string out;
  g_assert_true(run({"sh", "-c", "cd '" + dir + "' && find . -name '*.mp4' | sort"}, &out));
  std::vector<std::string> names;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);)
    if (line.size() > 2)
      names.push_back(line.substr(2));
  return names;
}

// A temporary directory, removed (after unmounting what a test mounted there) at the end.
struct TempDir {
  std::string path;
  bool mounted = false;
  TempDir() {
    char *p = g_dir_make_tmp("recordsink-XXXXXX", nullptr);
    path = p;
    g_free(p);
  }
  // A tmpfs of `size` ("4M") here, with `options` ("ro").
  void mount_tmpfs(const std::string &size, const std::string &options = "") {
    g_assert_true(run({"mount", "-t", "tmpfs", "-o",
                       "size=" + size + (options.empty() ? "" : "," + options), "tmpfs", path}));
    mounted = true;
  }
  ~TempDir() {
    if (mounted)
      run({"umount", "-l", path});
    run({"rm", "-rf", path});
  }
};

// What a file holds as ffprobe reads it: its streams' codecs, and the pictures' count, duration
// and whether the first is a keyframe.
struct Probe {
  std::vector<std::string> codecs;
  int frames = 0;
  double video_duration = 0;
  bool first_is_key = false;
};

Probe probe(const std::string &path) {
  std::string out;
  g_assert_true(run({"ffprobe", "-v", "error", "-count_frames", "-show_entries",
                     "stream=codec_name,duration,nb_read_frames", "-of", "flat", path},
                    &out));
  Probe p;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    const size_t eq = line.find('=');
    if (eq == std::string::npos)
      continue;
    std::string value = line.substr(eq + 1);
    if (value.size() >= 2 && value.front() == '"')
      value = value.substr(1, value.size() - 2);
    if (line.find(".codec_name=") != std::string::npos)
      p.codecs.push_back(value);
    else if (line.find("streams.stream.0.nb_read_frames=") == 0)
      p.frames = atoi(value.c_str());
    else if (line.find("streams.stream.0.duration=") == 0)
      p.video_duration = atof(value.c_str());
  }
  g_assert_true(run({"ffprobe", "-v", "error", "-select_streams", "v:0", "-read_intervals", "%+#1",
                     "-show_entries", "frame=key_frame", "-of", "csv=p=0", path},
                    &out));
  p.first_is_key = out.rfind("1", 0) == 0;
  return p;
}

// The capture time of a segment's first fragment (its first prft box), in seconds since 1900.
double first_capture(const std::string &path) {
  const std::string data = read_file(path);
  const auto prft = camcast::test::isobmff::find(data, "prft");
  g_assert_true(prft.has_value() && prft->payload.size() >= 16);
  uint64_t ntp = 0;
  for (int i = 8; i < 16; i++)
    ntp = ntp << 8 | uint8_t(prft->payload[size_t(i)]);
  return double(ntp >> 32) + double(ntp & 0xffffffff) / 4294967296.0;
}

// A live test pattern (with a tone on `sound`) encoded once, to an msesink at /video and a
// recordsink with `props`; the element messages and warnings it posts, kept.
struct Camera {
  GstElement *pipeline = nullptr;
  GstElement *recorder = nullptr;
  int port = 0;         // /video's
  int record_port = 0;  // the recordsink's server (port 0: one of its own)
  std::mutex lock;
  std::vector<std::string> events;  // "started: NAME", "paused: …", "deleted: …"
  std::vector<std::string> warnings, errors;

  explicit Camera(const std::string &props, bool sound = true, int bitrate = 600) {
    GError *error = nullptr;
    const std::string launch =
        "videotestsrc is-live=true pattern=ball ! video/x-raw,format=I420,width=320,height=240,"
        "framerate=30/1 ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 "
        "bitrate=" +
        std::to_string(bitrate) +
        " ! h264parse ! tee name=t t. ! queue ! msesink name=video port=0 "
        "t. ! queue ! recordsink name=rec port=0 " +
        props +
        (sound ? " audiotestsrc is-live=true ! audio/x-raw,rate=48000,channels=1 ! opusenc ! "
                 "rec.audio"
               : "");
    pipeline = gst_parse_launch(launch.c_str(), &error);
    g_assert_no_error(error);
    recorder = gst_bin_get_by_name(GST_BIN(pipeline), "rec");
    GstBus *bus = gst_element_get_bus(pipeline);
    gst_bus_set_sync_handler(
        bus,
        [](GstBus *, GstMessage *m, gpointer data) {
          auto *self = static_cast<Camera *>(data);
          std::lock_guard<std::mutex> lk(self->lock);
          if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ELEMENT && gst_message_has_name(m, "recordsink")) {
            const GstStructure *s = gst_message_get_structure(m);
            self->events.push_back(std::string(gst_structure_get_string(s, "event")) + ": " +
                                   gst_structure_get_string(s, "text"));
          } else if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_WARNING ||
                     GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) {
            GError *e = nullptr;
            if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_WARNING)
              gst_message_parse_warning(m, &e, nullptr);
            else
              gst_message_parse_error(m, &e, nullptr);
            (GST_MESSAGE_TYPE(m) == GST_MESSAGE_WARNING ? self->warnings : self->errors)
                .push_back(e->message);
            g_error_free(e);
          }
          gst_message_unref(m);  // a handler that drops a message unrefs it
          return GST_BUS_DROP;
        },
        this, nullptr);
    gst_object_unref(bus);
  }
  bool start() {
    if (gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
      return false;
    GstElement *video = gst_bin_get_by_name(GST_BIN(pipeline), "video");
    g_object_get(video, "current-port", &port, nullptr);
    gst_object_unref(video);
    g_object_get(recorder, "current-port", &record_port, nullptr);
    return true;
  }
  ~Camera() {
    gst_element_set_state(pipeline, GST_STATE_NULL);
    gst_object_unref(recorder);
    gst_object_unref(pipeline);
  }
  size_t count(const std::string &prefix) {
    std::lock_guard<std::mutex> lk(lock);
    size_t n = 0;
    for (const std::string &e : events)
      n += e.rfind(prefix, 0) == 0;
    return n;
  }
  std::string all_events() {
    std::lock_guard<std::mutex> lk(lock);
    std::string all;
    for (const std::string &e : events)
      all += e + "\n";
    return all;
  }
  std::string first_error() {
    std::lock_guard<std::mutex> lk(lock);
    return errors.empty() ? "" : errors.front();
  }
  // The recording's entry in /api/streams.
  std::string recording_json(const std::string &query = "") {
    std::string body;
    g_assert_cmpint(camcast::test::http_get(record_port, "/api/streams" + query, &body), ==, 200);
    const size_t at = body.find("\"recording\":");
    return at == std::string::npos ? "" : body.substr(at, body.find('}', at) - at + 1);
  }
};

// Waits for cond() on the recording's state as /api/streams gives it, asking five times a second:
// a server refuses a client that opens connections faster than its per-second cap.
template <typename F>
bool wait_for_state(Camera &camera, F cond, std::chrono::milliseconds timeout) {
  return wait_for(
      [&] {
        if (cond(camera.recording_json()))
          return true;
        std::this_thread::sleep_for(200ms);
        return false;
      },
      timeout);
}

// A number in a JSON object as the tests read it: `"name":123`.
long long json_number(const std::string &json, const std::string &name) {
  const size_t at = json.find("\"" + name + "\":");
  g_assert_true(at != std::string::npos);
  return atoll(json.c_str() + at + name.size() + 3);
}

// Counts the frames a live viewer of /video gets, on a thread of its own, until stopped.
struct Viewer {
  camcast::test::WsTestClient ws;
  std::atomic<int> frames{0};
  std::atomic<bool> stop{false};
  std::thread thread;
  explicit Viewer(int port) {
    g_assert_true(ws.connect(port, "/video"));
    thread = std::thread([this] {
      while (!stop) {
        const auto f = ws.read_frame(500);
        if (f.opcode == 2)
          frames++;
        else if (ws.eof())
          break;
      }
    });
  }
  ~Viewer() {
    stop = true;
    thread.join();
  }
  // The frames received over `span`, measured from now.
  int frames_over(std::chrono::milliseconds span) {
    const int before = frames;
    std::this_thread::sleep_for(span);
    return frames - before;
  }
};

// Segments of a second with pictures and sound, each from a keyframe, each playing in ffprobe and
// decoding whole in ffmpeg, each starting where the one before ended (the capture time of its
// first picture, its prft, against the one before's start plus its pictures' duration).
void test_segments() {
  TempDir dir;
  {
    Camera camera("location=" + dir.path + " segment-seconds=1");
    g_assert_true(camera.start());
    g_assert_true(wait_for([&] { return camera.count("started") >= 4; }, 15s));
  }
  const std::vector<std::string> names = segments(dir.path);
  g_assert_cmpuint(names.size(), >=, 4);
  double previous_end = 0;
  for (const std::string &name : names) {
    const std::string path = dir.path + "/" + name;
    const Probe p = probe(path);
    g_test_message("%s: %d pictures, %.3f s", name.c_str(), p.frames, p.video_duration);
    g_assert_cmpuint(p.codecs.size(), ==, 2);
    g_assert_cmpstr(p.codecs[0].c_str(), ==, "h264");
    g_assert_cmpstr(p.codecs[1].c_str(), ==, "opus");
    g_assert_cmpint(p.frames, >, 0);
    g_assert_true(p.first_is_key);
    std::string out;
    g_assert_true(run({"ffmpeg", "-v", "error", "-xerror", "-i", path, "-f", "null", "-"}, &out));
    g_assert_cmpstr(out.c_str(), ==, "");
    const double start = first_capture(path);
    if (previous_end > 0)
      g_assert_cmpfloat(std::abs(start - previous_end), <, 1.0 / 30 + 0.001);
    previous_end = start + p.video_duration;
  }
}

// A second run writes beside the first's segments, never over them, even within the same second.
void test_runs_never_overwrite() {
  TempDir dir;
  std::map<std::string, std::string> first;
  {
    Camera camera("location=" + dir.path + " segment-seconds=1", false);
    g_assert_true(camera.start());
    g_assert_true(wait_for([&] { return camera.count("started") >= 2; }, 15s));
  }
  for (const std::string &name : segments(dir.path))
    first[name] = read_file(dir.path + "/" + name);
  {
    Camera camera("location=" + dir.path + " segment-seconds=1", false);
    g_assert_true(camera.start());
    g_assert_true(wait_for([&] { return camera.count("started") >= 2; }, 15s));
  }
  std::string out;
  g_assert_true(run({"sh", "-c", "cd '" + dir.path + "' && find . -name '*.mp4' | wc -l"}, &out));
  g_assert_cmpint(atoi(out.c_str()), >=, int(first.size()) + 2);
  for (const auto &[name, bytes] : first)
    g_assert_true(read_file(dir.path + "/" + name) == bytes);
}

// Makes a segment file of `bytes` named for `age_s` seconds ago and last written then.
std::string old_segment(const std::string &dir, int64_t age_s, size_t bytes) {
  const int64_t when = g_get_real_time() - age_s * G_USEC_PER_SEC;
  GDateTime *t = g_date_time_new_from_unix_utc(when / G_USEC_PER_SEC);
  gchar *day = g_date_time_format(t, "%Y-%m-%d");
  gchar *file = g_date_time_format(t, "%H-%M-%S.mp4");
  const std::string name = std::string(day) + "/" + file;
  g_date_time_unref(t);
  g_free(day);
  g_free(file);
  g_mkdir_with_parents((dir + "/" + name.substr(0, 10)).c_str(), 0755);
  const std::string path = dir + "/" + name;
  g_assert_true(
      g_file_set_contents(path.c_str(), std::string(bytes, 'x').data(), gssize(bytes), nullptr));
  const struct timespec times[2] = {{time_t(when / G_USEC_PER_SEC), 0},
                                    {time_t(when / G_USEC_PER_SEC), 0}};
  g_assert_cmpint(utimensat(AT_FDCWD, path.c_str(), times, 0), ==, 0);
  return name;
}

// keep: segments older than it go, with their day's folder, each said; younger ones and files that
// are not segments stay.
void test_keep() {
  TempDir dir;
  const std::string ten_days = old_segment(dir.path, 10 * 86400, 1000);
  const std::string eight_days = old_segment(dir.path, 8 * 86400 + 3600, 1000);
  const std::string six_days = old_segment(dir.path, 6 * 86400, 1000);
  const std::string notes = dir.path + "/" + ten_days.substr(0, 10) + "/notes.txt";
  g_assert_true(g_file_set_contents(notes.c_str(), "mine", -1, nullptr));
  Camera camera("location=" + dir.path + " keep=7d", false);
  g_assert_true(camera.start());
  g_assert_true(wait_for([&] { return camera.count("deleted") >= 2; }, 10s));
  g_assert_false(g_file_test((dir.path + "/" + ten_days).c_str(), G_FILE_TEST_EXISTS));
  g_assert_false(g_file_test((dir.path + "/" + eight_days).c_str(), G_FILE_TEST_EXISTS));
  // Its day's folder went with it; the ten days' stays for the file that is not a segment.
  g_assert_false(
      g_file_test((dir.path + "/" + eight_days.substr(0, 10)).c_str(), G_FILE_TEST_EXISTS));
  g_assert_true(g_file_test((dir.path + "/" + six_days).c_str(), G_FILE_TEST_EXISTS));
  g_assert_true(g_file_test(notes.c_str(), G_FILE_TEST_EXISTS));
  const std::string said = camera.all_events();
  g_test_message("%s", said.c_str());
  g_assert_nonnull(strstr(said.c_str(), ("deleted " + ten_days).c_str()));
  g_assert_nonnull(strstr(said.c_str(), "older than 7 days"));
}

// min-free on a 4 MB tmpfs: the oldest segments go until half the disk is free; the newest stay.
void test_free_floor() {
  TempDir dir;
  dir.mount_tmpfs("4M");
  std::vector<std::string> made;
  for (int i = 0; i < 6; i++)
    made.push_back(old_segment(dir.path, 3600 - i * 60, 500 * 1000));  // 3 MB, oldest first
  Camera camera("location=" + dir.path + " min-free=50%", false);
  g_assert_true(camera.start());
  g_assert_true(wait_for([&] { return camera.count("deleted") >= 2; }, 10s));
  g_assert_true(wait_for([&] { return camera.count("started") >= 1; }, 10s));
  const std::string said = camera.all_events();
  g_test_message("%s", said.c_str());
  g_assert_false(g_file_test((dir.path + "/" + made[0]).c_str(), G_FILE_TEST_EXISTS));
  g_assert_false(g_file_test((dir.path + "/" + made[1]).c_str(), G_FILE_TEST_EXISTS));
  g_assert_true(g_file_test((dir.path + "/" + made[5]).c_str(), G_FILE_TEST_EXISTS));
  g_assert_nonnull(strstr(said.c_str(), "free space under the floor"));
}

// A full disk pauses the recording with a warning, the live viewer goes on at the camera's rate,
// and the recording resumes in a new segment once space is freed.
void test_full_disk() {
  TempDir dir;
  dir.mount_tmpfs("3M");
  const std::string filler = dir.path + "/filler";
  g_assert_true(run({"dd", "if=/dev/zero", "of=" + filler, "bs=1k", "count=3020"}));
  Camera camera("location=" + dir.path + " min-free=0 segment-seconds=60", false, 2000);
  g_assert_true(camera.start());
  Viewer viewer(camera.port);
  g_assert_true(wait_for([&] { return camera.count("paused") >= 1; }, 20s));
  g_test_message("%s", camera.all_events().c_str());
  g_assert_nonnull(strstr(camera.all_events().c_str(), "No space left on device"));
  g_assert_true(wait_for([&] {
    std::lock_guard<std::mutex> lk(camera.lock);
    return !camera.warnings.empty() && camera.warnings[0].find("recording paused") == 0;
  }));
  g_assert_true(strstr(camera.recording_json().c_str(), "\"paused\":true") != nullptr);
  // The live view while the disk is full: the camera's 30 pictures a second, less a margin for a
  // busy machine.
  const int shown = viewer.frames_over(3s);
  g_test_message("the live viewer got %d pictures in 3 s while the disk was full", shown);
  g_assert_cmpint(shown, >=, 60);
  const size_t started = camera.count("started");
  g_assert_cmpint(g_unlink(filler.c_str()), ==, 0);
  g_assert_true(wait_for([&] { return camera.count("resumed") >= 1; }, 15s));
  g_assert_true(wait_for([&] { return camera.count("started") > started; }, 5s));
  g_assert_true(wait_for_state(
      camera, [](const std::string &s) { return s.find("\"paused\":false") != s.npos; }, 5s));
  const long long written = json_number(camera.recording_json(), "bytes_written");
  g_assert_true(wait_for_state(
      camera, [&](const std::string &s) { return json_number(s, "bytes_written") > written; },
      10s));
}

// How many of this process's open files are under `dir`.
int open_files_under(const std::string &dir) {
  int n = 0;
  GDir *fds = g_dir_open("/proc/self/fd", 0, nullptr);
  while (const char *fd = fds ? g_dir_read_name(fds) : nullptr) {
    gchar *target = g_file_read_link(("/proc/self/fd/" + std::string(fd)).c_str(), nullptr);
    n += target && g_str_has_prefix(target, (dir + "/").c_str());
    g_free(target);
  }
  if (fds)
    g_dir_close(fds);
  return n;
}

// A disk that stops taking writes (its filesystem frozen, as a dying SD card stalls): the live
// viewer goes on at the camera's rate, the recording drops what it cannot queue and counts the
// gap; thawed, it writes again. Frozen again, the pipeline still stops: the recording waits 5 s
// for its disk, then leaves its writer to finish alone.
void test_stalled_disk() {
  TempDir dir;
  const std::string image = dir.path + "/disk.img", mnt = dir.path + "/disk";
  g_assert_true(run({"truncate", "-s", "32M", image}));
  g_assert_true(run({"mkfs.ext4", "-q", image}));
  g_mkdir(mnt.c_str(), 0755);
  g_assert_true(run({"mount", "-o", "loop", image, mnt}));
  struct Unmount {
    std::string mnt;
    ~Unmount() {
      run({"fsfreeze", "-u", mnt});
      run({"umount", "-l", mnt});  // lazily: a writer left to finish may still hold its file
    }
  } unmount{mnt};
  auto camera = std::make_unique<Camera>("location=" + mnt + " min-free=0", false, 2000);
  g_assert_true(camera->start());
  {
    Viewer viewer(camera->port);
    g_assert_true(wait_for([&] { return camera->count("started") >= 1; }, 10s));
    g_assert_true(run({"fsfreeze", "-f", mnt}));
    const int shown = viewer.frames_over(3s);
    g_test_message("the live viewer got %d pictures in 3 s while the disk was frozen", shown);
    g_assert_cmpint(shown, >=, 60);
  }
  // The queue's bound (600 frames, 20 s at 30 a second) is passed: a gap.
  g_assert_true(wait_for_state(
      *camera, [](const std::string &s) { return json_number(s, "gaps") >= 1; }, 40s));
  g_assert_true(run({"fsfreeze", "-u", mnt}));
  const long long written = json_number(camera->recording_json(), "bytes_written");
  g_assert_true(wait_for_state(
      *camera, [&](const std::string &s) { return json_number(s, "bytes_written") > written; },
      10s));
  g_assert_true(run({"fsfreeze", "-f", mnt}));
  const auto before = std::chrono::steady_clock::now();
  g_assert_cmpint(gst_element_set_state(camera->pipeline, GST_STATE_NULL), ==,
                  GST_STATE_CHANGE_SUCCESS);
  const auto took = std::chrono::steady_clock::now() - before;
  g_test_message("stopped in %.1f s with the disk frozen",
                 std::chrono::duration<double>(took).count());
  g_assert_cmpint(std::chrono::duration_cast<std::chrono::seconds>(took).count(), <, 15);
  {
    std::lock_guard<std::mutex> lk(camera->lock);
    g_assert_cmpuint(camera->warnings.size(), >=, 1);
    g_assert_nonnull(strstr(camera->warnings.back().c_str(), "did not take"));
  }
  // Thawed, the writer left alone finishes: its segment is closed.
  g_assert_true(run({"fsfreeze", "-u", mnt}));
  g_assert_true(wait_for([&] { return open_files_under(mnt) == 0; }, 10s));
}

// What /api/recordings says of a segment: `"name":"…"` and the number after `"field":`.
double listed(const std::string &json, const std::string &name, const std::string &field) {
  const size_t at = json.find("\"name\":\"" + name + "\"");
  g_assert_true(at != std::string::npos);
  const size_t f = json.find("\"" + field + "\":", at);
  g_assert_true(f != std::string::npos);
  return atof(json.c_str() + f + field.size() + 3);
}

// The recordings over HTTP behind an access token: /api/recordings lists every segment with its
// start (its first frame's capture time) and duration, from and to keep those that overlap; a
// segment answers a Range with 206 and the bytes asked, past its end with 416, and whole with
// 200 (what ffprobe plays); a stream token for /recordings reads but cannot delete (403), the
// access token deletes (204), and the segment being written cannot go (409).
void test_served() {
  TempDir dir;
  Camera camera("location=" + dir.path + " segment-seconds=1 access-token=SECRET", false);
  g_assert_true(camera.start());
  g_assert_true(wait_for([&] { return camera.count("started") >= 3; }, 15s));
  const camcast::test::Endpoint server(camera.record_port);
  std::string json, head, body;
  g_assert_cmpint(camcast::test::http_get(server, "/api/recordings", &json), ==, 401);
  g_assert_cmpint(camcast::test::http_get(server, "/api/recordings?token=SECRET", &json), ==, 200);
  g_test_message("%s", json.c_str());
  const std::vector<std::string> names = segments(dir.path);
  g_assert_cmpuint(names.size(), >=, 3);
  const std::string first = names[0], second = names[1];
  g_assert_cmpfloat(
      std::abs(listed(json, first, "start") + 2208988800.0 - first_capture(dir.path + "/" + first)),
      <, 0.002);
  g_assert_cmpfloat(listed(json, first, "duration"), >, 0.9);
  g_assert_cmpfloat(listed(json, first, "size"), ==,
                    double(read_file(dir.path + "/" + first).size()));
  g_assert_nonnull(strstr(json.c_str(), ("\"url\":\"/recordings/" + first + "\"").c_str()));
  const double second_start = listed(json, second, "start");
  g_assert_cmpint(
      camcast::test::http_get(
          server, "/api/recordings?token=SECRET&from=" + std::to_string(second_start + 0.01),
          &json),
      ==, 200);
  g_assert_null(strstr(json.c_str(), first.c_str()));
  g_assert_nonnull(strstr(json.c_str(), second.c_str()));

  const std::string url = "/recordings/" + first, bytes = read_file(dir.path + "/" + first);
  g_assert_cmpint(camcast::test::http_get(server, url + "?token=SECRET", &body, 3000, &head,
                                          "Range: bytes=100-1099\r\n"),
                  ==, 206);
  const std::string range = camcast::test::header_of(head, "Content-Range");
  const std::string expected = "bytes 100-1099/" + std::to_string(bytes.size());
  g_assert_cmpstr(range.c_str(), ==, expected.c_str());
  g_assert_true(body == bytes.substr(100, 1000));
  g_assert_cmpint(camcast::test::http_get(server, url + "?token=SECRET", &body, 3000, &head,
                                          "Range: bytes=" + std::to_string(bytes.size()) + "-\r\n"),
                  ==, 416);
  g_assert_cmpint(camcast::test::http_get(server, url + "?token=SECRET", &body), ==, 200);
  g_assert_true(body == bytes);
  const std::string copy = dir.path + "/downloaded.mp4";
  g_assert_true(g_file_set_contents(copy.c_str(), body.data(), gssize(body.size()), nullptr));
  g_assert_cmpuint(probe(copy).codecs.size(), ==, 1);

  std::string token;
  g_assert_cmpint(
      camcast::test::http_get(server, "/api/token?token=SECRET&path=/recordings", &token), ==, 200);
  const size_t at = token.find("\"token\":\"") + 9;
  token = token.substr(at, token.find('"', at) - at);
  g_assert_cmpint(camcast::test::http_get(server, url + "?token=" + token, &body), ==, 200);
  g_assert_cmpint(
      camcast::test::http_request(server, "DELETE", url + "?token=" + token, "", "", &body), ==,
      403);
  g_assert_true(g_file_test((dir.path + "/" + first).c_str(), G_FILE_TEST_EXISTS));
  g_assert_cmpint(
      camcast::test::http_request(server, "DELETE", url + "?token=SECRET", "", "", &body), ==, 204);
  g_assert_false(g_file_test((dir.path + "/" + first).c_str(), G_FILE_TEST_EXISTS));
  g_assert_cmpint(camcast::test::http_get(server, url + "?token=SECRET", &body), ==, 404);
  // The segment being written (its name from /api/streams) cannot go. It may end between the
  // question and the DELETE (a segment lasts a second here): then it goes (204); asked again.
  bool refused = false;
  for (int tries = 0; tries < 20 && !refused; tries++) {
    const std::string state = camera.recording_json("?token=SECRET");
    const size_t w = state.find("\"writing\":\"");
    if (w == std::string::npos) {
      std::this_thread::sleep_for(100ms);  // between two segments
      continue;
    }
    const std::string writing = state.substr(w + 11, state.find('"', w + 11) - w - 11);
    const int status = camcast::test::http_request(
        server, "DELETE", "/recordings/" + writing + "?token=SECRET", "", "", &body);
    g_assert_true(status == 409 || status == 204);
    refused = status == 409;
  }
  g_assert_true(refused);
}

// Bad settings and directories are refused at start, the reason naming what to change.
void test_refused_at_start() {
  TempDir dir;
  struct Case {
    std::string props, said;
  };
  TempDir readonly;
  readonly.mount_tmpfs("1M", "ro");
  const Case cases[] = {
      {"location=" + dir.path + "/missing", "does not exist"},
      {"location=" + dir.path + "/file", "is not a directory"},
      {"location=" + readonly.path, "cannot be written"},
      {"location=" + dir.path + " keep=7x", "keep=\"7x\" is not a duration"},
      {"location=" + dir.path + " min-free=lots", "min-free=\"lots\""},
  };
  g_assert_true(g_file_set_contents((dir.path + "/file").c_str(), "x", -1, nullptr));
  for (const Case &c : cases) {
    Camera camera(c.props, false);
    g_assert_false(camera.start());
    const std::string error = camera.first_error();
    g_test_message("%s: %s", c.props.c_str(), error.c_str());
    g_assert_nonnull(strstr(error.c_str(), c.said.c_str()));
  }
}

}  // namespace

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  g_test_init(&argc, &argv, nullptr);
  g_test_add_func("/recordsink/segments", test_segments);
  g_test_add_func("/recordsink/runs-never-overwrite", test_runs_never_overwrite);
  g_test_add_func("/recordsink/keep", test_keep);
  g_test_add_func("/recordsink/free-floor", test_free_floor);
  g_test_add_func("/recordsink/full-disk", test_full_disk);
  g_test_add_func("/recordsink/stalled-disk", test_stalled_disk);
  g_test_add_func("/recordsink/served", test_served);
  g_test_add_func("/recordsink/refused-at-start", test_refused_at_start);
  return g_test_run();
}
