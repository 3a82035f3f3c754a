// Layer relay: both ends of a camera's push to a public host; uses net, fanout, formats, access.
// The camera side of a relay: one long HTTP POST whose chunked body is the stream, to a public
// host the camera can reach when nobody can reach the camera — relaysrc, the JSMpeg relay
// (POST /<secret>), or anything that takes what `ffmpeg -f mpegts http://…` sends.
//
// A thread of its own connects (http:// or https://), sends the stream header (PAT/PMT) and then
// the stream from its next keyframe, and reconnects with exponential back-off when the
// connection fails, the relay answers (a refusal: wrong secret, another publisher) or a write
// makes no progress for `timeout_s`. While it is not connected, and whenever the link is slower
// than the stream, units are dropped — counted, never buffered beyond `max_queued_bytes` — and
// the stream resumes at a keyframe.
#pragma once

#include "fanout/drop_gate.h"

#include <gio/gio.h>
#include <gst/gst.h>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace camcast {

// What a relay's answer (bytes it sent back, untrusted) means for the person running the camera:
// "" for nothing yet or only interim answers like "100 Continue" (go on), else why the relay
// refused or ended the stream, with a hint.
std::string describe_relay_answer(std::string_view answer);

class RelayPublisher {
public:
  struct Settings {
    std::string location;  // http://host[:port]/path or https://…
    std::string secret;    // sent as "Authorization: Bearer"; empty: none (in the URL)
    std::string ca_file;   // PEM CA certificates to trust besides the system's
    int backoff_initial_ms = 250;
    int backoff_max_ms = 10000;
    int timeout_s = 10;  // connecting, and a write that makes no progress
    size_t max_queued_bytes = 4 * 1024 * 1024;
  };
  struct Stats {
    bool connected = false;
    uint64_t bytes_sent = 0;
    uint64_t units_dropped = 0;
    uint64_t connections = 0;
  };
  // Called from the push thread when a connection is made (true) or lost (false, with why).
  using EventFn = std::function<void(bool connected, const std::string &why)>;

  RelayPublisher(Settings settings, EventFn event);
  ~RelayPublisher();
  RelayPublisher(const RelayPublisher &) = delete;
  RelayPublisher &operator=(const RelayPublisher &) = delete;

  // Checks the location and starts pushing; false with a message a person can act on.
  bool start(GError **error);
  // Ends the request cleanly (what is queued, then the last chunk) and stops the thread.
  void stop();
  // Sent at the start of every connection (the caps' streamheader). Any thread.
  void set_header(const std::vector<GstBuffer *> &header);
  // Queues one unit (referenced, not copied). Any thread; never blocks.
  void push(GstBuffer *buffer, bool keyframe);
  Stats stats();

private:
  void run();
  // One connection, from connecting to losing it; returns why it ended.
  std::string connect_and_stream();
  // Connects (TLS for https://); null with why not.
  GSocketConnection *connect(std::string *why);
  // The POST's head: chunked, 100-continue, the secret as a bearer token.
  std::string request_head() const;
  // Writes the queue as it fills until the relay answers, a write fails, or stop(); returns why
  // it ended.
  std::string stream(GInputStream *in, GOutputStream *out);
  bool wait_backoff(int ms);
  // The relay as logs may show it: no path, no secret.
  std::string where() const;

  const Settings settings_;
  const EventFn event_;
  GUri *uri_ = nullptr;
  GTlsDatabase *ca_ = nullptr;
  GCancellable *cancellable_ = nullptr;
  std::thread thread_;

  // `lock_` protects everything below; the thread waits on `wake_`.
  std::mutex lock_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool connected_ = false;
  std::vector<GstBuffer *> header_;
  std::vector<GstBuffer *> queue_;
  DropGate gate_;  // bounds queue_ (fanout/drop_gate.h)
  Stats stats_;
};

}  // namespace camcast
