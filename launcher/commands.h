// The launcher's commands besides `run`, and what they share with it: where pipelines are
// found, the probes, the access token.
#pragma once

#include "options.h"
#include "pipeline_file.h"
#include "probe.h"
#include "supervisor.h"

#include <set>
#include <string>
#include <vector>

namespace camcast::launcher {

// Where camcast keeps what it makes: $STATE_DIRECTORY under systemd, else ~/.config/camcast.
std::string state_dir();
// Where recordings go by default: the service's state directory, or ./recordings when camcast
// runs by hand (where the record preset always put them).
std::string record_dir();
// True for the binary in the build tree (not an installed copy): it then uses the presets of
// the source tree and the plugin built beside it.
bool running_from_build_tree();
// What this machine has for the probes, or the recorded description of --inventory.
bool take_inventory(const Options &o, Inventory *inventory, std::string *error);
// The camera settings a pipeline is given: by --set, else under the file's [variables].
std::map<std::string, Given> camera_settings(const Options &o, const PipelineFile *file);
// `audio` as --set or the file gives it (auto by default), with where it was given.
Given audio_setting(const Options &o, const PipelineFile *file);
// A pipeline name or file, loaded and filled in for this machine. `settable`, if given, gets
// every name a --set can give it.
bool resolve(const std::string &arg, const Options &o, const Inventory &inventory, RunSpec *spec,
             std::string *error, std::set<std::string> *settable = nullptr);
// The refusal of the first --set whose name none of the pipelines has (`settable`), naming the
// nearest name there is; "" when every name is known.
std::string unknown_setting(const Options &o, const std::set<std::string> &settable);
// The access token: made up at first start and kept (0600) in state_dir(), so the links stay
// valid across restarts. Empty with `error` on failure.
std::string access_token(std::string *error);
// A TCP port nothing listens on now (the kernel's choice for port 0).
int free_port();

// The commands; each returns the exit status.
// `run` and `show`: the pipelines named (or the default preset), resolved for this machine and
// run under the supervisor, or (show) printed as one gst-launch-1.0 line.
int cmd_run(Options o);
int cmd_passwd(const Options &o);
int cmd_list();
int cmd_check(const Options &o);
int cmd_probe(const Options &o);

}  // namespace camcast::launcher
