// GstRelaySink (`relaysink`): the camera side of a relay — pushes the stream to a public host.
#pragma once

#include <gst/base/gstbasesink.h>

G_BEGIN_DECLS

#define GST_TYPE_RELAY_SINK (gst_relay_sink_get_type())
G_DECLARE_FINAL_TYPE(GstRelaySink, gst_relay_sink, GST, RELAY_SINK, GstBaseSink)

GST_ELEMENT_REGISTER_DECLARE(relaysink);

G_END_DECLS
