#include "supervised_pipeline.h"

#include "probe.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

namespace camcast::launcher {

namespace {

bool is_camcast_element(GstElement *e) {
  GstElementFactory *f = gst_element_get_factory(e);
  GstPlugin *plugin = f ? gst_plugin_feature_get_plugin(GST_PLUGIN_FEATURE(f)) : nullptr;
  const bool ours = plugin && g_str_equal(gst_plugin_get_name(plugin), "camcast");
  if (plugin)
    gst_object_unref(plugin);
  return ours;
}

bool is_camcast_sink(GstElement *e) {
  GstElementFactory *f = gst_element_get_factory(e);
  return f && g_object_class_find_property(G_OBJECT_GET_CLASS(e), "linger") &&
         g_object_class_find_property(G_OBJECT_GET_CLASS(e), "current-port");
}

}  // namespace

std::string camcast_sink_in_output(GstBin *part) {
  std::string why;
  for_each_element(part, [&](GstElement *e) {
    if (why.empty() && is_camcast_sink(e))
      why = std::string(GST_OBJECT_NAME(e)) +
            " is one of camcast's sinks: they belong in the launch line, where viewers are "
            "counted and outputs idle";
  });
  return why;
}

namespace {

// Where a viewer arrived or left, posted from a server thread to the main loop.
struct ViewerNotice {
  Supervisor *owner;
  uint64_t pipeline_id;
};

void post_viewer_notice(const ViewerNotice *notice) {
  g_main_context_invoke_full(
      nullptr, G_PRIORITY_DEFAULT,
      [](gpointer data) {
        auto *v = static_cast<ViewerNotice *>(data);
        v->owner->viewers_changed(v->pipeline_id);
        return G_SOURCE_REMOVE;
      },
      new ViewerNotice(*notice), [](gpointer data) { delete static_cast<ViewerNotice *>(data); });
}

void on_client_added(GstElement *, guint64, gpointer notice) {
  post_viewer_notice(static_cast<const ViewerNotice *>(notice));
}

void on_client_removed(GstElement *, guint64, gint, gpointer notice) {
  post_viewer_notice(static_cast<const ViewerNotice *>(notice));
}

}  // namespace

Supervisor::Pipeline::Pipeline(RunSpec s, Supervisor *o, uint64_t pid)
    : spec(std::move(s)), owner(o), id(pid) {
  backoff_ms = spec.supervise.backoff_initial_ms;
}

Supervisor::Pipeline::~Pipeline() {
  if (restart_timer)
    g_source_remove(restart_timer);
  teardown(false);
}

guint Supervisor::Pipeline::viewers() {
  guint total = 0;
  if (pipeline)
    for_each_element(GST_BIN(pipeline), [&](GstElement *e) {
      guint n = 0;
      if (is_camcast_sink(e))
        g_object_get(e, "num-clients", &n, nullptr);
      total += n;
    });
  return total;
}

void Supervisor::Pipeline::viewers_changed() {
  if (!pipeline || !spec.supervise.on_demand)
    return;
  if (viewers() > 0) {
    if (idle_timer)
      g_source_remove(idle_timer);
    idle_timer = 0;
    if (idle) {
      log(spec.name, "a viewer arrived: starting the camera");
      idle = false;
      gst_element_set_state(pipeline, GST_STATE_PLAYING);
    }
  } else if (!idle && !idle_timer) {
    idle_timer = g_timeout_add_seconds(
        guint(spec.supervise.on_demand_linger_s),
        [](gpointer self) {
          auto *p = static_cast<Pipeline *>(self);
          p->idle_timer = 0;
          if (p->viewers() == 0)
            p->go_idle();
          return G_SOURCE_REMOVE;
        },
        this);
  }
}

void Supervisor::Pipeline::go_idle() {
  log(spec.name, "no viewers for %d s: camera off until the next one",
      spec.supervise.on_demand_linger_s);
  idle = true;
  playing = false;
  for (auto &o : outputs)
    o->stop();
  gst_element_set_state(pipeline, GST_STATE_READY);
}

// Each output part of the spec (output_part.h), fed from this pipeline; its state told to every
// camcast sink of the camera's line, whose servers show it with the streams.
void Supervisor::Pipeline::make_outputs() {
  for (const OutputSpec &o : spec.outputs) {
    const std::string name = spec.name + "/" + o.name;
    auto report = [this, name](const char *state, const std::string &why) {
      for_each_element(GST_BIN(pipeline), [&](GstElement *e) {
        if (g_signal_lookup("report-output", G_OBJECT_TYPE(e)))
          g_signal_emit_by_name(e, "report-output", name.c_str(), state, why.c_str());
      });
    };
    outputs.push_back(
        std::make_unique<OutputPart>(name, o, spec.supervise, pipeline, std::move(report)));
  }
}

// What the run gives every camcast element: its server's TLS and limits, the access rules and
// sessions of the sinks, and the viewer signals the supervisor counts.
void Supervisor::Pipeline::configure(GstElement *e) {
  // Every camcast element on a port (the sinks, relaysrc) shares its server's TLS.
  const SinkSettings &sinks = spec.sinks;
  if (is_camcast_element(e) &&
      g_object_class_find_property(G_OBJECT_GET_CLASS(e), "tls-certificate")) {
    g_object_set(e, "tls-certificate", sinks.tls.certificate.c_str(), "tls-key",
                 sinks.tls.key.c_str(), "http-port", sinks.tls.http_port, nullptr);
    for (const auto &[name, value] : sinks.properties)
      if (g_object_class_find_property(G_OBJECT_GET_CLASS(e), name.c_str()))
        gst_util_set_object_arg(G_OBJECT(e), name.c_str(), value.c_str());
  }
  if (is_camcast_sink(e)) {
    g_object_set(e, "linger", guint(spec.supervise.linger_s), "access-token",
                 sinks.access_token.c_str(), "users-file", sinks.users_file.c_str(), nullptr);
    // Sessions outlive a restart of camcast (one file a pipeline: a port each).
    if (!sinks.state_dir.empty() && (!sinks.access_token.empty() || !sinks.users_file.empty()))
      g_object_set(e, "sessions-file", (sinks.state_dir + "/sessions-" + spec.name).c_str(),
                   nullptr);
    // Emitted on the server's thread: post_viewer_notice hands the news to the main loop.
    auto forget = [](gpointer d, GClosure *) { delete static_cast<ViewerNotice *>(d); };
    g_signal_connect_data(e, "client-added", G_CALLBACK(on_client_added),
                          new ViewerNotice{owner, id}, forget, GConnectFlags(0));
    g_signal_connect_data(e, "client-removed", G_CALLBACK(on_client_removed),
                          new ViewerNotice{owner, id}, forget, GConnectFlags(0));
  }
}

// A buffer leaving a source or reaching a sink means the pipeline lives; sources count because
// outputs nobody watches idle (idle_branch.h), and then no buffer reaches a sink. The microphone
// does not count: its sound must not hide a camera that stopped.
void Supervisor::Pipeline::watch_liveness(GstElement *e) {
  const bool sink = GST_OBJECT_FLAG_IS_SET(e, GST_ELEMENT_FLAG_SINK);
  if ((sink || GST_OBJECT_FLAG_IS_SET(e, GST_ELEMENT_FLAG_SOURCE)) &&
      g_strcmp0(GST_OBJECT_NAME(e), kMicrophoneName) != 0) {
    GstPad *pad = gst_element_get_static_pad(e, sink ? "sink" : "src");
    if (pad) {
      gst_pad_add_probe(
          pad, GstPadProbeType(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST),
          [](GstPad *, GstPadProbeInfo *, gpointer self) {
            static_cast<Pipeline *>(self)->last_buffer = g_get_monotonic_time();
            return GST_PAD_PROBE_OK;
          },
          this, nullptr);
      gst_object_unref(pad);
    }
  }
}

void Supervisor::Pipeline::start() {
  restart_timer = 0;
  for (const std::string &dir : spec.directories)
    if (g_mkdir_with_parents(dir.c_str(), 0755) != 0) {
      g_autofree char *why =
          g_strdup_printf("cannot create the directory %s: %s", dir.c_str(), g_strerror(errno));
      schedule_restart(why, true);
      return;
    }
  GError *error = nullptr;
  GstElement *p = gst_parse_launch(spec.full_launch(!without_audio).c_str(), &error);
  if (!p || error) {
    log(spec.name, "cannot build the pipeline: %s", error ? error->message : "unknown error");
    g_clear_error(&error);
    if (p)
      gst_object_unref(p);
    schedule_restart("it could not be built", true);
    return;
  }
  pipeline = p;
  make_outputs();
  for_each_element(GST_BIN(pipeline), [this](GstElement *e) {
    configure(e);
    watch_liveness(e);
  });
  GstBus *bus = gst_element_get_bus(pipeline);
  bus_watch = gst_bus_add_watch(bus, &Pipeline::on_message, this);
  gst_object_unref(bus);
  playing = false;
  last_buffer = g_get_monotonic_time();
  // On demand with nobody watching (viewers kept across a restart count): READY, where the
  // sinks serve pages and take viewers while the camera is off.
  idle = spec.supervise.on_demand && viewers() == 0;
  const bool failed = gst_element_set_state(pipeline, idle ? GST_STATE_READY : GST_STATE_PLAYING) ==
                      GST_STATE_CHANGE_FAILURE;
  if (failed)
    log(spec.name, "could not start (the error follows)");
  if (idle && !failed) {
    if (!announced)
      announce();
    log(spec.name, "on demand: the camera starts with the first viewer");
    owner->pipeline_playing();
  }
}

void Supervisor::Pipeline::teardown(bool keep_viewers) {
  if (!pipeline)
    return;
  if (!keep_viewers)
    for_each_element(GST_BIN(pipeline), [](GstElement *e) {
      if (is_camcast_sink(e))
        g_object_set(e, "linger", 0u, nullptr);
    });
  if (bus_watch)
    g_source_remove(bus_watch);
  bus_watch = 0;
  if (idle_timer)
    g_source_remove(idle_timer);
  idle_timer = 0;
  for (auto &o : outputs)
    o->stop();
  gst_element_set_state(pipeline, GST_STATE_NULL);
  outputs.clear();  // after the camera stopped: no bridge callback runs any more
  gst_object_unref(pipeline);
  pipeline = nullptr;
  playing = false;
}

void Supervisor::Pipeline::schedule_restart(const char *why, bool failure) {
  const Restart policy = spec.supervise.restart;
  if (policy == Restart::Never || (policy == Restart::OnFailure && !failure)) {
    log(spec.name, "%s; not restarting (restart=%s)", why,
        policy == Restart::Never ? "never" : "on-failure");
    teardown(false);
    stopped = true;
    if (failure)
      owner->failed_ = true;
    owner->check_all_stopped();
    return;
  }
  teardown(true);
  log(spec.name, "%s; restarting in %d ms", why, backoff_ms);
  restart_timer = g_timeout_add(
      guint(backoff_ms),
      [](gpointer self) {
        static_cast<Pipeline *>(self)->start();
        return G_SOURCE_REMOVE;
      },
      this);
  backoff_ms = std::min(std::max(backoff_ms * 2, 1), spec.supervise.backoff_max_ms);
}

// This machine's IPv4 addresses others can reach it at (up, not loopback, not link-local).
static std::vector<std::string> machine_addresses() {
  std::vector<std::string> out;
  ifaddrs *all = nullptr;
  if (getifaddrs(&all) != 0)
    return out;
  for (const ifaddrs *i = all; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !(i->ifa_flags & IFF_UP) ||
        (i->ifa_flags & IFF_LOOPBACK))
      continue;
    const in_addr a = reinterpret_cast<const sockaddr_in *>(i->ifa_addr)->sin_addr;
    if ((ntohl(a.s_addr) >> 16) == 0xA9FE)  // 169.254/16
      continue;
    char text[INET_ADDRSTRLEN];
    if (inet_ntop(AF_INET, &a, text, sizeof text) &&
        std::find(out.begin(), out.end(), text) == out.end())
      out.push_back(text);
  }
  freeifaddrs(all);
  return out;
}

