#include "commands.h"

#include "access/auth.h"
#include "access/users.h"
#include "pipeline_file.h"

#include <ftw.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <gst/gst.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>

namespace camcast::launcher {

namespace {

// A password from the terminal (asked twice, not echoed) or one line of standard input.
bool read_password(std::string *password, std::string *error) {
  auto line = [](bool echo_off) {
    termios old{}, quiet{};
    const bool tty = isatty(STDIN_FILENO);
    if (tty && echo_off) {
      tcgetattr(STDIN_FILENO, &old);
      quiet = old;
      quiet.c_lflag &= ~tcflag_t(ECHO);
      tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    }
    std::string s;
    int c;
    while ((c = getchar()) != EOF && c != '\n')
      s += char(c);
    if (tty && echo_off) {
      tcsetattr(STDIN_FILENO, TCSANOW, &old);
      g_printerr("\n");
    }
    return s;
  };
  if (isatty(STDIN_FILENO)) {
    g_printerr("Password: ");
    *password = line(true);
    g_printerr("Again: ");
    if (line(true) != *password) {
      *error = "the passwords differ";
      return false;
    }
  } else {
    *password = line(false);
  }
  return true;
}

std::vector<std::string> search_dirs() {
  std::vector<std::string> dirs;
  dirs.push_back(std::string(g_get_user_config_dir()) + "/camcast/pipelines");
  dirs.push_back("/etc/camcast/pipelines");
  dirs.push_back(CAMCAST_PIPELINES_DIR);
  if (running_from_build_tree())
    dirs.push_back(CAMCAST_SOURCE_PIPELINES_DIR);
  return dirs;
}

// A file path as given, or NAME found in the search directories.
bool find_pipeline(const std::string &arg, std::string *path, std::string *error) {
  if (arg.find('/') != std::string::npos || g_str_has_suffix(arg.c_str(), ".pipeline")) {
    *path = arg;
    return true;
  }
  for (const std::string &dir : search_dirs()) {
    std::string candidate = dir + "/" + arg + ".pipeline";
    if (g_file_test(candidate.c_str(), G_FILE_TEST_IS_REGULAR)) {
      *path = candidate;
      return true;
    }
  }
  *error = "no pipeline named \"" + arg + "\" (see \"camcast list\")";
  return false;
}

}  // namespace

std::string state_dir() {
  const char *state = g_getenv("STATE_DIRECTORY");
  return state && *state ? std::string(state) : std::string(g_get_user_config_dir()) + "/camcast";
}

std::string record_dir() {
  const char *state = g_getenv("STATE_DIRECTORY");
  return state && *state ? std::string(state) + "/recordings" : "recordings";
}

bool running_from_build_tree() {
  static const bool yes = [] {
    g_autofree char *exe = g_file_read_link("/proc/self/exe", nullptr);
    return exe && g_str_has_prefix(exe, CAMCAST_BUILD_ROOT "/");
  }();
  return yes;
}

bool take_inventory(const Options &o, Inventory *inventory, std::string *error) {
  if (!o.inventory.empty())
    return inventory_from_file(o.inventory, inventory, error);
  *inventory = inventory_from_system();
  return true;
}

std::map<std::string, Given> camera_settings(const Options &o, const PipelineFile *file) {
  std::map<std::string, Given> given;
  for (const auto &entry : camera_setting_defaults()) {
    const std::string &name = entry.first;
    if (auto s = o.overrides.find(name); s != o.overrides.end()) {
      given[name] = {s->second, "--set " + name + "=" + s->second};
    } else if (file && file->variables.count(name)) {
      const Value &v = file->variables.at(name);
      given[name] = {v.text, file->path + ":" + std::to_string(v.line)};
    }
  }
  return given;
}

Given audio_setting(const Options &o, const PipelineFile *file) {
  if (auto s = o.overrides.find("audio"); s != o.overrides.end())
    return {s->second, "--set audio=" + s->second};
  if (file && file->variables.count("audio")) {
    const Value &v = file->variables.at("audio");
    return {v.text, file->path + ":" + std::to_string(v.line)};
  }
  return {"auto", "the default"};
}

// The launch line, and the sound's branches when the file has them and there is a microphone.
static bool resolve_lines(const PipelineFile &file, const Options &o, const Probed &probed,
                          RunSpec *spec, std::string *error,
                          std::map<std::string, std::string> *used) {
  std::string rungs;
  if (!resolve_launch(file, o.overrides, probed.values, &spec->launch, error, used) ||
      !resolve_rungs(file, o.overrides, probed.values, &rungs, error))
    return false;
  spec->launch += rungs;
  std::set<std::string> parts_in;
  for (const auto &[name, value] : file.parts) {
    // ${NAME} as the launch line would see it; undefined: the part is in.
    std::string on, text;
    const bool defined =
        o.overrides.count(name) || file.variables.count(name) || probed.values.count(name);
    if (defined && !resolve_value(file, {"${" + name + "}", value.line}, o.overrides, probed.values,
                                  &on, error))
      return false;
    if (on == "off")
      continue;
    if (!resolve_value(file, value, o.overrides, probed.values, &text, error, used))
      return false;
    spec->launch += " " + text;
    parts_in.insert(name);
  }
  spec->outputs.clear();
  for (const auto &[name, value] : file.outputs) {
    OutputSpec output{name, "", "", {}};
    std::string why;
    if (!resolve_value(file, value, o.overrides, probed.values, &output.launch, error, used))
      return false;
    if (!prepare_output(&output, &why)) {
      *error = file.path + ":" + std::to_string(value.line) + ": " + why;
      return false;
    }
    spec->outputs.push_back(std::move(output));
  }
  spec->launch_audio.clear();
  spec->microphone.clear();
  // ${microphone} as the launch line would see it (--set, [variables], the probe, in that
  // order); undefined or empty: no sound.
  const bool defined = o.overrides.count("microphone") || file.variables.count("microphone") ||
                       probed.values.count("microphone");
  if (file.launch_audio.text.empty() || !defined)
    return true;
  if (!resolve_value(file, {"${microphone}", file.launch_audio.line}, o.overrides, probed.values,
                     &spec->microphone, error))
    return false;
  if (spec->microphone.empty())
    return true;
  if (!resolve_value(file, file.launch_audio, o.overrides, probed.values, &spec->launch_audio,
                     error, used))
    return false;
  for (const auto &[name, value] : file.part_audio) {
    std::string text;
    if (!parts_in.count(name))
      continue;
    if (!resolve_value(file, value, o.overrides, probed.values, &text, error, used))
      return false;
    spec->launch_audio += " " + text;
  }
  return true;
}

// What a --set can name in `file`: its variables and those its lines use, what the probe fills
// in, and the launcher's own (audio).
static void add_settable(const PipelineFile &file, const Probed &probed,
                         std::set<std::string> *settable) {
  if (!settable)
    return;
  settable->merge(variable_names(file));
  for (const auto &entry : probed.values)
    settable->insert(entry.first);
  settable->insert("audio");
}

// How many letters to add, drop or change to make `a` into `b` (Levenshtein).
static size_t edit_distance(const std::string &a, const std::string &b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); j++)
    row[j] = j;
  for (size_t i = 1; i <= a.size(); i++) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); j++) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = up;
    }
  }
  return row[b.size()];
}

