// The camcast plugin (libgstcamcast.so): the sinks, the recorder and the relay's two ends.
// mpeg1enc is in a plugin file of its own, libgstcamcastmpeg1.so (mpeg1_plugin.cpp).
#include "elements.h"

static gboolean plugin_init(GstPlugin *plugin) {
  gboolean ret = FALSE;
  ret |= GST_ELEMENT_REGISTER(wssink, plugin);
  ret |= GST_ELEMENT_REGISTER(msesink, plugin);
  ret |= GST_ELEMENT_REGISTER(jsmpegsink, plugin);
  ret |= GST_ELEMENT_REGISTER(mjpegsink, plugin);
  ret |= GST_ELEMENT_REGISTER(whepsink, plugin);
  ret |= GST_ELEMENT_REGISTER(whippublishsink, plugin);
  ret |= GST_ELEMENT_REGISTER(relaysrc, plugin);
  ret |= GST_ELEMENT_REGISTER(relaysink, plugin);
  ret |= GST_ELEMENT_REGISTER(rtspsink, plugin);
  ret |= GST_ELEMENT_REGISTER(onvifsink, plugin);
  ret |= GST_ELEMENT_REGISTER(recordsink, plugin);
  return ret;
}

GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, camcast,
                  "Stream live cameras to web browsers with the lowest latency: WebSocket "
                  "servers with keyframe-aware fan-out",
                  plugin_init, PACKAGE_VERSION, "LGPL", "camcast", "Unknown package origin")
