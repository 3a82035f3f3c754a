// The launcher's command line: what `camcast --help` says, and the options read into one struct.
#pragma once

#include "access/tls.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace camcast::launcher {

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

// Reads the command line into `o` (and initialises GStreamer, to check numbers against the
// sinks' own properties); false with the exit status in `status` when camcast should stop
// (help, version, or a mistake, already explained).
bool parse_command_line(int argc, char **argv, Options *o, int *status);

// Says what is wrong and how to get help; returns the exit status for bad usage (2).
int usage_error(const std::string &message);

}  // namespace camcast::launcher