std::string unknown_setting(const Options &o, const std::set<std::string> &settable) {
  for (const auto &[name, value] : o.overrides) {
    if (settable.count(name))
      continue;
    std::string nearest;
    size_t best = SIZE_MAX;
    for (const std::string &known : settable)
      if (const size_t d = edit_distance(name, known); d < best)
        best = d, nearest = known;
    return "camcast: --set " + name + "=" + value + ": there is no setting called \"" + name +
           "\"" + (nearest.empty() ? "" : " (did you mean " + nearest + "?)") +
           "; camcast show PIPELINE shows what the pipeline uses, camcast probe the camera's";
  }
  return "";
}

bool resolve(const std::string &arg, const Options &o, const Inventory &inventory, RunSpec *spec,
             std::string *error, std::set<std::string> *settable) {
  std::string path;
  PipelineFile file;
  if (!find_pipeline(arg, &path, error) || !load_pipeline_file(path, &file, error))
    return false;
  spec->name = file.name;
  spec->supervise = file.supervise;
  Probed probed = probe(inventory, camera_settings(o, &file), audio_setting(o, &file));
  probed.values.emplace("record-dir", record_dir());
  if (!probed.error.empty()) {
    *error = probed.error;
    return false;
  }
  add_settable(file, probed, settable);
  std::map<std::string, std::string> used;
  if (!resolve_lines(file, o, probed, spec, error, &used))
    return false;
  // Variables named *-dir are directories the pipeline writes to: made before it starts.
  for (const auto &[name, value] : used)
    if (g_str_has_suffix(name.c_str(), "-dir"))
      spec->directories.push_back(value);
  return true;
}