void Supervisor::Pipeline::announce() {
  announced = true;
  std::vector<std::string> lines, elsewhere;
  std::string index, plain;
  const SinkSettings &sinks = spec.sinks;
  for_each_element(GST_BIN(pipeline), [&](GstElement *e) {
    if (!is_camcast_sink(e))
      return;
    int port = -1, http_port = -1;
    gchar *path = nullptr, *address = nullptr;
    g_object_get(e, "current-port", &port, "current-http-port", &http_port, "path", &path,
                 "address", &address, nullptr);
    const bool any = !address || g_str_equal(address, "0.0.0.0") || g_str_equal(address, "::");
    const char *host = any ? "127.0.0.1" : address;
    g_autofree char *base =
        g_strdup_printf("%s://%s:%d", sinks.tls.enabled() ? "https" : "http", host, port);
    const std::string token = sinks.access_token.empty() ? "" : "?token=" + sinks.access_token;
    const char *factory = GST_OBJECT_NAME(gst_element_get_factory(e));
    int rtsp_port = -1;
    if (g_object_class_find_property(G_OBJECT_GET_CLASS(e), "current-rtsp-port"))
      g_object_get(e, "current-rtsp-port", &rtsp_port, nullptr);
    if (g_str_equal(factory, "onvifsink")) {
      // Signed with WS-Security, not a link's token.
      lines.push_back(std::string(base) + path + "/device_service  (onvifsink: ONVIF for NVRs)");
    } else if (rtsp_port >= 0) {
      // Basic credentials in the address, as RTSP clients take them: any user, the token.
      const std::string who =
          sinks.access_token.empty() ? "" : "camcast:" + sinks.access_token + "@";
      lines.push_back(std::string(sinks.tls.enabled() ? "rtsps://" : "rtsp://") + who + host + ":" +
                      std::to_string(rtsp_port) + path + "  (" + factory + ")");
    } else {
      lines.push_back(std::string(base) + path + token + "  (" + factory + ")");
    }
    index = std::string(base) + "/" + token;
    elsewhere.clear();
    if (any)
      for (const std::string &ip : machine_addresses())
        elsewhere.push_back(std::string(sinks.tls.enabled() ? "https" : "http") + "://" + ip + ":" +
                            std::to_string(port) + "/" + token);
    if (http_port >= 0) {
      g_autofree char *url = g_strdup_printf("http://%s:%d/", host, http_port);
      plain = url + token;
    }
    g_free(path);
    g_free(address);
  });
  std::sort(lines.begin(), lines.end());
  if (lines.empty())
    log(spec.name, "running");
  for (const std::string &line : lines)
    g_print("camcast: %s: open %s\n", spec.name.c_str(), line.c_str());
  if (!index.empty())
    g_print("camcast: %s: every stream: %s\n", spec.name.c_str(), index.c_str());
  for (const std::string &url : elsewhere)
    g_print("camcast: %s: from other machines: %s\n", spec.name.c_str(), url.c_str());
  if (!plain.empty())
    g_print("camcast: %s: also over plain HTTP: %s\n", spec.name.c_str(), plain.c_str());
  if (!sinks.users_file.empty() && !lines.empty())
    g_print("camcast: %s: log in as a user of %s\n", spec.name.c_str(), sinks.users_file.c_str());
}

