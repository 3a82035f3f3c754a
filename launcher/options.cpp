#include "options.h"

#include <gio/gio.h>
#include <gst/gst.h>

#include <cstring>

namespace camcast::launcher {

namespace {

// The words of `camcast --help` besides the options GLib lists itself.
const char *kCommands =
    "Streams a camera (a Raspberry Pi camera, a USB webcam, or a test pattern when there is\n"
    "none) to web browsers. With no command it runs the \"default\" preset on port 8080 and\n"
    "prints the address to open; \"camcast NAME\" is \"camcast run NAME\". The default and h264\n"
    "presets serve RTSP too, at rtsp://HOST:8554/video (--set rtsp=off: not), and ONVIF for\n"
    "NVRs at http://HOST:8080/onvif/device_service with --set onvif=on.\n"
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
    "good, 2 bad usage, a bad pipeline file, or a mistake no restart can fix (a port in use, a\n"
    "users file others can read, a certificate that does not fit its key).\n";

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

}  // namespace

int usage_error(const std::string &message) {
  g_printerr("camcast: %s\nTry \"camcast --help\".\n", message.c_str());
  return 2;
}

namespace {

// The options as GOption reads them (text, owned here), before they are checked.
struct RawOptions {
  char **sets = nullptr;
  char *port = nullptr, *inventory = nullptr, *users = nullptr, *file = nullptr;
  char *certificate = nullptr, *key = nullptr, *http_port = nullptr;
  char *max_connections = nullptr, *max_per_address = nullptr, *max_rate = nullptr;
  char *header_timeout = nullptr, *request_timeout = nullptr, *hosts = nullptr;
  gboolean no_auth = FALSE, version = FALSE;
  ~RawOptions() {
    g_strfreev(sets);
    for (char *s : {port, inventory, users, file, certificate, key, http_port, max_connections,
                    max_per_address, max_rate, header_timeout, request_timeout, hosts})
      g_free(s);
  }
};

// Checks the raw options and the remaining arguments into `o`; false with the exit status in
// `status` after saying what is wrong.
bool take_options(const RawOptions &r, int argc, char **argv, Options *o, int *status) {
  o->no_auth = r.no_auth;
  o->inventory = r.inventory ? r.inventory : "";
  o->users_file = r.users ? r.users : r.file ? r.file : "";
  o->tls.certificate = r.certificate ? r.certificate : "";
  o->tls.key = r.key ? r.key : "";
  for (char **set = r.sets; set && *set; set++) {
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
  } numbers[] = {
      {"--port", "port", r.port},
      {"--http-port", "http-port", r.http_port},
      {"--max-connections", "max-connections", r.max_connections},
      {"--max-connections-per-address", "max-connections-per-address", r.max_per_address},
      {"--max-connection-rate", "max-connection-rate", r.max_rate},
      {"--header-timeout", "header-timeout", r.header_timeout},
      {"--request-timeout", "request-timeout", r.request_timeout}};
  for (const auto &n : numbers) {
    if (!n.value)
      continue;
    const std::string problem = check_sink_property(n.option, n.property, n.value);
    if (!problem.empty()) {
      *status = usage_error(problem);
      return false;
    }
    if (n.value == r.port) {
      o->overrides["port"] = r.port;
      // Any free port: RTSP's too (a second camcast, a test, beside one on 8554).
      if (g_str_equal(r.port, "0") && !o->overrides.count("rtsp-port"))
        o->overrides["rtsp-port"] = "0";
    } else if (n.value == r.http_port)
      o->tls.http_port = atoi(r.http_port);
    else
      o->server_properties.emplace_back(n.property, n.value);
  }
  if (r.hosts)
    o->server_properties.emplace_back("allowed-hosts", r.hosts);
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

bool parse_command_line(int argc, char **argv, Options *o, int *status) {
  RawOptions r;
  const GOptionEntry entries[] = {
      {"set", 0, 0, G_OPTION_ARG_STRING_ARRAY, &r.sets,
       "set a variable, e.g. --set width=640 (repeatable)", "KEY=VALUE"},
      {"port", 0, 0, G_OPTION_ARG_STRING, &r.port,
       "the same as --set port=N (0: any free port, and RTSP's too)", "N"},
      {"inventory", 0, 0, G_OPTION_ARG_FILENAME, &r.inventory,
       "probe a recorded machine description instead", "FILE"},
      {"no-auth", 0, 0, G_OPTION_ARG_NONE, &r.no_auth, "let anyone who can reach the port watch",
       nullptr},
      {"users", 0, 0, G_OPTION_ARG_FILENAME, &r.users,
       "the users file for logins (default: ~/.config/camcast/users)", "FILE"},
      {"file", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_FILENAME, &r.file, nullptr, nullptr},
      {"tls-certificate", 0, 0, G_OPTION_ARG_FILENAME, &r.certificate,
       "serve HTTPS and WSS with this certificate (PEM)", "FILE"},
      {"tls-key", 0, 0, G_OPTION_ARG_FILENAME, &r.key, "the certificate's private key (PEM)",
       "FILE"},
      {"http-port", 0, 0, G_OPTION_ARG_STRING, &r.http_port,
       "with a certificate: also serve plain HTTP on port N", "N"},
      {"max-connections", 0, 0, G_OPTION_ARG_STRING, &r.max_connections,
       "connections open at once, viewers included (256)", "N"},
      {"max-connections-per-address", 0, 0, G_OPTION_ARG_STRING, &r.max_per_address,
       "connections open at once from one address (32)", "N"},
      {"max-connection-rate", 0, 0, G_OPTION_ARG_STRING, &r.max_rate,
       "new connections a second from one address (20)", "N"},
      {"header-timeout", 0, 0, G_OPTION_ARG_STRING, &r.header_timeout,
       "seconds for the TLS handshake and request head (10)", "S"},
      {"request-timeout", 0, 0, G_OPTION_ARG_STRING, &r.request_timeout,
       "seconds for a request's body and answer (30)", "S"},
      {"allowed-hosts", 0, 0, G_OPTION_ARG_STRING, &r.hosts,
       "names this camera answers to besides its addresses and host name", "NAME,..."},
      {"version", 0, 0, G_OPTION_ARG_NONE, &r.version, "show the version", nullptr},
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
  if (r.version) {
    g_print("camcast %s\n", PACKAGE_VERSION);
    *status = 0;
    return false;
  }
  gst_init(nullptr, nullptr);
  return take_options(r, argc, argv, o, status);
}

}  // namespace camcast::launcher
