// Every element of the camcast plugin, for plugin.cpp.
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

GST_ELEMENT_REGISTER_DECLARE(wssink);
GST_ELEMENT_REGISTER_DECLARE(msesink);
GST_ELEMENT_REGISTER_DECLARE(jsmpegsink);
GST_ELEMENT_REGISTER_DECLARE(mjpegsink);
GST_ELEMENT_REGISTER_DECLARE(whepsink);
GST_ELEMENT_REGISTER_DECLARE(whippublishsink);
GST_ELEMENT_REGISTER_DECLARE(relaysrc);
GST_ELEMENT_REGISTER_DECLARE(relaysink);

G_END_DECLS
