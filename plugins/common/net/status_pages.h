// Layer net: sockets, HTTP, mounts, clients, on a server's thread; uses fanout, formats, access.
// What a server says about itself: the mount list at "/", /api/streams (JSON) and /metrics
// (Prometheus text exposition format 0.0.4). Pure functions of the statistics, so they are
// tested without a server.
#pragma once

#include "net/mount.h"

#include <string>
#include <vector>

namespace camcast {

// An output beside the streams — a push to a server, a recorder — as its owner reports it
// (the launcher for each output part; an application for its own: wssink's report-output).
struct OutputReport {
  std::string name;
  std::string state;    // "starting", "running" or "down"
  std::string why;      // down: the reason, in words
  gint64 since_us = 0;  // monotonic: when it entered this state
};

std::string render_index(const std::vector<MountStats> &mounts,
                         const std::vector<OutputReport> &outputs = {}, gint64 now_us = 0);
// `peers`: the viewers' addresses too — for a reader with a credential only: on an open server
// anyone who can reach it would learn who watches from where.
std::string render_streams_json(const std::vector<MountStats> &mounts, bool peers,
                                const std::vector<OutputReport> &outputs = {}, gint64 now_us = 0);
std::string render_metrics(const std::vector<MountStats> &mounts,
                           const std::vector<OutputReport> &outputs = {});

}  // namespace camcast
