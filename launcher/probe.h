// Probing: what fills ${camera}, ${h264enc}, ${mpeg1enc}, ${jpegenc} and ${microphone} on this
// machine, from what it has — elements and devices — so one preset serves a Raspberry Pi with a
// camera module and hardware encoders, a PC with a webcam, and a machine with neither (a test
// pattern, no sound). The camera settings (camera_settings.h) go into ${camera}.
#pragma once

#include "camera_settings.h"

#include <map>
#include <set>
#include <string>
#include <vector>

namespace camcast::launcher {

// What a machine has, as far as the probes care.
struct Inventory {
  std::string description;
  std::set<std::string> elements;              // GStreamer element factories present
  std::vector<std::string> libcamera_cameras;  // libcamera camera names (CSI camera modules)
  std::vector<std::string> v4l2_capture;       // V4L2 capture device paths (webcams)
  // The controls of each camera: by V4L2 device path, and "libcamerasrc" for its properties.
  std::map<std::string, Controls> controls;
  // ALSA capture devices (microphones, a webcam's among them) as plughw:CARD=ID,DEV=N, in the
  // kernel's order (/proc/asound/pcm).
  std::vector<std::string> alsa_capture;
  // The user's sound server if one runs: "PulseAudio" (PipeWire's pulse service answers as it
  // does), else "".
  std::string sound_server;
};

// This machine's inventory (GStreamer's registry and device monitor).
Inventory inventory_from_system();
// A recorded inventory (tests, bug reports): a key file with [machine] description, elements,
// libcamera-cameras, v4l2-capture, alsa-capture (lists separated by ';') and sound-server, and a
// group per camera's controls
// — [/dev/video0] or [libcamerasrc] — with a key each: `brightness = int min=0 max=255
// default=128`, as `v4l2-ctl --list-ctrls` or `gst-inspect-1.0 libcamerasrc` show them.
bool inventory_from_file(const std::string &path, Inventory *out, std::string *error);

struct Probed {
  // Variables: the probes' choices, and the built-in defaults they use (width, height,
  // framerate, bitrate, gop, …), which a file's [variables] or --set override.
  std::map<std::string, std::string> values;
  // For `camcast probe`: what each probe chose and why, or what to install.
  std::vector<std::string> report;
  // Camera settings the camera cannot take, a line each naming the variable; empty if none.
  std::string error;
};

// The probes' choices for `inventory`, with the camera `settings` given (any of
// camera_setting_defaults()) carried out by ${camera}, and ${microphone} chosen by `audio`:
// "auto" (a microphone if there is one), "off" or "test" (a test tone). An unknown `audio` is a
// mistake in `error`.
Probed probe(const Inventory &inventory, const std::map<std::string, Given> &settings = {},
             const Given &audio = {"auto", "the default"});

// The element name ${microphone} gives its source: an error from it is the microphone's.
constexpr const char *kMicrophoneName = "microphone";
// Whether the source a ${microphone} value names is there now (its ALSA card, or the sound
// server's socket; a test tone always is).
bool microphone_present(const std::string &microphone);

}  // namespace camcast::launcher
