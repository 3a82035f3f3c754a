// Camera settings: turning and flipping the picture, exposure, gain, white balance, brightness,
// contrast and focus, given as pipeline variables (`--set rotation=180`, or under [variables] of
// a pipeline file) and carried out by the camera's own controls where it has them — control
// properties of libcamerasrc on a Raspberry Pi camera, V4L2 controls (`v4l2src extra-controls`)
// on a USB webcam — so they cost no CPU. Only turning and flipping have a fallback, videoflip,
// for cameras that cannot; a setting a camera lacks otherwise is an error naming the variable.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace camcast::launcher {

// One control of a camera as its driver describes it: a V4L2 control (the names and numbers of
// `v4l2-ctl --list-ctrls`) or a control property of libcamerasrc (`gst-inspect-1.0`).
struct Control {
  enum class Kind { Int, Bool, Menu, Float, Enum };
  Kind kind = Kind::Int;
  double min = 0, max = 0, def = 0;
  std::vector<std::string> choices;  // Enum: the names of its values
};
using Controls = std::map<std::string, Control>;  // by name

// "int min=0 max=255 step=1 default=128" (v4l2-ctl's words; bool, menu and float alike) or
// "enum manual,auto,continuous" into `out`; false if it is neither.
bool parse_control(const std::string &text, Control *out);

enum class CameraKind { TestPattern, Libcamera, V4l2 };

// Every setting's variable with its default, which leaves the camera as it is.
const std::map<std::string, std::string> &camera_setting_defaults();

// A setting as a user gave it: the text, and where, for errors ("--set rotation", "FILE:LINE").
struct Given {
  std::string text;
  std::string where;
};

// How a camera carries out the settings.
struct CameraSetup {
  std::string source_properties;   // for the source element: " ae-enable=false …"
  std::string after;               // what follows the source's caps: " ! videoflip …", or ""
  std::vector<std::string> notes;  // for `camcast probe`: what went where
};

// `given` (names from camera_setting_defaults()) for a camera of `kind` with `controls`. False
// with every problem in `error`, a line each, each naming its variable and where it was set.
bool setup_camera(CameraKind kind, const Controls &controls,
                  const std::map<std::string, Given> &given, CameraSetup *out, std::string *error);

// The settings a camera offers, a line each, for `camcast probe`.
std::vector<std::string> describe_settings(CameraKind kind, const Controls &controls);

}  // namespace camcast::launcher
