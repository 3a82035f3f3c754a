// Layer net: sockets, HTTP, mounts, clients, on a server's thread; uses fanout, formats, access.
// What a server says about itself: the mount list at "/", /api/streams (JSON) and /metrics
// (Prometheus text exposition format 0.0.4). Pure functions of the statistics, so they are
// tested without a server.
#pragma once

#include "net/mount.h"

#include <string>
#include <vector>

namespace camcast {

std::string render_index(const std::vector<MountStats> &mounts);
// `peers`: the viewers' addresses too — for a reader with a credential only: on an open server
// anyone who can reach it would learn who watches from where.
std::string render_streams_json(const std::vector<MountStats> &mounts, bool peers);
std::string render_metrics(const std::vector<MountStats> &mounts);

}  // namespace camcast
