// camcast: streams a camera to web browsers. Loads pipeline files (presets or your own), fills
// them in for the hardware it finds, and keeps them running. See `camcast --help`.
#include "access/tls.h"
#include "commands.h"
#include "options.h"
#include "supervisor.h"

#include <gio/gio.h>
#include <gst/gst.h>
#include <sys/resource.h>

#include <set>
#include <string>
#include <vector>

using namespace camcast::launcher;

namespace {

// A server holds a descriptor per viewer and per request: the usual soft limit of 1,024 (systemd's
// default too) is far below what the kernel allows this process. Raise it to the hard limit.
void raise_descriptor_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

// Catches a line that cannot build before anything starts; false after saying why.
bool launch_lines_build(const std::vector<RunSpec> &specs) {
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
// with `server` filled in, else the exit status (after saying why).
int server_settings(const Options &o, ServerSettings *server) {
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
  *server = ServerSettings{token, users, keep, o.tls, o.server_properties};
  return -1;
}

// Every pipeline named (or the default preset) resolved for this machine; false after saying why.
bool resolve_all(const Options &o, const ServerSettings &server, std::vector<RunSpec> *specs) {
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
    spec.server = server;
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
  ServerSettings server;
  const int status = server_settings(o, &server);
  if (status >= 0)
    return status;
  for (RunSpec &spec : specs)
    spec.server = server;
  // On SIGHUP: probed and resolved again, with the same server settings.
  Supervisor supervisor(
      [o, server](std::vector<RunSpec> *out) { return resolve_all(o, server, out); });
  return supervisor.run(specs);
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
  if (o.command == "probe")
    return cmd_probe(o);
  return cmd_run(o);
}
