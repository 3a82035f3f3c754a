#include "probe.h"

#include <gst/gst.h>

namespace camcast::launcher {

namespace {

// The element factories any probe may choose.
const char *const kProbedElements[] = {"libcamerasrc", "v4l2src",  "videotestsrc", "timeoverlay",
                                       "v4l2h264enc",  "x264enc",  "openh264enc",  "v4l2jpegenc",
                                       "jpegenc",      "mpeg1enc", "v4l2convert"};

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
  out->description = get("description");
  for (const std::string &e : split_list(get("elements").c_str()))
    out->elements.insert(e);
  out->libcamera_cameras = split_list(get("libcamera-cameras").c_str());
  out->v4l2_capture = split_list(get("v4l2-capture").c_str());
  g_key_file_free(kf);
  return true;
}

Probed probe(const Inventory &inv) {
  Probed p;
  auto has = [&](const char *e) { return inv.elements.count(e) > 0; };
  // Defaults the probes' choices use; a pipeline file's [variables] or --set override them.
  p.values = {{"address", "0.0.0.0"},  {"port", "8080"},          {"width", "1280"},
              {"height", "720"},       {"framerate", "30"},       {"bitrate", "2000"},
              {"gop", "60"},           {"mpeg1-bitrate", "1000"}, {"jpeg-quality", "80"},
              {"jpeg-framerate", "15"}};
  const std::string size = "video/x-raw,width=${width},height=${height},framerate=${framerate}/1";

  // ${camera}: raw video at ${width}x${height}, ${framerate} frames a second.
  if (has("libcamerasrc") && !inv.libcamera_cameras.empty()) {
    p.values["camera"] = "libcamerasrc camera-name=\"" + inv.libcamera_cameras.front() + "\" ! " +
                         size + ",format=NV12";
    p.report.push_back("camera: libcamerasrc, camera \"" + inv.libcamera_cameras.front() + "\"");
  } else if (has("v4l2src") && !inv.v4l2_capture.empty()) {
    p.values["camera"] = "v4l2src device=" + inv.v4l2_capture.front() +
                         " ! videoconvert ! videoscale ! videorate ! " + size;
    p.report.push_back("camera: v4l2src " + inv.v4l2_capture.front());
  } else {
    std::string pattern = "videotestsrc is-live=true pattern=smpte ! " + size;
    if (has("timeoverlay"))
      pattern += " ! timeoverlay halignment=center valignment=center font-desc=\"Sans 24\"";
    p.values["camera"] = pattern;
    p.report.push_back(std::string("camera: none found; a live test pattern") +
                       (has("timeoverlay") ? " with a clock" : "") +
                       (has("libcamerasrc") ? ""
                                            : " (no libcamerasrc: for a Raspberry Pi "
                                              "camera install gstreamer1.0-libcamera)"));
  }

  // ${h264enc}: from raw video to H.264 that browsers decode (4:2:0, SPS/PPS before every IDR).
  if (has("v4l2h264enc")) {
    p.values["h264enc"] =
        "v4l2convert ! v4l2h264enc extra-controls=\"controls,repeat_sequence_header=1,"
        "video_bitrate=${bitrate}000,h264_i_frame_period=${gop}\" ! "
        "video/x-h264,level=(string)4";
    p.report.push_back("h264enc: v4l2h264enc (hardware)");
  } else if (has("x264enc")) {
    // Without format=I420, x264enc picks 4:4:4 for some inputs, which browsers cannot decode.
    p.values["h264enc"] =
        "videoconvert ! video/x-raw,format=I420 ! x264enc tune=zerolatency "
        "speed-preset=ultrafast bitrate=${bitrate} key-int-max=${gop}";
    p.report.push_back("h264enc: x264enc (software, zero latency)");
  } else if (has("openh264enc")) {
    p.values["h264enc"] =
        "videoconvert ! video/x-raw,format=I420 ! openh264enc "
        "bitrate=${bitrate}000 gop-size=${gop} complexity=low";
    p.report.push_back("h264enc: openh264enc (software)");
  } else {
    p.report.push_back("h264enc: none (install gstreamer1.0-plugins-ugly for x264enc)");
  }

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
