// The launcher's pipeline files (errors name file and line), variable resolution, and the
// probes against recorded machines (no camera exists here).
#include "output_part.h"
#include "pipeline_file.h"
#include "probe.h"

#include <glib.h>

#include <cstring>
#include <set>
#include <string>

using namespace camcast::launcher;

namespace {

// The error a pipeline file text gives, "" when it parses.
std::string error_of(const std::string &text) {
  PipelineFile f;
  std::string error;
  return parse_pipeline_file("cam.pipeline", text, &f, &error) ? "" : error;
}

void expect_error(const std::string &text, const char *want) {
  const std::string got = error_of(text);
  if (got.find(want) == std::string::npos)
    g_error("expected an error containing \"%s\", got \"%s\"", want, got.c_str());
}

void test_parses_groups_continuations_and_supervise() {
  PipelineFile f;
  std::string error;
  const char *text =
      "# a comment\n"
      "[pipeline]\n"
      "description = A camera\n"
      "launch = videotestsrc ! \\\n"
      "    queue ! \\\n"
      "    fakesink name=${sink}\n"
      "\n"
      "[variables]\n"
      "sink = out\n"
      "title = two\\swords\n"
      "[supervise]\n"
      "restart = on-failure\n"
      "backoff-initial = 100\n"
      "stall-timeout = 2\n"
      "linger = 0\n"
      "on-demand = true\n"
      "on-demand-linger = 30\n";
  g_assert_true(parse_pipeline_file("dir/cam.pipeline", text, &f, &error));
  g_assert_true(f.name == "cam");
  g_assert_true(f.description == "A camera");
  g_assert_true(f.launch.text == "videotestsrc ! queue ! fakesink name=${sink}");
  g_assert_cmpint(f.launch.line, ==, 4);
  g_assert_true(f.variables.at("title").text == "two words");
  g_assert_cmpint(f.variables.at("sink").line, ==, 9);
  g_assert_true(f.supervise.restart == Restart::OnFailure);
  g_assert_cmpint(f.supervise.backoff_initial_ms, ==, 100);
  g_assert_cmpint(f.supervise.stall_timeout_s, ==, 2);
  g_assert_cmpint(f.supervise.linger_s, ==, 0);
  g_assert_true(f.supervise.on_demand);
  g_assert_cmpint(f.supervise.on_demand_linger_s, ==, 30);
}

void test_errors_name_the_line() {
  expect_error("[pipeline]\nlaunch = a ! b\n[camera]\n", "cam.pipeline:3: unknown group [camera]");
  expect_error("[pipeline]\nlaunch a ! b\n", "cam.pipeline:2: expected KEY = VALUE");
  expect_error("launch = a\n", "cam.pipeline:1: \"launch\" comes before any [group]");
  expect_error("[pipeline]\nlaunch = a\nsource = b\n", "cam.pipeline:3: unknown key \"source\"");
  expect_error("[pipeline]\nlaunch = a\nlaunch = b\n", "cam.pipeline:3: \"launch\" is set twice");
  expect_error("[pipeline]\ndescription = x\n", "no launch line");
  expect_error("[pipeline]\nlaunch = a\n[supervise]\nrestart = sometimes\n",
               "cam.pipeline:4: restart is always, on-failure or never");
  expect_error("[pipeline]\nlaunch = a\n[supervise]\n\nstall-timeout = soon\n",
               "cam.pipeline:5: stall-timeout must be a whole number");
  expect_error("[pipeline]\nlaunch = a\n[pipeline]\n", "cam.pipeline:3: [pipeline] appears twice");
  expect_error("[pipeline]\nlaunch = a\n[supervise]\non-demand = yes\n",
               "cam.pipeline:4: on-demand is true or false");
  expect_error("[pipeline\n", "cam.pipeline:1: a group header must end with ']'");
  expect_error("[pipeline]\nlaunch = a\\q\n", "cam.pipeline:2: bad escape");
  // A continued line reports where it starts.
  expect_error("[pipeline]\nlaunch = a \\\n  b\n[supervise]\nlinger = \\\n  -1\n",
               "cam.pipeline:5: linger must be");
}

// output-NAME keys: parsed by name; each takes from the launch line's elements it names (each
// becomes its part's appsrc, and the launch line gets a bridge to it), never gives to them.
void test_outputs() {
  PipelineFile f;
  std::string error;
  g_assert_true(parse_pipeline_file(
      "cam.pipeline",
      "[pipeline]\nlaunch = videotestsrc ! tee name=t t. ! fakesink\n"
      "output-push = t. ! queue ! mpegtsmux name=mux ! srtsink uri=\"srt://h:1?a=b. c\" \\\n"
      "  sound. ! mux.\n",
      &f, &error));
  g_assert_cmpuint(f.outputs.size(), ==, 1);
  g_assert_cmpint(f.outputs.at("push").line, ==, 3);
  // A part of the launch line that ${NAME}=off leaves out: read, and NAME is a variable.
  PipelineFile parts;
  g_assert_true(parse_pipeline_file("cam.pipeline",
                                    "[pipeline]\nlaunch = videotestsrc ! tee name=t\n"
                                    "launch-rtsp = t. ! rtspsink rtsp-port=${rtsp-port}\n",
                                    &parts, &error));
  g_assert_cmpint(parts.parts.at("rtsp").line, ==, 3);
  const std::set<std::string> names = variable_names(parts);
  g_assert_true(names.count("rtsp") && names.count("rtsp-port"));
  g_assert_false(parse_pipeline_file("cam.pipeline",
                                     "[pipeline]\nlaunch = videotestsrc ! fakesink\n"
                                     "launch-RTSP = t. ! fakesink\n",
                                     &parts, &error));
  g_assert_nonnull(strstr(error.c_str(), "cam.pipeline:3: unknown key \"launch-RTSP\""));
  // A part's sound: read under the part's name; it needs the part and the sound's branches.
  g_assert_true(parse_pipeline_file("cam.pipeline",
                                    "[pipeline]\nlaunch = videotestsrc ! tee name=t\n"
                                    "launch-audio = ${microphone} ! tee name=sound\n"
                                    "launch-rtsp = t. ! rtspsink name=rtsp\n"
                                    "launch-audio-rtsp = sound. ! ${aacenc} ! rtsp.audio\n",
                                    &parts, &error));
  g_assert_cmpint(parts.part_audio.at("rtsp").line, ==, 5);
  g_assert_false(parts.parts.count("audio-rtsp"));
  g_assert_true(variable_names(parts).count("aacenc"));
  g_assert_false(parse_pipeline_file("cam.pipeline",
                                     "[pipeline]\nlaunch = videotestsrc ! tee name=t\n"
                                     "launch-audio-rtsp = sound. ! rtsp.audio\n",
                                     &parts, &error));
  g_assert_nonnull(strstr(error.c_str(),
                          "cam.pipeline:3: launch-audio-rtsp is the sound of a "
                          "part launch-rtsp, which this file does not have"));
  g_assert_false(parse_pipeline_file("cam.pipeline",
                                     "[pipeline]\nlaunch = videotestsrc ! tee name=t\n"
                                     "launch-rtsp = t. ! rtspsink name=rtsp\n"
                                     "launch-audio-rtsp = sound. ! rtsp.audio\n",
                                     &parts, &error));
  g_assert_nonnull(strstr(error.c_str(),
                          "cam.pipeline:4: launch-audio-rtsp adds to the sound's "
                          "branches, which need launch-audio"));
  OutputSpec o{"push", f.outputs.at("push").text, "", {}};
  g_assert_true(prepare_output(&o, &error));
  // `mux.` is the output's own; the quoted "b. c" is a value, not a reference.
  g_assert_cmpstr(o.part_launch.c_str(), ==,
                  "appsrc name=camcast-from-t is-live=true format=time do-timestamp=false "
                  "max-bytes=0 ! queue ! mpegtsmux name=mux ! srtsink uri=\"srt://h:1?a=b. c\" "
                  "appsrc name=camcast-from-sound is-live=true format=time do-timestamp=false "
                  "max-bytes=0 ! mux.");
  g_assert_true((o.takes == std::vector<std::string>{"t", "sound"}));
  const std::string bridges =
      output_bridges({o}, "videotestsrc ! tee name=t fakesrc ! tee name=sound");
  g_assert_cmpstr(bridges.c_str(), ==,
                  " t. ! queue leaky=downstream ! appsink name=camcast-output-push-t sync=false "
                  "async=false emit-signals=false enable-last-sample=false max-buffers=1"
                  " sound. ! queue leaky=downstream ! appsink name=camcast-output-push-sound "
                  "sync=false async=false emit-signals=false enable-last-sample=false "
                  "max-buffers=1");
  // Without its sound the line has no `sound.`: no bridge to it.
  g_assert_null(strstr(output_bridges({o}, "videotestsrc ! tee name=t").c_str(), "sound."));
  auto refused = [](const char *launch, const char *why) {
    OutputSpec bad{"x", launch, "", {}};
    std::string error;
    g_assert_false(prepare_output(&bad, &error));
    if (!strstr(error.c_str(), why))
      g_error("\"%s\": %s", launch, error.c_str());
  };
  refused("t. ! queue ! video.audio", "gives to video.audio of the launch line");
  refused("t. ! queue ! tee2.", "gives to tee2. of the launch line");
  refused("audiotestsrc ! fakesink", "takes nothing from the launch line");
  refused("t. ! fakesink t. ! fakesink", "takes from t. twice");
  expect_error("[pipeline]\nlaunch = a\noutput-Bad = b\n", "cam.pipeline:3: unknown key");
}

// A '#' after a space starts a comment, also after a value or a continuation's backslash; not
// inside quotes, not in a word.
void test_trailing_comments() {
  PipelineFile f;
  std::string error;
  const char *text =
      "[pipeline]  # the pipeline\n"
      "launch = videotestsrc ! textoverlay text=\"cam #1\" ! \\  # continued\n"
      "  fakesink name=a#b   # the sink\n"
      "[supervise]\n"
      "backoff-initial = 250   # ms before the first restart, doubling each time\n"
      "on-demand = true\t# camera off while nobody watches\n";
  g_assert_true(parse_pipeline_file("cam.pipeline", text, &f, &error));
  g_assert_cmpstr(f.launch.text.c_str(), ==,
                  "videotestsrc ! textoverlay text=\"cam #1\" ! fakesink name=a#b");
  g_assert_cmpint(f.supervise.backoff_initial_ms, ==, 250);
  g_assert_true(f.supervise.on_demand);
}

// Every problem of a file in one run, in line order, each on its own line.
void test_every_problem_in_line_order() {
  const std::string got = error_of(
      "[pipeline]\n"
      "launch = a\n"
      "colour = red\n"
      "[supervise]\n"
      "stall-timeout = soon\n"
      "backoff-initial = -1\n"
      "restart = sometimes\n"
      "linger = x\n");
  g_test_message("%s", got.c_str());
  const std::string want =
      "cam.pipeline:3: unknown key \"colour\" in [pipeline]; it takes description, launch, "
      "launch-audio, launch-rung, launch-NAME, launch-audio-NAME and output-NAME (NAME in "
      "lower-case letters, digits and '-')\n"
      "cam.pipeline:5: stall-timeout must be a whole number from 0 to 3600, not \"soon\"\n"
      "cam.pipeline:6: backoff-initial must be a whole number from 0 to 600000, not \"-1\"\n"
      "cam.pipeline:7: restart is always, on-failure or never, not \"sometimes\"\n"
      "cam.pipeline:8: linger must be a whole number from 0 to 3600, not \"x\"";
  g_assert_cmpstr(got.c_str(), ==, want.c_str());
}

void test_variables_resolve_in_order() {
  PipelineFile f;
  std::string error, launch;
  g_assert_true(parse_pipeline_file("cam.pipeline",
                                    "[pipeline]\nlaunch = ${camera} ! x port=${port} w=${width}\n"
                                    "[variables]\nport = 9000\nwidth = ${size}\nsize = 640\n",
                                    &f, &error));
  const std::map<std::string, std::string> probed = {{"camera", "src w=${width}"},
                                                     {"port", "8080"}};
  g_assert_true(resolve_launch(f, {}, probed, &launch, &error));
  g_assert_true(launch == "src w=640 ! x port=9000 w=640");  // the file beats the probes
  g_assert_true(resolve_launch(f, {{"port", "1"}, {"size", "320"}}, probed, &launch, &error));
  g_assert_true(launch == "src w=320 ! x port=1 w=320");  // --set beats the file
}

void test_resolution_errors() {
  PipelineFile f;
  std::string error, launch;
  g_assert_true(
      parse_pipeline_file("cam.pipeline", "[pipeline]\n\nlaunch = a ! ${nope}\n", &f, &error));
  g_assert_false(resolve_launch(f, {}, {}, &launch, &error));
  g_assert_true(error ==
                "cam.pipeline:3: ${nope} is not defined: add it under [variables] or "
                "pass --set nope=VALUE");
  g_assert_true(parse_pipeline_file(
      "cam.pipeline", "[pipeline]\nlaunch = ${a}\n[variables]\na = ${b}\nb = x ${a}\n", &f,
      &error));
  g_assert_false(resolve_launch(f, {}, {}, &launch, &error));
  g_assert_true(error.find("${a} refers to itself") != std::string::npos);
  g_assert_true(error.rfind("cam.pipeline:5:", 0) == 0);  // where the cycle closes
  // Forty variables, each the one before twice (2^40 bytes, and steps, taken literally):
  // refused at once, naming where.
  std::string file = "[pipeline]\nlaunch = ${v40}\n[variables]\nv0 = x\n";
  for (int i = 1; i <= 40; i++)
    file += "v" + std::to_string(i) + " = ${v" + std::to_string(i - 1) + "}${v" +
            std::to_string(i - 1) + "}\n";
  g_assert_true(parse_pipeline_file("big.pipeline", file, &f, &error));
  const gint64 started = g_get_monotonic_time();
  g_assert_false(resolve_launch(f, {}, {}, &launch, &error));
  g_test_message("%s (after %" G_GINT64_FORMAT " ms)", error.c_str(),
                 (g_get_monotonic_time() - started) / 1000);
  g_assert_cmpint(g_get_monotonic_time() - started, <, 2 * G_USEC_PER_SEC);
  g_assert_true(error.find("longer than 64 KiB") != std::string::npos);
  g_assert_true(error.rfind("big.pipeline:", 0) == 0);
}

// The ladder: rungs from ${ladder}, launch-rung once per rung with its variables (its bitrate
// in ${bitrate}), none when off or for a camera no larger than the rungs, and bad ladders named.
void test_ladder() {
  std::vector<LadderRung> rungs;
  std::string why;
  g_assert_true(parse_ladder("640x360@500, 320x180@150", 1280, &rungs, &why));
  g_assert_cmpuint(rungs.size(), ==, 2);
  g_assert_cmpint(rungs[1].width, ==, 320);
  g_assert_cmpint(rungs[1].kbps, ==, 150);
  g_assert_true(parse_ladder("off", 1280, &rungs, &why) && rungs.empty());
  g_assert_true(parse_ladder("640x360@500,320x180@150", 640, &rungs, &why));
  g_assert_cmpuint(rungs.size(), ==, 1);  // a 640-wide camera: 320x180 alone
  for (const char *bad : {"640x360", "640x360@", "641x360@500", "640x360@5", "a,b", "640x360@500x"})
    g_assert_false(parse_ladder(bad, 1280, &rungs, &why));
  g_assert_false(parse_ladder("320x180@150,640x360@500", 1280, &rungs, &why));
  g_assert_true(why.find("from the largest down") != std::string::npos);
  g_assert_false(
      parse_ladder("960x540@900,640x360@500,480x270@300,320x180@150", 1280, &rungs, &why));

  PipelineFile f;
  std::string error, out;
  g_assert_true(parse_pipeline_file(
      "cam.pipeline",
      "[pipeline]\nlaunch = src ! enc b=${bitrate} ! v.\n"
      "launch-rung = camera. ! scale ${rung-width}x${rung-height} ! enc b=${bitrate} ! "
      "v.rung_${rung}\n"
      "[variables]\nbitrate = 2000\nwidth = 1280\nladder = 640x360@500,320x180@150\n",
      &f, &error));
  g_assert_true(resolve_rungs(f, {}, {}, &out, &error));
  g_assert_cmpstr(out.c_str(), ==,
                  " camera. ! scale 640x360 ! enc b=500 ! v.rung_1"
                  " camera. ! scale 320x180 ! enc b=150 ! v.rung_2");
  g_assert_true(resolve_rungs(f, {{"ladder", "off"}}, {}, &out, &error) && out.empty());
  g_assert_false(resolve_rungs(f, {{"ladder", "big"}}, {}, &out, &error));
  g_assert_true(g_str_has_prefix(error.c_str(), "--set ladder: \"big\" is not a rung"));
  g_assert_true(resolve_rungs(f, {{"width", "320"}}, {}, &out, &error) && out.empty());
  std::string launch;
  g_assert_true(resolve_launch(f, {}, {}, &launch, &error));
  g_assert_cmpstr(launch.c_str(), ==, "src ! enc b=2000 ! v.");  // the top keeps its own

  // An encoder with a budget (the Pi's H.264 block: 245,760 macroblocks a second): a 720p30 top
  // and both rungs fit (142,800); past a 1080p30 top (244,800) the rungs go to software, and a
  // file's or --set's choice of the rungs' encoder stands.
  PipelineFile pi;
  g_assert_true(parse_pipeline_file("pi.pipeline",
                                    "[pipeline]\nlaunch = src ! ${h264enc} ! v.\n"
                                    "launch-rung = camera. ! ${rung-h264enc} ! v.rung_${rung}\n"
                                    "[variables]\nladder = 640x360@500,320x180@150\n",
                                    &pi, &error));
  const std::map<std::string, std::string> probed = {{"width", "1280"},
                                                     {"height", "720"},
                                                     {"framerate", "30"},
                                                     {"bitrate", "2000"},
                                                     {"h264enc", "hw b=${bitrate}"},
                                                     {"rung-h264enc", "hw b=${bitrate}"},
                                                     {"h264enc-budget", "245760"},
                                                     {"rung-h264enc-beyond", "sw b=${bitrate}"}};
  g_assert_true(resolve_rungs(pi, {}, probed, &out, &error));
  g_assert_cmpstr(out.c_str(), ==, " camera. ! hw b=500 ! v.rung_1 camera. ! hw b=150 ! v.rung_2");
  g_assert_true(resolve_rungs(pi, {{"width", "1920"}, {"height", "1080"}}, probed, &out, &error));
  g_assert_cmpstr(out.c_str(), ==, " camera. ! sw b=500 ! v.rung_1 camera. ! sw b=150 ! v.rung_2");
  // 720p60: the top takes 216,000; 360p60 (55,200) no longer fits, 180p60 (14,400) does.
  g_assert_true(resolve_rungs(pi, {{"framerate", "60"}}, probed, &out, &error));
  g_assert_cmpstr(out.c_str(), ==, " camera. ! sw b=500 ! v.rung_1 camera. ! hw b=150 ! v.rung_2");
  g_assert_true(resolve_rungs(pi, {{"width", "1920"}, {"height", "1080"}, {"rung-h264enc", "x"}},
                              probed, &out, &error));
  g_assert_cmpstr(out.c_str(), ==, " camera. ! x ! v.rung_1 camera. ! x ! v.rung_2");
}

// A recorded machine probed with camera settings given by --set.
Probed probe_machine(const char *file, const std::map<std::string, std::string> &set = {}) {
  Inventory inv;
  std::string error;
  const std::string path = std::string(CAMCAST_MACHINES_DIR) + "/" + file;
  if (!inventory_from_file(path, &inv, &error))
    g_error("%s", error.c_str());
  std::map<std::string, Given> given;
  for (const auto &[name, value] : set)
    given[name] = {value, "--set " + name + "=" + value};
  return probe(inv, given);
}

bool contains(const std::string &haystack, const std::string &needle) {
  if (haystack.find(needle) != std::string::npos)
    return true;
  g_printerr("not found: %s\n   in: %s\n", needle.c_str(), haystack.c_str());
  return false;
}

// A USB webcam (current kernel names): every setting by V4L2 controls, automatic modes off
// first; turning by videoflip, as it has no flip controls.
void test_settings_on_a_webcam() {
  Probed p = probe_machine("pi5-usb-webcam.machine", {{"exposure", "10000"},
                                                      {"gain", "40"},
                                                      {"white-balance", "3000"},
                                                      {"brightness", "100"},
                                                      {"contrast", "140"},
                                                      {"focus", "120"}});
  g_assert_cmpstr(p.error.c_str(), ==, "");
  g_assert_true(contains(p.values["camera"],
                         "v4l2src device=/dev/video0 extra-controls=\"controls,auto_exposure=1,"
                         "exposure_time_absolute=100,gain=40,white_balance_automatic=0,"
                         "white_balance_temperature=3000,brightness=100,contrast=140,"
                         "focus_automatic_continuous=0,focus_absolute=120\" ! "));
  g_assert_true(p.values["camera"].find("videoflip") == std::string::npos);
  p = probe_machine("pi5-usb-webcam.machine", {{"rotation", "180"}, {"focus", "continuous"}});
  g_assert_true(contains(p.values["camera"], "focus_automatic_continuous=1\" ! "));
  g_assert_true(contains(p.values["camera"], "/1 ! videoflip video-direction=180"));
  // Out of its range, named with the range in the setting's units.
  p = probe_machine("pi5-usb-webcam.machine", {{"exposure", "100"}});
  g_assert_true(contains(p.error,
                         "--set exposure=100: exposure 100 is outside this camera's "
                         "range, 300 to 204700 microseconds"));
}

// An older webcam: the kernel's older names; what it lacks is an error naming the setting.
void test_settings_on_an_older_webcam() {
  Probed p =
      probe_machine("old-webcam.machine", {{"exposure", "10000"}, {"white-balance", "3000"}});
  g_assert_true(contains(p.values["camera"],
                         "extra-controls=\"controls,exposure_auto=1,exposure_absolute=100,"
                         "white_balance_temperature_auto=0,white_balance_temperature=3000\""));
  p = probe_machine("old-webcam.machine", {{"focus", "continuous"}, {"gain", "3"}});
  g_assert_true(p.values["camera"].empty());
  g_assert_true(contains(p.error,
                         "--set focus=continuous: focus continuous: this camera has no "
                         "continuous autofocus"));
  g_assert_true(contains(p.error, "--set gain=3: gain cannot be set"));
}

// The legacy Pi camera turns and flips the picture itself (flip controls, or rotate for 90 and
// 270); a turn with a mirror it cannot make goes to one videoflip.
void test_turning_by_the_camera() {
  const char *zero = "pi-zero-legacy-camera.machine";
  Probed p = probe_machine(zero, {{"rotation", "180"}});
  g_assert_true(contains(p.values["camera"], "controls,horizontal_flip=1,vertical_flip=1\""));
  p = probe_machine(zero, {{"rotation", "180"}, {"vflip", "true"}});  // = a left-right mirror
  g_assert_true(contains(p.values["camera"], "controls,horizontal_flip=1,vertical_flip=0\""));
  p = probe_machine(zero, {{"rotation", "90"}});
  g_assert_true(contains(p.values["camera"], "controls,rotate=90\""));
  p = probe_machine(zero, {{"rotation", "90"}, {"hflip", "true"}});
  g_assert_true(contains(p.values["camera"], "! videoflip video-direction=ur-ll"));
  g_assert_true(p.values["camera"].find("extra-controls") == std::string::npos);
  p = probe_machine(zero, {{"white-balance", "5000"}});
  g_assert_true(contains(p.error, "white-balance cannot be set"));
}

// A Pi camera: libcamerasrc's control properties, manual modes first; turning by videoflip after
// the camera's caps.
void test_settings_on_a_pi_camera() {
  const char *pi4 = "pi4-camera-module.machine";
  Probed p = probe_machine(pi4, {{"exposure", "10000"},
                                 {"gain", "2.5"},
                                 {"focus", "1.5"},
                                 {"rotation", "270"},
                                 {"brightness", "-0.25"}});
  g_assert_cmpstr(p.error.c_str(), ==, "");
  g_assert_true(contains(p.values["camera"],
                         "libcamerasrc camera-name=\"/base/soc/i2c0mux/i2c@1/imx708@1a\" "
                         "exposure-time-mode=manual exposure-time=10000 analogue-gain-mode=manual "
                         "analogue-gain=2.5 brightness=-0.25 af-mode=manual lens-position=1.5 ! "));
  g_assert_true(contains(p.values["camera"], ",format=NV12 ! videoflip video-direction=90l"));
  p = probe_machine(pi4, {{"focus", "continuous"}, {"contrast", "40"}});
  g_assert_true(contains(p.error,
                         "--set contrast=40: contrast 40 is outside this camera's range, "
                         "0 to 32"));
  p = probe_machine(pi4, {{"focus", "continuous"}});
  g_assert_true(contains(p.values["camera"], "\" af-mode=continuous ! "));
}

// Values that are no setting's, each reported; the test pattern keeps a camera's settings for a
// camera and turns by videoflip.
void test_bad_settings_and_the_test_pattern() {
  Probed p = probe_machine("server-no-camera.machine",
                           {{"rotation", "45"}, {"hflip", "yes"}, {"exposure", "fast"}});
  g_assert_true(contains(p.error, "--set rotation=45: rotation is 0, 90, 180 or 270"));
  g_assert_true(contains(p.error, "--set hflip=yes: hflip is true or false, not \"yes\""));
  p = probe_machine("pi5-usb-webcam.machine", {{"exposure", "fast"}});
  g_assert_true(contains(p.error,
                         "--set exposure=fast: exposure is auto or a number in "
                         "microseconds, not \"fast\""));
  p = probe_machine("server-no-camera.machine", {{"exposure", "1000"}, {"vflip", "true"}});
  g_assert_cmpstr(p.error.c_str(), ==, "");
  g_assert_true(contains(p.values["camera"], "! videoflip video-direction=vert"));
  bool kept = false;
  for (const std::string &line : p.report)
    kept |= line.find("the test pattern has no exposure") != std::string::npos;
  g_assert_true(kept);
}

void test_probes_on_recorded_machines() {
  Probed pi4 = probe_machine("pi4-camera-module.machine");
  g_assert_true(pi4.values["camera"].rfind(
                    "libcamerasrc camera-name=\"/base/soc/i2c0mux/i2c@1/imx708@1a\"", 0) == 0);
  g_assert_true(pi4.values["h264enc"].find("v4l2h264enc") != std::string::npos);
  // Late joiners need SPS/PPS before every IDR.
  g_assert_true(pi4.values["h264enc"].find("repeat_sequence_header=1") != std::string::npos);
  g_assert_true(pi4.values["jpegenc"].find("v4l2jpegenc") != std::string::npos);
  // Rungs on the same block while it has room, then x264 (resolve_rungs).
  g_assert_cmpstr(pi4.values["rung-h264enc"].c_str(), ==, pi4.values["h264enc"].c_str());
  g_assert_cmpstr(pi4.values["h264enc-budget"].c_str(), ==, "245760");
  g_assert_true(contains(pi4.values["rung-h264enc-beyond"], "x264enc"));

  Probed pi5 = probe_machine("pi5-usb-webcam.machine");
  g_assert_true(pi5.values["camera"].rfind("v4l2src device=/dev/video0 ", 0) == 0);
  g_assert_true(pi5.values["h264enc"].find("x264enc tune=zerolatency") != std::string::npos);
  // x264enc picks 4:4:4 for some inputs unless told, which browsers cannot decode.
  g_assert_true(pi5.values["h264enc"].find("format=I420 ! x264enc") != std::string::npos);
  g_assert_true(pi5.values["jpegenc"].find("jpegenc quality=") != std::string::npos);

  Probed none = probe_machine("server-no-camera.machine");
  g_assert_true(none.values["camera"].rfind("videotestsrc is-live=true", 0) == 0);
  g_assert_true(none.values["camera"].find("timeoverlay") != std::string::npos);
  g_assert_true(none.values["h264enc"].find("openh264enc") != std::string::npos);
  g_assert_true(none.values.count("mpeg1enc"));

  Inventory bare;
  Probed nothing = probe(bare);
  g_assert_false(nothing.values.count("h264enc"));
  bool told = false;
  for (const std::string &line : nothing.report)
    told |= line.find("install gstreamer1.0-plugins-ugly") != std::string::npos;
  g_assert_true(told);
}

// ${microphone}: the webcam's microphone by ALSA, or through the sound server when one runs; a
// test tone or nothing when asked; nothing on a machine without one; a wrong `audio` named.
void test_microphone() {
  auto with_audio = [](const Inventory &inv, const std::string &audio) {
    return probe(inv, {}, {audio, "--set audio=" + audio});
  };
  Inventory webcam;
  std::string error;
  g_assert_true(inventory_from_file(std::string(CAMCAST_MACHINES_DIR) + "/pi5-usb-webcam.machine",
                                    &webcam, &error));
  Probed p = probe_machine("pi5-usb-webcam.machine");
  g_assert_cmpstr(p.values["microphone"].c_str(), ==,
                  "alsasrc name=microphone device=plughw:CARD=C920,DEV=0");
  g_assert_true(contains(p.values["opusenc"], "opusenc bitrate=${audio-bitrate} frame-size=20"));
  g_assert_true(contains(p.values["mp2enc"], "rate=44100,channels=${audio-channels} ! avenc_mp2"));
  g_assert_true(contains(p.values["aacenc"], "channels=${audio-channels} ! voaacenc bitrate="));
  // No AAC encoder: RTSP's sound is Opus, and the probe says what is missing.
  Inventory no_aac = webcam;
  no_aac.elements.erase("voaacenc");
  const Probed opus_only = with_audio(no_aac, "test");
  g_assert_cmpstr(opus_only.values.at("aacenc").c_str(), ==, "${opusenc}");
  bool said_aac = false;
  for (const std::string &line : opus_only.report)
    said_aac |= line.find("aacenc: none, RTSP's sound in Opus") == 0;
  g_assert_true(said_aac);
  webcam.sound_server = "PulseAudio";
  p = with_audio(webcam, "auto");
  g_assert_cmpstr(p.values["microphone"].c_str(), ==, "pulsesrc name=microphone");
  g_assert_false(with_audio(webcam, "off").values.count("microphone"));
  g_assert_true(contains(with_audio(webcam, "test").values["microphone"],
                         "audiotestsrc name=microphone is-live=true"));
  g_assert_true(contains(with_audio(webcam, "loud").error,
                         "--set audio=loud: audio is auto (a microphone if there is one), off or "
                         "test (a test tone), not \"loud\""));
  Probed none = probe_machine("server-no-camera.machine");
  g_assert_false(none.values.count("microphone"));
  bool told = false;
  for (const std::string &line : none.report)
    told |= line.find("microphone: ") == 0;
  g_assert_true(told);
  // The supervisor's look for a lost microphone: a card by its id, a test tone always.
  g_assert_false(microphone_present("alsasrc name=microphone device=plughw:CARD=NoSuchCard,DEV=0"));
  g_assert_true(microphone_present("audiotestsrc name=microphone is-live=true"));
}

}  // namespace

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, nullptr);
  g_test_add_func("/pipeline-files/parse", test_parses_groups_continuations_and_supervise);
  g_test_add_func("/pipeline-files/errors-name-the-line", test_errors_name_the_line);
  g_test_add_func("/pipeline-files/trailing-comments", test_trailing_comments);
  g_test_add_func("/pipeline-files/outputs", test_outputs);
  g_test_add_func("/pipeline-files/every-problem-in-line-order", test_every_problem_in_line_order);
  g_test_add_func("/pipeline-files/variables", test_variables_resolve_in_order);
  g_test_add_func("/pipeline-files/resolution-errors", test_resolution_errors);
  g_test_add_func("/pipeline-files/ladder", test_ladder);
  g_test_add_func("/probe/recorded-machines", test_probes_on_recorded_machines);
  g_test_add_func("/probe/settings/webcam", test_settings_on_a_webcam);
  g_test_add_func("/probe/microphone", test_microphone);
  g_test_add_func("/probe/settings/older-webcam", test_settings_on_an_older_webcam);
  g_test_add_func("/probe/settings/turning-by-the-camera", test_turning_by_the_camera);
  g_test_add_func("/probe/settings/pi-camera", test_settings_on_a_pi_camera);
  g_test_add_func("/probe/settings/bad-values-and-test-pattern",
                  test_bad_settings_and_the_test_pattern);
  return g_test_run();
}