int cmd_passwd(const Options &o) {
  if (o.args.size() != 1)
    return usage_error("passwd takes one user name");
  const std::string path = o.users_file.empty() ? state_dir() + "/users" : o.users_file;
  std::string password, error;
  if (!read_password(&password, &error) ||
      !camcast::users::set_user(path, o.args.front(), password, &error)) {
    g_printerr("camcast: %s\n", error.c_str());
    return 2;
  }
  g_print("camcast: %s can log in now (%s)\n", o.args.front().c_str(), path.c_str());
  return 0;
}

std::string access_token(std::string *error) {
  const std::string dir = state_dir();
  const std::string path = dir + "/access-token";
  gchar *contents = nullptr;
  if (g_file_get_contents(path.c_str(), &contents, nullptr, nullptr)) {
    std::string token = g_strstrip(contents);
    g_free(contents);
    // As a users file: a token others can read (or change) opens the camera to them.
    GStatBuf st;
    if (g_stat(path.c_str(), &st) == 0 && (st.st_mode & 026)) {
      *error = path + ": " +
               (st.st_mode & 022 ? "other users can change the access token"
                                 : "every user of this machine can read the access token") +
               "; chmod 600 " + path;
      return "";
    }
    if (!token.empty())
      return token;
  }
  const std::string token = camcast::auth::random_token();
  GError *err = nullptr;
  if (g_mkdir_with_parents(dir.c_str(), 0700) != 0 ||
      !g_file_set_contents_full(path.c_str(), (token + "\n").c_str(), -1,
                                G_FILE_SET_CONTENTS_CONSISTENT, 0600, &err)) {
    *error = "cannot keep the access token in " + path + ": " +
             (err ? err->message : g_strerror(errno)) + " (or run with --no-auth)";
    g_clear_error(&err);
    return "";
  }
  g_printerr("camcast: made an access token for this camera, kept in %s\n", path.c_str());
  return token;
}

int free_port() {
  GSocket *s =
      g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, nullptr);
  GInetAddress *any = g_inet_address_new_any(G_SOCKET_FAMILY_IPV4);
  GSocketAddress *addr = g_inet_socket_address_new(any, 0);
  int port = 0;
  if (s && g_socket_bind(s, addr, FALSE, nullptr)) {
    GSocketAddress *bound = g_socket_get_local_address(s, nullptr);
    port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
    g_object_unref(bound);
  }
  g_object_unref(addr);
  g_object_unref(any);
  if (s)
    g_object_unref(s);
  return port;
}

int cmd_list() {
  std::set<std::string> seen;
  for (const std::string &dir : search_dirs()) {
    GDir *d = g_dir_open(dir.c_str(), 0, nullptr);
    if (!d)
      continue;
    std::vector<std::string> names;
    while (const char *f = g_dir_read_name(d))
      if (g_str_has_suffix(f, ".pipeline"))
        names.emplace_back(f, strlen(f) - 9);
    g_dir_close(d);
    std::sort(names.begin(), names.end());
    for (const std::string &name : names) {
      PipelineFile file;
      std::string error;
      const std::string path = dir + "/" + name + ".pipeline";
      const bool ok = load_pipeline_file(path, &file, &error);
      g_print("%-12s %s%s\n", name.c_str(), ok ? file.description.c_str() : error.c_str(),
              seen.insert(name).second ? "" : "  (hidden by the one above)");
      g_print("%-12s %s\n", "", path.c_str());
    }
  }
  return 0;
}