void Supervisor::Pipeline::check(gint64 now) {
  if (without_audio && pipeline && now - microphone_checked > 2 * G_USEC_PER_SEC) {
    microphone_checked = now;
    if (microphone_present(spec.microphone)) {
      log(spec.name, "the microphone is back: restarting with sound");
      without_audio = false;
      teardown(true);
      start();
      return;
    }
  }
  if (!pipeline || !playing)
    return;
  for (auto &o : outputs)
    o->check(now);
  const gint64 stall = gint64(spec.supervise.stall_timeout_s) * G_USEC_PER_SEC;
  if (stall > 0 && now - last_buffer.load() > stall) {
    g_autofree char *why =
        g_strdup_printf("no buffer came from the sources or reached the sinks for %d s (stalled)",
                        spec.supervise.stall_timeout_s);
    schedule_restart(why, true);
    return;
  }
  // Ten healthy seconds: the next failure starts the back-off from the beginning again.
  if (now - playing_since > 10 * G_USEC_PER_SEC) {
    backoff_ms = spec.supervise.backoff_initial_ms;
    ran_well = true;
  }
}

// An error: restarted after the back-off, or — a configuration mistake — the end of camcast.
void Supervisor::Pipeline::on_error(GstMessage *msg) {
  GError *error = nullptr;
  gchar *debug = nullptr;
  gst_message_parse_error(msg, &error, &debug);
  // The microphone failing (unplugged, its sound server gone) costs the sound, not the picture:
  // the pipeline goes on without it until it is back (check()).
  if (!without_audio && !spec.launch_audio.empty() &&
      g_strcmp0(GST_OBJECT_NAME(msg->src), kMicrophoneName) == 0) {
    g_autofree char *why = g_strdup_printf(
        "the microphone failed (%s); going on without sound "
        "until it is back",
        error->message);
    g_error_free(error);
    g_free(debug);
    bus_watch = 0;
    without_audio = true;
    microphone_checked = g_get_monotonic_time();
    schedule_restart(why, true);
    return;
  }
  // A relay fed a codec its pipeline does not take fails with not-negotiated, which says
  // nothing to the person who pointed that camera at it.
  GstElementFactory *factory =
      GST_IS_ELEMENT(msg->src) ? gst_element_get_factory(GST_ELEMENT(msg->src)) : nullptr;
  const bool wrong_codec = factory && debug && strstr(debug, "not-negotiated") &&
                           g_strcmp0(GST_OBJECT_NAME(factory), "relaysrc") == 0;
  g_autofree char *why = g_strdup_printf(
      "error from %s: %s%s%s%s", GST_OBJECT_NAME(msg->src), error->message, debug ? " -- " : "",
      debug ? debug : "",
      wrong_codec ? "\nthe camera sends a codec this pipeline cannot take (relay-serve "
                    "takes H.264, jsmpeg-relay MPEG-1)"
                  : "");
  // A camcast element that refuses what it was given before the pipeline ever ran — a users
  // file others can read, a port in use, a certificate that does not fit — is a mistake in
  // the configuration: restarting would repeat it for ever.
  const bool resource_mistake =
      !announced && error->domain == GST_RESOURCE_ERROR && GST_IS_ELEMENT(msg->src) &&
      is_camcast_element(GST_ELEMENT(msg->src)) &&
      (error->code == GST_RESOURCE_ERROR_SETTINGS || error->code == GST_RESOURCE_ERROR_OPEN_READ ||
       error->code == GST_RESOURCE_ERROR_OPEN_READ_WRITE || error->code == GST_RESOURCE_ERROR_BUSY);
  // So is a format an element refuses before the line ever ran well (an MPEG-1 picture of an
  // odd size): the settings cannot work. Not a relay's: a camera that sends it the wrong codec
  // is a fault of that camera, and another may come.
  const bool format_mistake =
      !ran_well && !wrong_codec &&
      (error->domain == GST_STREAM_ERROR || (debug && strstr(debug, "not-negotiated"))) &&
      !(factory && g_strcmp0(GST_OBJECT_NAME(factory), "relaysrc") == 0);
  const bool mistake = resource_mistake || format_mistake;
  g_error_free(error);
  g_free(debug);
  bus_watch = 0;
  if (mistake) {
    const std::string hint =
        strstr(why, "already in use")
            ? " (camcast --port N takes another port, --port 0 any free one)"
        : format_mistake
            ? " (camcast check " + spec.name + " with the same --set options names the settings)"
            : "";
    log(spec.name, "%s\nthat is a configuration mistake no restart can fix: stopping%s", why,
        hint.c_str());
    teardown(false);
    stopped = true;
    owner->configuration_mistake();
    return;
  }
  schedule_restart(why, true);
}

