#include "camera_settings.h"

#include <glib.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace camcast::launcher {

namespace {

// A control set to a value, under the names different drivers (or versions) give it: the first
// the camera has is used. A value that is a word picks the enum value whose name contains it
// ("manual" is "manual" in libcamera 0.5 and "manual-focus" before).
using Switch = std::vector<std::pair<const char *, const char *>>;

// A numeric setting on one kind of camera.
struct Rule {
  const char *setting;
  const char *automatic;            // the word that leaves it to the camera
  const char *unit;                 // of the setting, for messages
  Switch manual;                    // what turns the camera's own choice off first
  std::vector<const char *> value;  // the control that takes the value
  double scale;                     // one unit of the setting in the control's units
};

// V4L2 names as v4l2-ctl and v4l2src's extra-controls spell them; older kernels' names second.
const Rule kV4l2Rules[] = {
    {"exposure",
     "auto",
     "microseconds",
     {{"auto_exposure", "1"}, {"exposure_auto", "1"}},  // 1: manual
     {"exposure_time_absolute", "exposure_absolute"},
     0.01},  // in units of 100 µs
    {"gain", "auto", "", {{"gain_automatic", "0"}, {"autogain", "0"}}, {"gain"}, 1},
    {"white-balance",
     "auto",
     "K",
     {{"white_balance_automatic", "0"}, {"white_balance_temperature_auto", "0"}},
     {"white_balance_temperature"},
     1},
    {"brightness", "default", "", {}, {"brightness"}, 1},
    {"contrast", "default", "", {}, {"contrast"}, 1},
    {"focus",
     "auto",
     "",
     {{"focus_automatic_continuous", "0"}, {"focus_auto", "0"}},
     {"focus_absolute"},
     1},
};
const Switch kV4l2ContinuousFocus = {{"focus_automatic_continuous", "1"}, {"focus_auto", "1"}};

// libcamerasrc's control properties (libcamera 0.4 and later name one after each control).
const Rule kLibcameraRules[] = {
    {"exposure",
     "auto",
     "microseconds",
     {{"exposure-time-mode", "manual"}, {"ae-enable", "false"}},
     {"exposure-time"},
     1},
    {"gain",
     "auto",
     "",
     {{"analogue-gain-mode", "manual"}, {"ae-enable", "false"}},
     {"analogue-gain"},
     1},
    {"white-balance", "auto", "K", {{"awb-enable", "false"}}, {"colour-temperature"}, 1},
    {"brightness", "default", "", {}, {"brightness"}, 1},
    {"contrast", "default", "", {}, {"contrast"}, 1},
    {"focus", "auto", "", {{"af-mode", "manual"}}, {"lens-position"}, 1},
};
const Switch kLibcameraContinuousFocus = {{"af-mode", "continuous"},
                                          {"auto-focus-mode", "continuous"}};

// `value` as `control` takes it ("" if it can't: an enum without a value of that name).
std::string control_value(const Control &control, const std::string &value) {
  if (control.kind != Control::Kind::Enum)
    return value;
  for (const std::string &choice : control.choices)
    if (choice.find(value) != std::string::npos)
      return choice;
  return "";
}

// The first entry of `s` the camera has, as (name, value); empty name if none.
std::pair<std::string, std::string> first_present(const Controls &controls, const Switch &s) {
  for (const auto &[name, value] : s)
    if (auto c = controls.find(name); c != controls.end())
      if (std::string v = control_value(c->second, value); !v.empty())
        return {name, v};
  return {};
}

const char *first_present(const Controls &controls, const std::vector<const char *> &names) {
  for (const char *name : names)
    if (controls.count(name))
      return name;
  return nullptr;
}

std::string number(double v, bool integer) {
  if (integer)
    return std::to_string(std::lround(v));
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  return g_ascii_formatd(buf, sizeof buf, "%.10g", v);
}

bool is_integer(const Control &c) {
  return c.kind != Control::Kind::Float;
}

// A dihedral transform: mirror left-right first if `mirror`, then turn clockwise by `turn`.
struct Transform {
  bool mirror = false;
  int turn = 0;
};

// hflip, then vflip, then rotation (vflip is a mirror turned 180 degrees).
Transform compose(bool hflip, bool vflip, int rotation) {
  return {hflip != vflip, (rotation + (vflip ? 180 : 0)) % 360};
}

// videoflip's name for `t`.
const char *video_direction(Transform t) {
  static const char *const plain[] = {"identity", "90r", "180", "90l"};
  static const char *const mirrored[] = {"horiz", "ur-ll", "vert", "ul-lr"};
  return (t.mirror ? mirrored : plain)[t.turn / 90];
}

const Rule *rules(CameraKind kind, size_t *n) {
  *n = kind == CameraKind::V4l2 ? std::size(kV4l2Rules) : std::size(kLibcameraRules);
  return kind == CameraKind::V4l2 ? kV4l2Rules : kLibcameraRules;
}

// The range a rule's control takes, in the setting's units ("300 to 204700 µs").
std::string range_words(const Rule &rule, const Control &c) {
  const std::string unit = *rule.unit ? std::string(" ") + rule.unit : "";
  return number(c.min / rule.scale, is_integer(c) && rule.scale == 1) + " to " +
         number(c.max / rule.scale, is_integer(c) && rule.scale == 1) + unit;
}

// Collects what the settings set, each control once, in order (automatic modes before values).
struct Plan {
  bool test_pattern = false;         // checks the values only, and keeps them for a camera
  std::vector<std::string> ignored;  // test pattern: the settings it kept
  std::vector<std::pair<std::string, std::string>> sets;
  std::vector<std::string> problems;
  void set(const std::string &name, const std::string &value) {
    if (name.empty())
      return;
    auto same = [&](const auto &s) { return s.first == name; };
    if (std::find_if(sets.begin(), sets.end(), same) == sets.end())
      sets.emplace_back(name, value);
  }
};

// One numeric setting (or focus=continuous) into `plan`.
void apply_rule(const Rule &rule, const Controls &controls, const Switch &continuous,
                const Given &given, Plan *plan) {
  auto problem = [&](const std::string &what) {
    plan->problems.push_back(given.where + ": " + rule.setting + " " + what);
  };
  if (given.text == rule.automatic)
    return;
  const bool continuous_focus = std::string(rule.setting) == "focus" && given.text == "continuous";
  char *end = nullptr;
  const double v = g_ascii_strtod(given.text.c_str(), &end);
  if (!continuous_focus && (given.text.empty() || *end || !std::isfinite(v))) {
    problem(std::string("is ") + rule.automatic +
            (std::string(rule.setting) == "focus" ? ", continuous" : "") + " or a number" +
            (*rule.unit ? std::string(" in ") + rule.unit : "") + ", not \"" + given.text + "\"");
    return;
  }
  if (plan->test_pattern) {
    plan->ignored.push_back(rule.setting);
    return;
  }
  if (continuous_focus) {
    const auto on = first_present(controls, continuous);
    if (on.first.empty())
      problem("continuous: this camera has no continuous autofocus");
    plan->set(on.first, on.second);
    return;
  }
  const char *name = first_present(controls, rule.value);
  if (!name) {
    problem("cannot be set: this camera has no such control (camcast probe lists what it has)");
    return;
  }
  const Control &c = controls.at(name);
  const double raw = v * rule.scale;
  if (raw < c.min || raw > c.max) {
    problem(given.text + " is outside this camera's range, " + range_words(rule, c));
    return;
  }
  const auto off = first_present(controls, rule.manual);
  plan->set(off.first, off.second);
  plan->set(name, number(raw, is_integer(c)));
}

bool parse_bool(const std::string &text, bool *out) {
  if (text != "true" && text != "false")
    return false;
  *out = text == "true";
  return true;
}

// rotation, hflip and vflip: by the camera's flip controls when it has them and the transform is
// one they make (a V4L2 `rotate` control turns without mirroring), else one videoflip.
void apply_transform(CameraKind kind, const Controls &controls,
                     const std::map<std::string, Given> &given, Plan *plan, CameraSetup *out) {
  int rotation = 0;
  bool flips[2] = {false, false};
  if (auto r = given.find("rotation"); r != given.end()) {
    const std::string &t = r->second.text;
    if (t == "0" || t == "90" || t == "180" || t == "270")
      rotation = atoi(t.c_str());
    else
      plan->problems.push_back(r->second.where + ": rotation is 0, 90, 180 or 270 (degrees " +
                               "clockwise), not \"" + t + "\"");
  }
  const char *flip_names[2] = {"hflip", "vflip"};
  for (int i = 0; i < 2; i++)
    if (auto f = given.find(flip_names[i]);
        f != given.end() && !parse_bool(f->second.text, &flips[i]))
      plan->problems.push_back(f->second.where + ": " + flip_names[i] +
                               " is true or false, not \"" + f->second.text + "\"");
  const Transform t = compose(flips[0], flips[1], rotation);
  if (!t.mirror && t.turn == 0)
    return;
  const bool v4l2 = kind == CameraKind::V4l2;
  if (v4l2 && controls.count("horizontal_flip") && controls.count("vertical_flip") &&
      t.turn % 180 == 0) {
    plan->set("horizontal_flip", t.mirror != (t.turn == 180) ? "1" : "0");
    plan->set("vertical_flip", t.turn == 180 ? "1" : "0");
    out->notes.push_back("rotation and flips: by the camera (horizontal_flip, vertical_flip)");
  } else if (v4l2 && !t.mirror && controls.count("rotate") && controls.at("rotate").max >= 270) {
    plan->set("rotate", std::to_string(t.turn));
    out->notes.push_back("rotation: by the camera (rotate)");
  } else {
    out->after = std::string(" ! videoflip video-direction=") + video_direction(t);
    out->notes.push_back(std::string("rotation and flips: videoflip ") + video_direction(t) +
                         " (the camera cannot; this costs CPU)");
  }
}

}  // namespace

