// GstRelaySrc (`relaysrc`): the public side of a relay — takes what a camera behind NAT pushes.
#pragma once

#include <gst/base/gstpushsrc.h>

G_BEGIN_DECLS

#define GST_TYPE_RELAY_SRC (gst_relay_src_get_type())
G_DECLARE_FINAL_TYPE(GstRelaySrc, gst_relay_src, GST, RELAY_SRC, GstPushSrc)

GST_ELEMENT_REGISTER_DECLARE(relaysrc);

G_END_DECLS