// Runs the launch line for a moment — a live test pattern of the settings' size and rate for the
// camera, its servers on a free port of this machine only — and says which element refuses what
// it is given, if one does: a setting no element can take stops here, not in a restart loop.
// Empty when it runs (or has not failed within a few seconds).
static std::string trial_run(const RunSpec &spec) {
  GstElement *p = gst_parse_launch(spec.full_launch().c_str(), nullptr);
  if (!p)
    return "";
  std::vector<GstElement *> sinks;
  // A recording's trial writes to a directory of its own, removed after.
  g_autofree char *scratch = nullptr;
  for_each_element(GST_BIN(p), [&](GstElement *e) {
    if (g_str_equal(GST_OBJECT_NAME(gst_element_get_factory(e)), "recordsink")) {
      if (!scratch)
        scratch = g_dir_make_tmp("camcast-check-XXXXXX", nullptr);
      g_object_set(e, "location", scratch, nullptr);
    }
    if (g_object_class_find_property(G_OBJECT_GET_CLASS(e), "current-port"))
      g_object_set(e, "port", 0, "address", "127.0.0.1", nullptr);
    if (g_object_class_find_property(G_OBJECT_GET_CLASS(e), "rtsp-port"))
      g_object_set(e, "rtsp-port", 0, nullptr);
    if (GST_OBJECT_FLAG_IS_SET(e, GST_ELEMENT_FLAG_SINK))
      sinks.push_back(e);
  });
  // A buffer reaching every sink: it runs.
  std::atomic<size_t> reached{0};
  for (GstElement *sink : sinks) {
    GstPad *pad = gst_element_get_static_pad(sink, "sink");
    if (!pad) {
      reached++;
      continue;
    }
    gst_pad_add_probe(
        pad, GstPadProbeType(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST),
        [](GstPad *, GstPadProbeInfo *, gpointer count) {
          (*static_cast<std::atomic<size_t> *>(count))++;
          return GST_PAD_PROBE_REMOVE;
        },
        &reached, nullptr);
    gst_object_unref(pad);
  }
  std::string refused;
  GstBus *bus = gst_element_get_bus(p);
  gst_element_set_state(p, GST_STATE_PLAYING);
  const gint64 until = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
  while (refused.empty() && reached < sinks.size() && g_get_monotonic_time() < until) {
    GstMessage *msg = gst_bus_timed_pop_filtered(bus, 100 * GST_MSECOND, GST_MESSAGE_ERROR);
    if (!msg)
      continue;
    GError *error = nullptr;
    gchar *debug = nullptr;
    gst_message_parse_error(msg, &error, &debug);
    // Refusals of a format only (a server that is away is no mistake of the settings). The
    // element that refused says so first; the source's "not-negotiated" names no culprit.
    if (error->domain == GST_STREAM_ERROR || (debug && strstr(debug, "not-negotiated")))
      refused = std::string(GST_OBJECT_NAME(msg->src)) + ": " + error->message +
                (debug && strstr(debug, "not-negotiated") ? " (not-negotiated)" : "");
    g_error_free(error);
    g_free(debug);
    gst_message_unref(msg);
  }
  gst_object_unref(bus);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(p);
  if (scratch)
    nftw(
        scratch, [](const char *path, const struct stat *, int, FTW *) { return remove(path); }, 8,
        FTW_DEPTH | FTW_PHYS);
  return refused;
}