bool parse_control(const std::string &text, Control *out) {
  *out = Control{};
  gchar **words = g_strsplit_set(text.c_str(), " \t", -1);
  bool ok = words[0] != nullptr;
  const std::string kind = ok ? words[0] : "";
  static const std::pair<const char *, Control::Kind> kinds[] = {
      {"int", Control::Kind::Int},      {"int64", Control::Kind::Int},
      {"bool", Control::Kind::Bool},    {"menu", Control::Kind::Menu},
      {"intmenu", Control::Kind::Menu}, {"float", Control::Kind::Float},
      {"enum", Control::Kind::Enum}};
  auto k = std::find_if(std::begin(kinds), std::end(kinds),
                        [&](const auto &p) { return kind == p.first; });
  ok = k != std::end(kinds);
  if (ok)
    out->kind = k->second;
  if (out->kind == Control::Kind::Bool)
    out->max = 1;
  for (gchar **w = ok ? words + 1 : words; ok && *w; w++) {
    const char *eq = strchr(*w, '=');
    if (!**w)
      continue;
    if (!eq && out->kind == Control::Kind::Enum && out->choices.empty()) {
      gchar **names = g_strsplit(*w, ",", -1);
      for (gchar **n = names; *n; n++)
        out->choices.emplace_back(*n);
      g_strfreev(names);
      continue;
    }
    if (!eq)
      continue;
    const std::string key(*w, eq - *w);
    double *field = key == "min"       ? &out->min
                    : key == "max"     ? &out->max
                    : key == "default" ? &out->def
                                       : nullptr;
    if (field)
      *field = g_ascii_strtod(eq + 1, nullptr);
  }
  g_strfreev(words);
  return ok && (out->kind != Control::Kind::Enum || !out->choices.empty());
}

