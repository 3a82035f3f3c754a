#include "supervisor.h"

#include "supervised_pipeline.h"

#include <glib-unix.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

namespace camcast::launcher {

void log(const std::string &name, const char *fmt, ...) {
  va_list args;
  va_start(args, fmt);
  g_autofree char *text = g_strdup_vprintf(fmt, args);
  va_end(args);
  g_printerr("camcast: %s: %s\n", name.c_str(), text);
}

void sd_notify_state(const char *state) {
  const char *path = g_getenv("NOTIFY_SOCKET");
  if (!path || !*path)
    return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const size_t len = strlen(path);
  if (len >= sizeof addr.sun_path)
    return;
  memcpy(addr.sun_path, path, len);
  if (addr.sun_path[0] == '@')  // an abstract socket
    addr.sun_path[0] = '\0';
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return;
  sendto(fd, state, strlen(state), MSG_NOSIGNAL, reinterpret_cast<sockaddr *>(&addr),
         socklen_t(offsetof(sockaddr_un, sun_path) + len));
  close(fd);
}

Supervisor::Supervisor(std::function<bool(std::vector<RunSpec> *)> reload)
    : reload_(std::move(reload)) {}

Supervisor::~Supervisor() {
  pipelines_.clear();
  if (loop_)
    g_main_loop_unref(loop_);
}

void Supervisor::viewers_changed(uint64_t pipeline_id) {
  for (auto &p : pipelines_)
    if (p && p->id == pipeline_id)
      p->viewers_changed();
}

void Supervisor::pipeline_playing() {
  if (ready_sent_)
    return;
  for (const auto &p : pipelines_)
    if (!p->playing && !p->stopped && !p->idle)
      return;
  ready_sent_ = true;
  sd_notify_state("READY=1");
}

void Supervisor::check_all_stopped() {
  for (const auto &p : pipelines_)
    if (!p->stopped)
      return;
  g_main_loop_quit(loop_);
}

void Supervisor::configuration_mistake() {
  mistake_ = true;
  g_main_loop_quit(loop_);
}

bool lines_build(const RunSpec &spec, std::string *output, std::string *why) {
  auto builds = [&](const std::string &launch, const char *what) {
    GError *err = nullptr;
    GstElement *p = gst_parse_launch(launch.c_str(), &err);
    if (err)
      *why = std::string(what) + " does not build: " + err->message;
    else if (p && !output->empty())
      *why = camcast_sink_in_output(GST_BIN(p));
    g_clear_error(&err);
    gst_clear_object(&p);
    return why->empty();
  };
  output->clear();
  why->clear();
  if (!builds(spec.full_launch(), "the launch line"))
    return false;
  for (const OutputSpec &o : spec.outputs) {
    *output = o.name;
    if (!builds(o.part_launch, ("output-" + o.name).c_str()))
      return false;
  }
  output->clear();
  return true;
}

void Supervisor::apply(const std::vector<RunSpec> &specs) {
  // Keep what is unchanged, restart what changed, start what is new, stop what is gone.
  std::vector<std::unique_ptr<Pipeline>> next;
  for (const RunSpec &spec : specs) {
    std::unique_ptr<Pipeline> kept;
    for (auto &p : pipelines_)
      if (p && p->spec.name == spec.name && p->spec.full_launch() == spec.full_launch() &&
          same_outputs(p->spec, spec) && !p->stopped) {
        kept = std::move(p);
        kept->spec.supervise = spec.supervise;
      }
    if (kept) {
      next.push_back(std::move(kept));
      continue;
    }
    for (auto &p : pipelines_)
      if (p && p->spec.name == spec.name) {
        log(spec.name, "changed; restarting it");
        p->teardown(true);  // the new one takes its viewers over
        p.reset();
      }
    next.push_back(std::make_unique<Pipeline>(spec, this, next_pipeline_id_++));
    next.back()->start();
  }
  for (auto &p : pipelines_)
    if (p)
      log(p->spec.name, "no longer configured; stopping it");
  pipelines_.clear();
  pipelines_ = std::move(next);
}

void Supervisor::stop_all() {
  sd_notify_state("STOPPING=1");
  for (auto &p : pipelines_)
    p->teardown(false);
}

gboolean Supervisor::tick(gpointer self) {
  auto *s = static_cast<Supervisor *>(self);
  const gint64 now = g_get_monotonic_time();
  for (auto &p : s->pipelines_)
    p->check(now);
  if (s->watchdog_interval_us_ && now - s->last_watchdog_ >= s->watchdog_interval_us_ / 2) {
    s->last_watchdog_ = now;
    sd_notify_state("WATCHDOG=1");
  }
  return G_SOURCE_CONTINUE;
}

int Supervisor::run(const std::vector<RunSpec> &specs) {
  loop_ = g_main_loop_new(nullptr, FALSE);
  if (const char *usec = g_getenv("WATCHDOG_USEC"))
    watchdog_interval_us_ = g_ascii_strtoll(usec, nullptr, 10);
  auto quit = [](gpointer self) -> gboolean {
    auto *s = static_cast<Supervisor *>(self);
    g_printerr("camcast: stopping\n");
    s->stop_all();
    g_main_loop_quit(s->loop_);
    return G_SOURCE_CONTINUE;
  };
  const guint sigint = g_unix_signal_add(SIGINT, quit, this);
  const guint sigterm = g_unix_signal_add(SIGTERM, quit, this);
  const guint sighup = g_unix_signal_add(
      SIGHUP,
      [](gpointer self) -> gboolean {
        auto *s = static_cast<Supervisor *>(self);
        std::vector<RunSpec> specs;
        if (!s->reload_ || !s->reload_(&specs)) {
          g_printerr("camcast: reload failed; still running the pipelines as they were\n");
          return G_SOURCE_CONTINUE;
        }
        g_printerr("camcast: reloading\n");
        s->apply(specs);
        return G_SOURCE_CONTINUE;
      },
      this);
  const guint ticker = g_timeout_add(250, &Supervisor::tick, this);
  apply(specs);
  g_main_loop_run(loop_);
  stop_all();
  g_source_remove(ticker);
  g_source_remove(sighup);
  g_source_remove(sigterm);
  g_source_remove(sigint);
  pipelines_.clear();
  return mistake_ ? 2 : failed_ ? 1 : 0;
}

}  // namespace camcast::launcher