gboolean Supervisor::Pipeline::on_message(GstBus *, GstMessage *msg, gpointer self) {
  auto *p = static_cast<Pipeline *>(self);
  switch (GST_MESSAGE_TYPE(msg)) {
  case GST_MESSAGE_ERROR: p->on_error(msg); return G_SOURCE_REMOVE;
  case GST_MESSAGE_EOS:
    p->bus_watch = 0;
    p->schedule_restart("the stream ended (EOS)", false);
    return G_SOURCE_REMOVE;
  case GST_MESSAGE_STATE_CHANGED:
    if (GST_MESSAGE_SRC(msg) == GST_OBJECT(p->pipeline)) {
      GstState state;
      gst_message_parse_state_changed(msg, nullptr, &state, nullptr);
      if (state == GST_STATE_PLAYING && !p->playing) {
        p->playing = true;
        for (auto &o : p->outputs)
          o->start();
        p->playing_since = g_get_monotonic_time();
        p->last_buffer = p->playing_since;
        if (!p->announced)
          p->announce();
        p->owner->pipeline_playing();
      }
    }
    return G_SOURCE_CONTINUE;
  case GST_MESSAGE_ELEMENT: log_connection(p->spec.name, msg); return G_SOURCE_CONTINUE;
  default: return G_SOURCE_CONTINUE;
  }
}