// The settings given that may be to blame for `refused`: those whose value it names, else all
// the line uses. (A named value may be a coincidence: "30" in a caps string; they are suspects.)
static std::string suspects(const Options &o, const std::map<std::string, std::string> &used,
                            const std::string &refused) {
  std::string named, all;
  for (const auto &[name, value] : o.overrides) {
    if (!used.count(name))
      continue;
    const std::string set = " --set " + name + "=" + value;
    all += set;
    if (!value.empty() && refused.find(value) != std::string::npos)
      named += set;
  }
  const std::string list = named.empty() ? all : named;
  return list.empty() ? "" : "; the settings given:" + list;
}

int cmd_check(const Options &o) {
  if (o.args.empty())
    return usage_error("check needs one or more pipeline files");
  int status = 0;
  std::set<std::string> settable;
  for (const std::string &arg : o.args) {
    std::string path, error;
    PipelineFile file;
    if (!find_pipeline(arg, &path, &error) || !load_pipeline_file(path, &file, &error)) {
      g_printerr("%s\n", error.c_str());
      status = 2;
      continue;
    }
    // Variables must resolve against some machine: this one (its camera, for the settings) with
    // every encoder answered.
    Inventory full;
    if (!take_inventory(o, &full, &error))
      return usage_error(error);
    // with every encoder answered, and sound (a test tone) where the file has any.
    full.elements.insert({"videotestsrc", "x264enc", "mpeg1enc", "jpegenc", "audiotestsrc",
                          "opusenc", "avenc_mp2", "voaacenc"});
    Given audio = audio_setting(o, &file);
    if (audio.text == "auto")
      audio = {"test", "the check"};
    Probed probed = probe(full, camera_settings(o, &file), audio);
    probed.values.emplace("record-dir", record_dir());
    add_settable(file, probed, &settable);
    RunSpec spec;
    std::map<std::string, std::string> used;
    if (!probed.error.empty() || !resolve_lines(file, o, probed, &spec, &error, &used)) {
      if (!probed.error.empty())
        error = probed.error;
      g_printerr("%s\n", error.c_str());
      status = 2;
      continue;
    }
    std::string output, why;
    if (!lines_build(spec, &output, &why)) {
      const int line = !output.empty() ? file.outputs.at(output).line : file.launch.line;
      g_printerr("%s:%d: %s%s\n", path.c_str(), line, why.c_str(), suspects(o, used, why).c_str());
      status = 2;
      continue;
    }
    // A moment's run with a test pattern standing in for the camera (its size and rate).
    Inventory stand_in = full;
    stand_in.libcamera_cameras.clear();
    stand_in.v4l2_capture.clear();
    const Probed pattern = probe(stand_in, camera_settings(o, &file), audio);
    RunSpec trial;
    if (pattern.error.empty() && resolve_lines(file, o, pattern, &trial, &error, &used)) {
      if (const std::string refused = trial_run(trial); !refused.empty()) {
        g_printerr("%s:%d: with these settings it does not run: %s%s\n", path.c_str(),
                   file.launch.line, refused.c_str(), suspects(o, used, refused).c_str());
        status = 2;
        continue;
      }
    }
    g_print("%s: ok\n", path.c_str());
  }
  if (const std::string unknown = unknown_setting(o, settable); !unknown.empty()) {
    g_printerr("%s\n", unknown.c_str());
    status = 2;
  }
  return status;
}

int cmd_probe(const Options &o) {
  std::string error;
  Inventory inventory;
  if (!take_inventory(o, &inventory, &error))
    return usage_error(error);
  Probed p = probe(inventory, camera_settings(o, nullptr), audio_setting(o, nullptr));
  if (!p.error.empty()) {
    g_printerr("%s\n", p.error.c_str());
    return 2;
  }
  for (const std::string &line : p.report)
    g_print("%s\n", line.c_str());
  for (const char *key :
       {"camera", "h264enc", "mpeg1enc", "jpegenc", "microphone", "opusenc", "mp2enc", "aacenc"})
    if (p.values.count(key))
      g_print("${%s} = %s\n", key, p.values[key].c_str());
  return 0;
}

