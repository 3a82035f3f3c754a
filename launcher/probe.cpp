#include "probe.h"

#include <fcntl.h>
#include <gst/gst.h>
#include <linux/videodev2.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

namespace camcast::launcher {

namespace {

// The element factories any probe may choose.
const char *const kProbedElements[] = {
    "libcamerasrc", "v4l2src",      "videotestsrc", "timeoverlay", "v4l2h264enc", "x264enc",
    "openh264enc",  "v4l2jpegenc",  "jpegenc",      "mpeg1enc",    "v4l2convert", "alsasrc",
    "pulsesrc",     "audiotestsrc", "opusenc",      "avenc_mp2",   "voaacenc",    "avenc_aac"};

// The ALSA capture devices, from the kernel's list of PCMs: "00-00: USB Audio : USB Audio :
// capture 1" is card 0's device 0, named by the card's id (/proc/asound/card0/id: "C920") so
// that it stays the same whatever order the cards come in.
std::vector<std::string> alsa_capture_devices() {
  std::vector<std::string> out;
  g_autofree char *pcm = nullptr;
  if (!g_file_get_contents("/proc/asound/pcm", &pcm, nullptr, nullptr))
    return out;
  g_auto(GStrv) lines = g_strsplit(pcm, "\n", -1);
  for (char **line = lines; *line; line++) {
    int card = -1, device = -1;
    if (!strstr(*line, "capture") || sscanf(*line, "%d-%d:", &card, &device) != 2)
      continue;
    g_autofree char *id = nullptr;
    g_autofree char *id_path = g_strdup_printf("/proc/asound/card%d/id", card);
    if (!g_file_get_contents(id_path, &id, nullptr, nullptr))
      continue;
    out.push_back("plughw:CARD=" + std::string(g_strstrip(id)) + ",DEV=" + std::to_string(device));
  }
  return out;
}

// Whether the user's PulseAudio (or PipeWire's pulse service) answers: its socket is there.
bool pulse_server_running() {
  const char *server = g_getenv("PULSE_SERVER");
  if (server && g_str_has_prefix(server, "unix:"))
    return g_file_test(server + 5, G_FILE_TEST_EXISTS);
  if (server && *server)
    return true;  // a network server: taken on trust
  const std::string socket = std::string(g_get_user_runtime_dir()) + "/pulse/native";
  return g_file_test(socket.c_str(), G_FILE_TEST_EXISTS);
}

std::vector<std::string> split_list(const char *s) {
  std::vector<std::string> out;
  if (!s)
    return out;
  gchar **parts = g_strsplit(s, ";", -1);
  for (gchar **p = parts; *p; p++) {
    g_strstrip(*p);
    if (**p)
      out.emplace_back(*p);
  }
  g_strfreev(parts);
  return out;
}

// A V4L2 control's name as v4l2-ctl and v4l2src's extra-controls spell it: "Exposure Time,
// Absolute" is exposure_time_absolute.
std::string control_name(const char *kernel_name) {
  std::string out;
  for (const char *c = kernel_name; *c; c++)
    if (g_ascii_isalnum(*c)) {
      if (!out.empty() && !g_ascii_isalnum(c[-1]))
        out += '_';
      out += g_ascii_tolower(*c);
    }
  return out;
}

// The controls a V4L2 device lists (VIDIOC_QUERYCTRL, as v4l2-ctl --list-ctrls asks).
Controls v4l2_controls(const std::string &path) {
  Controls out;
  const int fd = open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    return out;
  v4l2_queryctrl q{};
  q.id = V4L2_CTRL_FLAG_NEXT_CTRL;
  while (ioctl(fd, VIDIOC_QUERYCTRL, &q) == 0) {
    Control c;
    c.min = q.minimum, c.max = q.maximum, c.def = q.default_value;
    const bool known = q.type == V4L2_CTRL_TYPE_INTEGER || q.type == V4L2_CTRL_TYPE_BOOLEAN ||
                       q.type == V4L2_CTRL_TYPE_MENU || q.type == V4L2_CTRL_TYPE_INTEGER_MENU;
    c.kind = q.type == V4L2_CTRL_TYPE_BOOLEAN   ? Control::Kind::Bool
             : q.type == V4L2_CTRL_TYPE_INTEGER ? Control::Kind::Int
                                                : Control::Kind::Menu;
    if (known && !(q.flags & V4L2_CTRL_FLAG_DISABLED))
      out[control_name(reinterpret_cast<const char *>(q.name))] = c;
    q.id |= V4L2_CTRL_FLAG_NEXT_CTRL;
  }
  close(fd);
  return out;
}

// libcamerasrc's own properties (its camera controls, in libcamera 0.4 and later).
Controls libcamerasrc_controls() {
  Controls out;
  GstElementFactory *factory = gst_element_factory_find("libcamerasrc");
  GstPluginFeature *loaded =
      factory ? gst_plugin_feature_load(GST_PLUGIN_FEATURE(factory)) : nullptr;
  if (factory)
    gst_object_unref(factory);
  if (!loaded)
    return out;
  const GType type = gst_element_factory_get_element_type(GST_ELEMENT_FACTORY(loaded));
  GObjectClass *klass = G_OBJECT_CLASS(g_type_class_ref(type));
  guint n = 0;
  GParamSpec **specs = g_object_class_list_properties(klass, &n);
  for (guint i = 0; i < n; i++) {
    GParamSpec *s = specs[i];
    Control c;
    if (s->owner_type != type)
      continue;
    if (G_IS_PARAM_SPEC_INT(s)) {
      const GParamSpecInt *p = G_PARAM_SPEC_INT(s);
      c.min = p->minimum, c.max = p->maximum, c.def = p->default_value;
    } else if (G_IS_PARAM_SPEC_INT64(s)) {
      const GParamSpecInt64 *p = G_PARAM_SPEC_INT64(s);
      c.min = double(p->minimum), c.max = double(p->maximum), c.def = double(p->default_value);
    } else if (G_IS_PARAM_SPEC_FLOAT(s)) {
      const GParamSpecFloat *p = G_PARAM_SPEC_FLOAT(s);
      c.kind = Control::Kind::Float;
      c.min = p->minimum, c.max = p->maximum, c.def = p->default_value;
    } else if (G_IS_PARAM_SPEC_BOOLEAN(s)) {
      c.kind = Control::Kind::Bool;
      c.max = 1, c.def = G_PARAM_SPEC_BOOLEAN(s)->default_value;
    } else if (G_IS_PARAM_SPEC_ENUM(s)) {
      c.kind = Control::Kind::Enum;
      const GEnumClass *e = G_PARAM_SPEC_ENUM(s)->enum_class;
      for (guint v = 0; v < e->n_values; v++)
        c.choices.emplace_back(e->values[v].value_nick);
    } else {
      continue;
    }
    out[s->name] = c;
  }
  g_free(specs);
  g_type_class_unref(klass);
  gst_object_unref(loaded);
  return out;
}

}  // namespace

Inventory inventory_from_system() {
  Inventory inv;
  inv.description = "this machine";
  for (const char *name : kProbedElements)
    if (GstElementFactory *f = gst_element_factory_find(name)) {
      inv.elements.insert(name);
      gst_object_unref(f);
    }
  GstDeviceMonitor *monitor = gst_device_monitor_new();
  gst_device_monitor_add_filter(monitor, "Video/Source", nullptr);
  if (gst_device_monitor_start(monitor)) {
    GList *devices = gst_device_monitor_get_devices(monitor);
    for (GList *l = devices; l; l = l->next) {
      GstDevice *device = GST_DEVICE(l->data);
      GstStructure *props = gst_device_get_properties(device);
      const char *api = props ? gst_structure_get_string(props, "device.api") : nullptr;
      const char *path = props ? gst_structure_get_string(props, "api.v4l2.path") : nullptr;
      if (!path && props)
        path = gst_structure_get_string(props, "device.path");
      g_autofree char *name = gst_device_get_display_name(device);
      if (api && g_str_equal(api, "libcamera"))
        inv.libcamera_cameras.emplace_back(name ? name : "");
      else if (path)
        inv.v4l2_capture.emplace_back(path);
      if (props)
        gst_structure_free(props);
    }
    g_list_free_full(devices, gst_object_unref);
    gst_device_monitor_stop(monitor);
  }
  gst_object_unref(monitor);
  for (const std::string &path : inv.v4l2_capture)
    inv.controls[path] = v4l2_controls(path);
  inv.alsa_capture = alsa_capture_devices();
  if (pulse_server_running())
    inv.sound_server = "PulseAudio";
  if (!inv.libcamera_cameras.empty())
    inv.controls["libcamerasrc"] = libcamerasrc_controls();
  return inv;
}

bool inventory_from_file(const std::string &path, Inventory *out, std::string *error) {
  GKeyFile *kf = g_key_file_new();
  GError *err = nullptr;
  if (!g_key_file_load_from_file(kf, path.c_str(), G_KEY_FILE_NONE, &err)) {
    *error = path + ": " + err->message;
    g_error_free(err);
    g_key_file_free(kf);
    return false;
  }
  auto get = [&](const char *key) -> std::string {
    gchar *v = g_key_file_get_string(kf, "machine", key, nullptr);
    std::string s = v ? v : "";
    g_free(v);
    return s;
  };
  *out = Inventory{};
  bool ok = true;
  out->description = get("description");
  for (const std::string &e : split_list(get("elements").c_str()))
    out->elements.insert(e);
  out->libcamera_cameras = split_list(get("libcamera-cameras").c_str());
  out->v4l2_capture = split_list(get("v4l2-capture").c_str());
  out->alsa_capture = split_list(get("alsa-capture").c_str());
  out->sound_server = get("sound-server");
  gchar **groups = g_key_file_get_groups(kf, nullptr);
  for (gchar **g = groups; *g && ok; g++) {
    if (g_str_equal(*g, "machine"))
      continue;
    Controls &controls = out->controls[*g];
    gchar **keys = g_key_file_get_keys(kf, *g, nullptr, nullptr);
    for (gchar **k = keys; *k && ok; k++) {
      g_autofree gchar *text = g_key_file_get_string(kf, *g, *k, nullptr);
      ok = text && parse_control(text, &controls[*k]);
      if (!ok)
        *error = path + ": [" + *g + "] " + *k +
                 ": not a control (int min=… max=… default=…, "
                 "or enum NAME,NAME…): " +
                 (text ? text : "");
    }
    g_strfreev(keys);
  }
  g_strfreev(groups);
  g_key_file_free(kf);
  return ok;
}

namespace {

// ${camera}: raw video at ${width}x${height}, ${framerate} frames a second, with the settings.
void probe_camera(const Inventory &inv, const std::map<std::string, Given> &settings, Probed *p) {
  auto has = [&](const char *e) { return inv.elements.count(e) > 0; };
  auto controls = [&](const std::string &key) {
    auto c = inv.controls.find(key);
    return c == inv.controls.end() ? Controls{} : c->second;
  };
  const std::string size = "video/x-raw,width=${width},height=${height},framerate=${framerate}/1";
  CameraKind kind = CameraKind::TestPattern;
  std::string device;
  if (has("libcamerasrc") && !inv.libcamera_cameras.empty())
    kind = CameraKind::Libcamera, device = inv.libcamera_cameras.front();
  else if (has("v4l2src") && !inv.v4l2_capture.empty())
    kind = CameraKind::V4l2, device = inv.v4l2_capture.front();
  const Controls offered = controls(kind == CameraKind::Libcamera ? "libcamerasrc" : device);
  CameraSetup setup;
  if (!setup_camera(kind, offered, settings, &setup, &p->error))
    return;
  if (kind == CameraKind::Libcamera) {
    p->values["camera"] = "libcamerasrc camera-name=\"" + device + "\"" + setup.source_properties +
                          " ! " + size + ",format=NV12" + setup.after;
    p->report.push_back("camera: libcamerasrc, camera \"" + device + "\"");
  } else if (kind == CameraKind::V4l2) {
    p->values["camera"] = "v4l2src device=" + device + setup.source_properties +
                          " ! videoconvert ! videoscale ! videorate ! " + size + setup.after;
    p->report.push_back("camera: v4l2src " + device);
  } else {
    std::string pattern = "videotestsrc is-live=true pattern=smpte ! " + size;
    if (has("timeoverlay"))
      pattern += " ! timeoverlay halignment=center valignment=center font-desc=\"Sans 24\"";
    p->values["camera"] = pattern + setup.after;
    p->report.push_back(std::string("camera: none found; a live test pattern") +
                        (has("timeoverlay") ? " with a clock" : "") +
                        (has("libcamerasrc") ? ""
                                             : " (no libcamerasrc: for a Raspberry Pi "
                                               "camera install gstreamer1.0-libcamera)"));
  }
  p->report.push_back("camera settings (--set NAME=VALUE, or under [variables]):");
  for (const std::string &line : describe_settings(kind, offered))
    p->report.push_back(line);
  for (const std::string &note : setup.notes)
    p->report.push_back("  now: " + note);
}

// ${microphone}: a live audio source named kMicrophoneName, by `audio` (probe.h); ${opusenc},
// raw audio to the Opus camcast's player takes, ${mp2enc}, to the MP2 JSMpeg takes, and
// ${aacenc}, to the AAC that RTSP's recorders (Home Assistant, Frigate) keep — Opus where there
// is no AAC encoder (rtspsink takes both).
void probe_microphone(const Inventory &inv, const Given &audio, Probed *p) {
  auto has = [&](const char *e) { return inv.elements.count(e) > 0; };
  const std::string name = std::string(" name=") + kMicrophoneName;
  if (audio.text != "auto" && audio.text != "off" && audio.text != "test") {
    p->error = audio.where + ": audio is auto (a microphone if there is one), off or test (a " +
               "test tone), not \"" + audio.text + "\"";
    return;
  }
  if (!has("opusenc")) {
    p->report.push_back("microphone: no sound (no opusenc: install gstreamer1.0-plugins-base)");
    return;
  }
  p->values["opusenc"] =
      "audioconvert ! audioresample ! "
      "audio/x-raw,rate=48000,channels=${audio-channels} ! "
      "opusenc bitrate=${audio-bitrate} frame-size=20";
  if (has("avenc_mp2"))
    p->values["mp2enc"] =
        "audioconvert ! audioresample ! "
        "audio/x-raw,rate=44100,channels=${audio-channels} ! "
        "avenc_mp2 bitrate=${mp2-bitrate}";
  else
    p->report.push_back("mp2enc: none, JSMpeg without sound (install gstreamer1.0-libav)");
  const char *aac = has("voaacenc") ? "voaacenc" : has("avenc_aac") ? "avenc_aac" : nullptr;
  p->values["aacenc"] = aac ? std::string(
                                  "audioconvert ! audioresample ! "
                                  "audio/x-raw,rate=48000,channels=${audio-channels} ! ") +
                                  aac + " bitrate=${aac-bitrate}"
                            : "${opusenc}";
  if (!aac)
    p->report.push_back(
        "aacenc: none, RTSP's sound in Opus, which Home Assistant does not record "
        "(install gstreamer1.0-plugins-bad for AAC)");
  const std::string card = inv.alsa_capture.empty() ? "" : inv.alsa_capture.front();
  if (audio.text == "off") {
    p->report.push_back("microphone: off (" + audio.where + ")");
  } else if (audio.text == "test") {
    p->values["microphone"] = "audiotestsrc" + name + " is-live=true wave=sine freq=440 volume=0.2";
    p->report.push_back("microphone: a test tone, 440 Hz (" + audio.where + ")");
  } else if (!card.empty() && !inv.sound_server.empty() && has("pulsesrc")) {
    // The sound server owns the card while it runs: through it, its default source.
    p->values["microphone"] = "pulsesrc" + name;
    p->report.push_back("microphone: " + inv.sound_server + "'s default source (pulsesrc; " + card +
                        " is there)");
  } else if (!card.empty() && has("alsasrc")) {
    p->values["microphone"] = "alsasrc" + name + " device=" + card;
    p->report.push_back("microphone: alsasrc " + card);
  } else {
    p->report.push_back("microphone: none found, no sound (--set audio=test for a test tone)");
  }
  if (p->values.count("microphone"))
    p->report.push_back("  sound on: --set audio=off turns it off");
}

}  // namespace

bool microphone_present(const std::string &microphone) {
  if (microphone.find("audiotestsrc") != std::string::npos)
    return true;
  if (microphone.find("pulsesrc") != std::string::npos)
    return pulse_server_running();
  const size_t card = microphone.find("CARD=");
  if (card == std::string::npos)
    return true;  // a source of the user's own: nothing to look for
  const size_t end = microphone.find_first_of(", ", card);
  const std::string id =
      microphone.substr(card + 5, end == std::string::npos ? end : end - card - 5);
  return g_file_test(("/proc/asound/" + id).c_str(), G_FILE_TEST_EXISTS);
}

Probed probe(const Inventory &inv, const std::map<std::string, Given> &settings,
             const Given &audio) {
  Probed p;
  auto has = [&](const char *e) { return inv.elements.count(e) > 0; };
  // Defaults the probes' choices use; a pipeline file's [variables] or --set override them.
  p.values = {{"address", "0.0.0.0"},
              {"port", "8080"},
              {"rtsp-port", "8554"},
              {"width", "1280"},
              {"height", "720"},
              {"framerate", "30"},
              {"bitrate", "2000"},
              {"gop", "60"},
              {"mpeg1-bitrate", "1000"},
              {"jpeg-quality", "80"},
              {"jpeg-framerate", "15"},
              {"audio-channels", "1"},
              {"audio-bitrate", "32000"},
              {"mp2-bitrate", "64000"},
              {"aac-bitrate", "64000"},
              // Lower renditions for viewers on narrow links (a pipeline's launch-rung).
              {"ladder", "640x360@500,320x180@150"},
              // Recordings (recordsink): segments of 5 minutes, kept while the disk has a tenth
              // free (record-keep=7d: a week at most); record-dir is the launcher's.
              {"segment-seconds", "300"},
              {"record-keep", "0"},
              {"record-min-free", "10%"}};
  p.values.insert(camera_setting_defaults().begin(), camera_setting_defaults().end());
  probe_camera(inv, settings, &p);
  if (p.error.empty())
    probe_microphone(inv, audio, &p);

  // ${h264enc}: from raw video to H.264 that browsers decode (4:2:0, SPS/PPS before every IDR).
  // Without format=I420, x264enc picks 4:4:4 for some inputs, which browsers cannot decode.
  const std::string x264 =
      "videoconvert ! video/x-raw,format=I420 ! x264enc tune=zerolatency "
      "speed-preset=ultrafast bitrate=${bitrate} key-int-max=${gop}";
  // ${rung-h264enc}: a lower rung's. A rung is for a link narrower than the top: x264's
  // keyframes no bigger than 200 ms of its bitrate (its VBV buffer; 600 ms by default), so one
  // passes such a link at once (tests/bench/ladder at 700 kbit/s: p95 246 ms with the default,
  // 105 ms with this).
  const std::string x264_rung = x264 + " vbv-buf-capacity=200";
  if (has("v4l2h264enc")) {
    p.values["h264enc"] = p.values["rung-h264enc"] =
        "v4l2convert ! v4l2h264enc extra-controls=\"controls,repeat_sequence_header=1,"
        "video_bitrate=${bitrate}000,h264_i_frame_period=${gop}\" ! "
        "video/x-h264,level=(string)4";
    p.report.push_back("h264enc: v4l2h264enc (hardware)");
    // The Pi's H.264 block carries level 4.0 — 245,760 macroblocks a second — for all its
    // streams together (docs/protocols.md 8.5): a rung past that is encoded in software.
    p.values["h264enc-budget"] = "245760";
    if (has("x264enc"))
      p.values["rung-h264enc-beyond"] = x264_rung;
  } else if (has("x264enc")) {
    p.values["h264enc"] = x264;
    p.values["rung-h264enc"] = x264_rung;
    p.report.push_back("h264enc: x264enc (software, zero latency)");
  } else if (has("openh264enc")) {
    p.values["h264enc"] = p.values["rung-h264enc"] =
        "videoconvert ! video/x-raw,format=I420 ! openh264enc "
        "bitrate=${bitrate}000 gop-size=${gop} complexity=low";
    p.report.push_back("h264enc: openh264enc (software)");
  } else {
    p.report.push_back("h264enc: none (install gstreamer1.0-plugins-ugly for x264enc)");
  }

  // ${rung-scaler}: the camera's picture made smaller for a lower rung — the Pi's ISP, else in
  // software.
  p.values["rung-scaler"] = has("v4l2convert") ? "v4l2convert" : "videoscale";

  // ${mpeg1enc}: MPEG-1 for JSMpeg at a frame rate MPEG-1 has.
  if (has("mpeg1enc")) {
    p.values["mpeg1enc"] =
        "videoconvert ! videorate ! video/x-raw,format=I420,framerate="
        "${framerate}/1 ! mpeg1enc bitrate=${mpeg1-bitrate} key-int-max=${gop}";
    p.report.push_back("mpeg1enc: mpeg1enc");
  } else {
    p.report.push_back("mpeg1enc: none (camcast's plugin is not on GST_PLUGIN_PATH)");
  }

  // ${jpegenc}: JPEG frames.
  if (has("v4l2jpegenc")) {
    p.values["jpegenc"] = "v4l2convert ! v4l2jpegenc";
    p.report.push_back("jpegenc: v4l2jpegenc (hardware)");
  } else if (has("jpegenc")) {
    p.values["jpegenc"] = "videoconvert ! jpegenc quality=${jpeg-quality}";
    p.report.push_back("jpegenc: jpegenc (software)");
  } else {
    p.report.push_back("jpegenc: none (install gstreamer1.0-plugins-good)");
  }
  return p;
}

}  // namespace camcast::launcher