const std::map<std::string, std::string> &camera_setting_defaults() {
  static const std::map<std::string, std::string> defaults = {
      {"rotation", "0"},    {"hflip", "false"},        {"vflip", "false"},
      {"exposure", "auto"}, {"gain", "auto"},          {"white-balance", "auto"},
      {"focus", "auto"},    {"brightness", "default"}, {"contrast", "default"}};
  return defaults;
}

bool setup_camera(CameraKind kind, const Controls &controls,
                  const std::map<std::string, Given> &given, CameraSetup *out, std::string *error) {
  *out = CameraSetup{};
  Plan plan;
  plan.test_pattern = kind == CameraKind::TestPattern;
  size_t n = 0;
  const Rule *table = rules(kind, &n);
  const Switch &continuous =
      kind == CameraKind::V4l2 ? kV4l2ContinuousFocus : kLibcameraContinuousFocus;
  for (const Rule *rule = table; rule != table + n; rule++)
    if (auto g = given.find(rule->setting); g != given.end())
      apply_rule(*rule, controls, continuous, g->second, &plan);
  if (!plan.ignored.empty())
    out->notes.push_back("the test pattern has no " + plan.ignored.front() +
                         (plan.ignored.size() > 1 ? " (nor the other settings)" : "") +
                         ": kept for a camera");
  apply_transform(kind, controls, given, &plan, out);
  if (!plan.problems.empty()) {
    error->clear();
    for (const std::string &p : plan.problems)
      *error += (error->empty() ? "" : "\n") + p;
    return false;
  }
  if (plan.sets.empty())
    return true;
  std::string list;
  for (const auto &[name, value] : plan.sets)
    list += (kind == CameraKind::V4l2 ? "," : " ") + name + "=" + value;
  out->source_properties =
      kind == CameraKind::V4l2 ? " extra-controls=\"controls" + list + "\"" : list;
  return true;
}

std::vector<std::string> describe_settings(CameraKind kind, const Controls &controls) {
  std::vector<std::string> lines;
  CameraSetup flips;
  Plan plan;
  apply_transform(kind, controls, {{"rotation", {"180", ""}}}, &plan, &flips);
  lines.push_back(std::string("  rotation 0|90|180|270, hflip, vflip true|false: ") +
                  (flips.after.empty() ? "by the camera for 0 and 180, videoflip for 90 and 270"
                                       : "videoflip (the camera has no flip controls)"));
  if (kind == CameraKind::TestPattern) {
    lines.push_back(
        "  exposure, gain, white-balance, brightness, contrast, focus: a camera's; the "
        "test pattern has none");
    return lines;
  }
  size_t n = 0;
  const Rule *table = rules(kind, &n);
  for (const Rule *rule = table; rule != table + n; rule++) {
    const char *name = first_present(controls, rule->value);
    std::string line = std::string("  ") + rule->setting + " " + rule->automatic;
    if (std::string(rule->setting) == "focus" &&
        !first_present(controls,
                       kind == CameraKind::V4l2 ? kV4l2ContinuousFocus : kLibcameraContinuousFocus)
             .first.empty())
      line += "|continuous";
    if (name)
      line += "|" + range_words(*rule, controls.at(name)) + " (" + name + ", default " +
              number(controls.at(name).def / rule->scale, is_integer(controls.at(name))) + ")";
    else
      line += " (the camera has no control for it)";
    lines.push_back(line);
  }
  return lines;
}

}  // namespace camcast::launcher