// Catches a line that cannot build before anything starts; false after saying why.
static bool launch_lines_build(const std::vector<RunSpec> &specs) {
  for (const RunSpec &spec : specs) {
    std::string output, why;
    if (!lines_build(spec, &output, &why)) {
      g_printerr("camcast: %s: %s\n", spec.name.c_str(), why.c_str());
      return false;
    }
  }
  return true;
}

// Private unless told otherwise: a login for the users of a users file, if there is one, else
// the access token in the printed links; HTTPS with a certificate that can serve. Returns -1
// with `sinks` filled in, else the exit status (after saying why).
static int sink_settings(const Options &o, SinkSettings *sinks) {
  std::string token, users, error;
  if (!o.no_auth) {
    users = o.users_file.empty() ? state_dir() + "/users" : o.users_file;
    if (!g_file_test(users.c_str(), G_FILE_TEST_EXISTS)) {
      if (!o.users_file.empty())
        return usage_error("no users file " + users + " (make one with camcast passwd USER)");
      users.clear();
    }
  }
  if (!o.no_auth && users.empty()) {
    token = access_token(&error);
    if (token.empty()) {
      g_printerr("camcast: %s\n", error.c_str());
      return 2;  // a file to mend or a directory to make: no restart can fix it
    }
  }
  // A certificate that cannot serve is a usage error now, not a restart loop later.
  if (o.tls.enabled()) {
    GError *err = nullptr;
    GTlsCertificate *certificate = camcast::load_tls_certificate(o.tls, &err);
    if (!certificate) {
      const std::string message = err->message;
      g_error_free(err);
      return usage_error(message);
    }
    g_object_unref(certificate);
  } else if (o.tls.http_port >= 0) {
    return usage_error(
        "--http-port goes with --tls-certificate and --tls-key (without them "
        "--port is plain HTTP already)");
  }
  // Sessions are kept there (mode 600 files in a directory of the user's).
  const std::string keep = o.no_auth ? "" : state_dir();
  if (!keep.empty())
    g_mkdir_with_parents(keep.c_str(), 0700);
  *sinks = SinkSettings{token, users, keep, o.tls, o.server_properties};
  return -1;
}

// Every pipeline named (or the default preset) resolved for this machine; false after saying why.
static bool resolve_all(const Options &o, const SinkSettings &sinks, std::vector<RunSpec> *specs) {
  std::string error;
  Inventory inventory;
  const bool taken = take_inventory(o, &inventory, &error);
  specs->clear();
  std::set<std::string> settable;
  for (const std::string &arg : o.args) {
    RunSpec spec;
    if (!taken || !resolve(arg, o, inventory, &spec, &error, &settable)) {
      g_printerr("%s\n", error.c_str());
      return false;
    }
    spec.sinks = sinks;
    specs->push_back(spec);
  }
  // A misspelt name would otherwise be left out without a word (the camera not rotated).
  if (const std::string unknown = unknown_setting(o, settable); !unknown.empty()) {
    g_printerr("%s\n", unknown.c_str());
    return false;
  }
  return true;
}

// `run` and `show`.
int cmd_run(Options o) {
  if (o.command == "show" && o.args.size() != 1)
    return usage_error("show takes one pipeline name or file");
  if (o.args.empty())
    o.args.push_back("default");
  std::vector<RunSpec> specs;
  if (!resolve_all(o, {}, &specs))
    return 2;
  if (o.command == "show") {
    g_print("%s\n", specs.front().one_line().c_str());
    return 0;
  }
  if (!launch_lines_build(specs))
    return 2;
  SinkSettings sinks;
  const int status = sink_settings(o, &sinks);
  if (status >= 0)
    return status;
  for (RunSpec &spec : specs)
    spec.sinks = sinks;
  // On SIGHUP: probed and resolved again, with the same settings for the sinks.
  Supervisor supervisor(
      [o, sinks](std::vector<RunSpec> *out) { return resolve_all(o, sinks, out); });
  return supervisor.run(specs);
}

}  // namespace camcast::launcher
