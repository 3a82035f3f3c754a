// camcast: streams a camera to web browsers. Loads pipeline files (presets or your own), fills
// them in for the hardware it finds, and keeps them running. See `camcast --help`.
#include "access/auth.h"
#include "access/tls.h"
#include "access/users.h"
#include "pipeline_file.h"
#include "probe.h"
#include "supervisor.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <gst/gst.h>
#include <sys/resource.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

using namespace camcast::launcher;

namespace {

// The words of `camcast --help` besides the options GLib lists itself.
const char *kCommands =
    "Streams a camera (a Raspberry Pi camera, a USB webcam, or a test pattern when there is\n"
    "none) to web browsers. With no command it runs the \"default\" preset on port 8080 and\n"
    "prints the address to open; \"camcast NAME\" is \"camcast run NAME\".\n"
    "\n"
    "Commands:\n"
    "  run [NAME|FILE...] run pipelines and keep them running (default: the default preset)\n"
    "  list               list the presets and pipeline files found, and where\n"
    "  show NAME|FILE     print the gst-launch-1.0 description a pipeline resolves to\n"
    "  check FILE...      check pipeline files; each problem as FILE:LINE: what is wrong\n"
    "  probe              print what the probes find on this machine\n"
    "  passwd USER        add USER to the users file, or change their password (read from\n"
    "                     the terminal, or one line of standard input); then camcast asks\n"
    "                     for a login instead of the access token";
const char *kMore =
    "A NAME is looked up as NAME.pipeline in ~/.config/camcast/pipelines, /etc/camcast/pipelines\n"
    "and the installed presets, in that order. Exit status: 0 success, 1 a pipeline failed for\n"
    "good, 2 bad usage or a bad pipeline file.\n";

struct Options {
  std::string command;
  std::vector<std::string> args;
  std::map<std::string, std::string> overrides;
  std::string inventory;
  std::string users_file;
  camcast::TlsSettings tls;
  // Server properties set on every camcast element that has them (max-connections, …).
  std::vector<std::pair<std::string, std::string>> server_properties;
  bool no_auth = false;
};

// Where camcast keeps what it makes: $STATE_DIRECTORY under systemd, else ~/.config/camcast.
std::string state_dir() {
  const char *state = g_getenv("STATE_DIRECTORY");
  return state && *state ? std::string(state) : std::string(g_get_user_config_dir()) + "/camcast";
}

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

int usage_error(const std::string &message);

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

// The access token: made up at first start and kept (0600) in $STATE_DIRECTORY (systemd) or
// ~/.config/camcast, so the links stay valid across restarts. Empty with `error` on failure.
std::string access_token(std::string *error) {
  const std::string dir = state_dir();
  const std::string path = dir + "/access-token";
  gchar *contents = nullptr;
  if (g_file_get_contents(path.c_str(), &contents, nullptr, nullptr)) {
    std::string token = g_strstrip(contents);
    g_free(contents);
    GStatBuf st;
    if (g_stat(path.c_str(), &st) == 0 && (st.st_mode & 077))
      g_printerr("camcast: warning: %s can be read by others; chmod 600 it\n", path.c_str());
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

// A TCP port nothing listens on now (the kernel's choice for port 0).
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

int usage_error(const std::string &message) {
  g_printerr("camcast: %s\nTry \"camcast --help\".\n", message.c_str());
  return 2;
}

// True for the binary in the build tree (not an installed copy): it then uses the presets of
// the source tree and the plugin built beside it.
bool running_from_build_tree() {
  static const bool yes = [] {
    g_autofree char *exe = g_file_read_link("/proc/self/exe", nullptr);
    return exe && g_str_has_prefix(exe, CAMCAST_BUILD_ROOT "/");
  }();
  return yes;
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

Probed run_probes(const Options &o, std::string *error) {
  Inventory inv;
  if (o.inventory.empty())
    inv = inventory_from_system();
  else if (!inventory_from_file(o.inventory, &inv, error))
    return {};
  return probe(inv);
}

bool resolve(const std::string &arg, const Options &o, const Probed &probed, RunSpec *spec,
             std::string *error) {
  std::string path;
  PipelineFile file;
  if (!find_pipeline(arg, &path, error) || !load_pipeline_file(path, &file, error))
    return false;
  spec->name = file.name;
  spec->supervise = file.supervise;
  std::map<std::string, std::string> used;
  if (!resolve_launch(file, o.overrides, probed.values, &spec->launch, error, &used))
    return false;
  // Variables named *-dir are directories the pipeline writes to: made before it starts.
  for (const auto &[name, value] : used)
    if (g_str_has_suffix(name.c_str(), "-dir"))
      spec->directories.push_back(value);
  return true;
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

int cmd_check(const Options &o) {
  if (o.args.empty())
    return usage_error("check needs one or more pipeline files");
  int status = 0;
  for (const std::string &arg : o.args) {
    std::string path, error;
    PipelineFile file;
    if (!find_pipeline(arg, &path, &error) || !load_pipeline_file(path, &file, &error)) {
      g_printerr("%s\n", error.c_str());
      status = 2;
      continue;
    }
    // Variables must resolve against some machine: use one with every probe answered.
    Inventory full;
    full.elements = {"videotestsrc", "x264enc", "mpeg1enc", "jpegenc"};
    std::string launch;
    if (!resolve_launch(file, o.overrides, probe(full).values, &launch, &error)) {
      g_printerr("%s\n", error.c_str());
      status = 2;
      continue;
    }
    GError *err = nullptr;
    GstElement *p = gst_parse_launch(launch.c_str(), &err);
    if (err) {
      g_printerr("%s:%d: the launch line does not build: %s\n", path.c_str(), file.launch.line,
                 err->message);
      g_error_free(err);
      status = 2;
    } else {
      g_print("%s: ok\n", path.c_str());
    }
    if (p)
      gst_object_unref(p);
  }
  return status;
}

// A server holds a descriptor per viewer and per request: the usual soft limit of 1,024 (systemd's
// default too) is far below what the kernel allows this process. Raise it to the hard limit.
void raise_descriptor_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

// `value` for the property `name` of camcast's sinks, checked against the property itself (its
// type and range): "" when it fits, else what is wrong, in words naming `option`.
std::string check_sink_property(const char *option, const char *name, const std::string &value) {
  GstPluginFeature *feature = GST_PLUGIN_FEATURE(gst_element_factory_find("wssink"));
  GstElementFactory *factory =
      feature ? GST_ELEMENT_FACTORY(gst_plugin_feature_load(feature)) : nullptr;
  if (feature)
    gst_object_unref(feature);
  if (!factory)
    return "";  // no plugin: the pipeline will say so
  GObjectClass *klass =
      G_OBJECT_CLASS(g_type_class_ref(gst_element_factory_get_element_type(factory)));
  GParamSpec *spec = g_object_class_find_property(klass, name);
  std::string problem;
  char *end = nullptr;
  const long long n = g_ascii_strtoll(value.c_str(), &end, 10);
  long long min = 0, max = 0;
  if (G_IS_PARAM_SPEC_INT(spec))
    min = G_PARAM_SPEC_INT(spec)->minimum, max = G_PARAM_SPEC_INT(spec)->maximum;
  else if (G_IS_PARAM_SPEC_UINT(spec))
    min = G_PARAM_SPEC_UINT(spec)->minimum, max = G_PARAM_SPEC_UINT(spec)->maximum;
  if (spec && (value.empty() || *end || n < min || n > max))
    problem = std::string(option) + " takes a number from " + std::to_string(min) + " to " +
              std::to_string(max) + ", not \"" + value + "\"";
  g_type_class_unref(klass);
  gst_object_unref(factory);
  return problem;
}

// Reads the command line into `o`; false with the exit status in `status` when camcast should
// stop (help, version, or a mistake, already explained).
bool parse_command_line(int argc, char **argv, Options *o, int *status) {
  g_auto(GStrv) sets = nullptr;
  g_autofree char *port = nullptr, *inventory = nullptr, *users = nullptr, *file = nullptr;
  g_autofree char *certificate = nullptr, *key = nullptr, *http_port = nullptr;
  g_autofree char *max_connections = nullptr, *max_per_address = nullptr, *max_rate = nullptr;
  g_autofree char *header_timeout = nullptr, *request_timeout = nullptr, *hosts = nullptr;
  gboolean no_auth = FALSE, version = FALSE;
  const GOptionEntry entries[] = {
      {"set", 0, 0, G_OPTION_ARG_STRING_ARRAY, &sets,
       "set a variable, e.g. --set width=640 (repeatable)", "KEY=VALUE"},
      {"port", 0, 0, G_OPTION_ARG_STRING, &port, "the same as --set port=N (0: any free port)",
       "N"},
      {"inventory", 0, 0, G_OPTION_ARG_FILENAME, &inventory,
       "probe a recorded machine description instead", "FILE"},
      {"no-auth", 0, 0, G_OPTION_ARG_NONE, &no_auth, "let anyone who can reach the port watch",
       nullptr},
      {"users", 0, 0, G_OPTION_ARG_FILENAME, &users,
       "the users file for logins (default: ~/.config/camcast/users)", "FILE"},
      {"file", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_FILENAME, &file, nullptr, nullptr},
      {"tls-certificate", 0, 0, G_OPTION_ARG_FILENAME, &certificate,
       "serve HTTPS and WSS with this certificate (PEM)", "FILE"},
      {"tls-key", 0, 0, G_OPTION_ARG_FILENAME, &key, "the certificate's private key (PEM)", "FILE"},
      {"http-port", 0, 0, G_OPTION_ARG_STRING, &http_port,
       "with a certificate: also serve plain HTTP on port N", "N"},
      {"max-connections", 0, 0, G_OPTION_ARG_STRING, &max_connections,
       "connections open at once, viewers included (256)", "N"},
      {"max-connections-per-address", 0, 0, G_OPTION_ARG_STRING, &max_per_address,
       "connections open at once from one address (32)", "N"},
      {"max-connection-rate", 0, 0, G_OPTION_ARG_STRING, &max_rate,
       "new connections a second from one address (20)", "N"},
      {"header-timeout", 0, 0, G_OPTION_ARG_STRING, &header_timeout,
       "seconds for the TLS handshake and request head (10)", "S"},
      {"request-timeout", 0, 0, G_OPTION_ARG_STRING, &request_timeout,
       "seconds for a request's body and answer (30)", "S"},
      {"allowed-hosts", 0, 0, G_OPTION_ARG_STRING, &hosts,
       "names this camera answers to besides its addresses and host name", "NAME,..."},
      {"version", 0, 0, G_OPTION_ARG_NONE, &version, "show the version", nullptr},
      {}};
  g_autoptr(GOptionContext) context = g_option_context_new("[COMMAND] [NAME|FILE...]");
  g_option_context_set_summary(context, kCommands);
  g_option_context_set_description(context, kMore);
  g_option_context_add_main_entries(context, entries, nullptr);
  GError *error = nullptr;
  if (!g_option_context_parse(context, &argc, &argv, &error)) {
    *status = usage_error(error->message);
    g_error_free(error);
    return false;
  }
  if (version) {
    g_print("camcast %s\n", PACKAGE_VERSION);
    *status = 0;
    return false;
  }
  gst_init(nullptr, nullptr);
  o->no_auth = no_auth;
  o->inventory = inventory ? inventory : "";
  o->users_file = users ? users : file ? file : "";
  o->tls.certificate = certificate ? certificate : "";
  o->tls.key = key ? key : "";
  for (char **set = sets; set && *set; set++) {
    const char *eq = strchr(*set, '=');
    if (!eq || eq == *set) {
      *status = usage_error(std::string("--set takes KEY=VALUE, not \"") + *set + "\"");
      return false;
    }
    o->overrides[std::string(*set, size_t(eq - *set))] = eq + 1;
  }
  // Numbers for the sinks' properties, checked against the properties themselves.
  const struct {
    const char *option, *property, *value;
  } numbers[] = {{"--port", "port", port},
                 {"--http-port", "http-port", http_port},
                 {"--max-connections", "max-connections", max_connections},
                 {"--max-connections-per-address", "max-connections-per-address", max_per_address},
                 {"--max-connection-rate", "max-connection-rate", max_rate},
                 {"--header-timeout", "header-timeout", header_timeout},
                 {"--request-timeout", "request-timeout", request_timeout}};
  for (const auto &n : numbers) {
    if (!n.value)
      continue;
    const std::string problem = check_sink_property(n.option, n.property, n.value);
    if (!problem.empty()) {
      *status = usage_error(problem);
      return false;
    }
    if (n.value == port)
      o->overrides["port"] = port;
    else if (n.value == http_port)
      o->tls.http_port = atoi(http_port);
    else
      o->server_properties.emplace_back(n.property, n.value);
  }
  if (hosts)
    o->server_properties.emplace_back("allowed-hosts", hosts);
  for (int i = 1; i < argc; i++) {
    const std::string a = argv[i];
    if (o->command.empty() && o->args.empty() &&
        (a == "run" || a == "list" || a == "show" || a == "check" || a == "probe" || a == "passwd"))
      o->command = a;
    else
      o->args.push_back(a);
  }
  return true;
}

}  // namespace

int main(int argc, char **argv) {
  if (running_from_build_tree()) {
    const char *old = g_getenv("GST_PLUGIN_PATH");
    std::string path = CAMCAST_BUILD_ROOT "/plugins/camcast";
    if (old && *old)
      path += std::string(":") + old;
    g_setenv("GST_PLUGIN_PATH", path.c_str(), TRUE);
  }
  raise_descriptor_limit();
  Options o;
  int status = 0;
  if (!parse_command_line(argc, argv, &o, &status))
    return status;
  if (o.command.empty())
    o.command = "run";  // `camcast`, `camcast NAME`: run
  // Port 0 means any free port, but one port for all the sinks of a preset: pick it now.
  if (o.overrides.count("port") && o.overrides["port"] == "0")
    o.overrides["port"] = std::to_string(free_port());

  if (o.command == "passwd")
    return cmd_passwd(o);
  if (o.command == "list")
    return cmd_list();
  if (o.command == "check")
    return cmd_check(o);
  std::string error;
  if (o.command == "probe") {
    Probed p = run_probes(o, &error);
    if (!error.empty())
      return usage_error(error);
    for (const std::string &line : p.report)
      g_print("%s\n", line.c_str());
    for (const char *key : {"camera", "h264enc", "mpeg1enc", "jpegenc"})
      if (p.values.count(key))
        g_print("${%s} = %s\n", key, p.values[key].c_str());
    return 0;
  }
  if (o.command == "show" && o.args.size() != 1)
    return usage_error("show takes one pipeline name or file");
  if (o.args.empty())
    o.args.push_back("default");
  const Probed probed = run_probes(o, &error);
  if (!error.empty())
    return usage_error(error);

  std::vector<RunSpec> specs;
  for (const std::string &arg : o.args) {
    RunSpec spec;
    if (!resolve(arg, o, probed, &spec, &error)) {
      g_printerr("%s\n", error.c_str());
      return 2;
    }
    specs.push_back(spec);
  }
  if (o.command == "show") {
    g_print("%s\n", specs.front().launch.c_str());
    return 0;
  }
  // Catch a launch line that cannot build before anything starts.
  for (const RunSpec &spec : specs) {
    GError *err = nullptr;
    GstElement *p = gst_parse_launch(spec.launch.c_str(), &err);
    if (p)
      gst_object_unref(p);
    if (err) {
      g_printerr("camcast: %s: the pipeline does not build: %s\n", spec.name.c_str(), err->message);
      g_error_free(err);
      return 2;
    }
  }
  // Private unless told otherwise: a login for the users of a users file, if there is one,
  // else the access token in the printed links.
  std::string token, users;
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
      return 1;
    }
  }
  // HTTPS: a certificate that cannot serve is a usage error now, not a restart loop later.
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
  const ServerSettings server{token, users, o.tls, o.server_properties};
  for (RunSpec &spec : specs)
    spec.server = server;
  Supervisor supervisor([o, server, args = o.args](std::vector<RunSpec> *out) {
    std::string error;
    const Probed probed = run_probes(o, &error);
    out->clear();
    for (const std::string &arg : args) {
      RunSpec spec;
      if (!error.empty() || !resolve(arg, o, probed, &spec, &error)) {
        g_printerr("%s\n", error.c_str());
        return false;
      }
      spec.server = server;
      out->push_back(spec);
    }
    return true;
  });
  return supervisor.run(specs);
}
