#include "access_properties.h"

#include <gst/gst.h>

namespace camcast {

namespace {

enum { ACCESS_TOKEN, USERS_FILE, ALLOWED_ORIGINS, ALLOWED_HOSTS, METRICS_TOKEN, SESSIONS_FILE };

std::vector<std::string> split_list(const char *text) {
  std::vector<std::string> out;
  g_auto(GStrv) parts = g_strsplit(text ? text : "", ",", -1);
  for (char **part = parts; *part; part++)
    if (*g_strstrip(*part))
      out.emplace_back(*part);
  return out;
}

std::string join_list(const std::vector<std::string> &list) {
  std::string out;
  for (const std::string &item : list)
    out += (out.empty() ? "" : ",") + item;
  return out;
}

}  // namespace

void install_access_properties(GObjectClass *klass, guint first) {
  const auto ready =
      GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
  g_object_class_install_property(
      klass, first + ACCESS_TOKEN,
      g_param_spec_string(
          "access-token", "Access token",
          "Make the whole server private: every page, stream, snapshot and report needs this "
          "token (?token=, which also gives the browser a session), a stream token from "
          "/api/token, or that session. Empty (the default): anyone who can reach the port "
          "may watch",
          nullptr, ready));
  g_object_class_install_property(
      klass, first + USERS_FILE,
      g_param_spec_string(
          "users-file", "Users file",
          "Make the whole server private behind a login page (/login): the users of this file "
          "(NAME:yescrypt-hash lines, made with camcast passwd; mode 600). Failed logins are "
          "slowed per address and per user. Works with or without access-token",
          nullptr, ready));
  g_object_class_install_property(
      klass, first + ALLOWED_ORIGINS,
      g_param_spec_string(
          "allowed-origins", "Allowed origins",
          "On a private server: the origins (https://example.com, comma-separated) besides the "
          "server's own whose pages may open its WebSocket streams",
          nullptr, ready));
  g_object_class_install_property(
      klass, first + ALLOWED_HOSTS,
      g_param_spec_string(
          "allowed-hosts", "Allowed hosts",
          "Names (comma-separated) this server answers to besides IP addresses, localhost, this "
          "machine's host name and its .local name: the public name of a relay, say. A request "
          "for any other name is refused (a page of another site cannot reach the camera by "
          "pointing its own name at it)",
          nullptr, ready));
  g_object_class_install_property(
      klass, first + METRICS_TOKEN,
      g_param_spec_string(
          "metrics-token", "Metrics token",
          "/metrics also answers a scraper sending \"Authorization: Bearer <this>\"; once set, "
          "/metrics needs it (or a viewer's credentials) even on an open server",
          nullptr, ready));
  g_object_class_install_property(
      klass, first + SESSIONS_FILE,
      g_param_spec_string(
          "sessions-file", "Sessions file",
          "On a private server: keep the browsers' sessions (and the key of stream tokens) in "
          "this file (mode 600), so that open pages play on after a restart. One file a server; "
          "a changed access-token or users-file ends them. Empty (the default): in memory only",
          nullptr, ready));
}

bool set_access_property(AccessPolicy *policy, guint id, guint first, const GValue *value) {
  if (id < first || id >= first + kAccessProperties)
    return false;
  const char *text = g_value_get_string(value);
  switch (id - first) {
  case ACCESS_TOKEN: policy->access_token = text ? text : ""; break;
  case USERS_FILE: policy->users_file = text ? text : ""; break;
  case ALLOWED_ORIGINS: policy->allowed_origins = split_list(text); break;
  case ALLOWED_HOSTS: policy->allowed_hosts = split_list(text); break;
  case METRICS_TOKEN: policy->metrics_token = text ? text : ""; break;
  case SESSIONS_FILE: policy->sessions_file = text ? text : ""; break;
  }
  return true;
}

bool get_access_property(const AccessPolicy &policy, guint id, guint first, GValue *value) {
  if (id < first || id >= first + kAccessProperties)
    return false;
  switch (id - first) {
  case ACCESS_TOKEN: g_value_set_string(value, policy.access_token.c_str()); break;
  case USERS_FILE: g_value_set_string(value, policy.users_file.c_str()); break;
  case ALLOWED_ORIGINS: g_value_set_string(value, join_list(policy.allowed_origins).c_str()); break;
  case ALLOWED_HOSTS: g_value_set_string(value, join_list(policy.allowed_hosts).c_str()); break;
  case METRICS_TOKEN: g_value_set_string(value, policy.metrics_token.c_str()); break;
  case SESSIONS_FILE: g_value_set_string(value, policy.sessions_file.c_str()); break;
  }
  return true;
}

}  // namespace camcast
