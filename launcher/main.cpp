// camcast: streams a camera to web browsers. Loads pipeline files (presets or your own), fills
// them in for the hardware it finds, and keeps them running. See `camcast --help`.
#include "commands.h"
#include "options.h"

#include <gio/gio.h>
#include <gst/gst.h>
#include <sys/resource.h>

#include <string>

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
  for (const char *port : {"port", "rtsp-port"})
    if (o.overrides.count(port) && o.overrides[port] == "0")
      o.overrides[port] = std::to_string(free_port());
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
