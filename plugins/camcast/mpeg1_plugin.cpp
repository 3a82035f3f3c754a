// The camcastmpeg1 plugin (libgstcamcastmpeg1.so): mpeg1enc, apart from the other elements
// because it links libavcodec, which processes serving only H.264 or JPEG need not map.
#include <gst/gst.h>

G_BEGIN_DECLS
GST_ELEMENT_REGISTER_DECLARE(mpeg1enc);
G_END_DECLS

static gboolean plugin_init(GstPlugin *plugin) {
  return GST_ELEMENT_REGISTER(mpeg1enc, plugin);
}

GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, camcastmpeg1,
                  "camcast's MPEG-1 encoder for JSMpeg players: no added delay, keyframes on "
                  "request (libavcodec)",
                  plugin_init, PACKAGE_VERSION, "LGPL", "camcast", "Unknown package origin")