void log_connection(const std::string &name, GstMessage *msg) {
  const GstStructure *s = gst_message_get_structure(msg);
  if (!s)
    return;
  gboolean up = FALSE;
  const char *reason = gst_structure_get_string(s, "reason");
  const char *server = gst_structure_has_name(s, "relaysink")         ? "the relay"
                       : gst_structure_has_name(s, "whippublishsink") ? "the WHIP server"
                                                                      : nullptr;
  if (server && gst_structure_get_boolean(s, "connected", &up))
    log(name, up ? "connected to %s" : "not connected to %s: %s", server, reason ? reason : "");
  else if (gst_structure_has_name(s, "relaysrc-publisher") &&
           gst_structure_get_boolean(s, "live", &up))
    log(name, up ? "a camera is publishing from %s" : "the camera at %s stopped: %s",
        gst_structure_get_string(s, "peer"), reason ? reason : "");
  else if (gst_structure_has_name(s, "recordsink") && gst_structure_get_string(s, "text"))
    log(name, "%s", gst_structure_get_string(s, "text"));
  else if (gst_structure_has_name(s, "relaysrc-refused"))
    log(name, "refused a camera at %s: %s", gst_structure_get_string(s, "peer"),
        reason ? reason : "");
}

}  // namespace camcast::launcher
