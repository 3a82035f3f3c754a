#include "pipeline_file.h"

#include <glib.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <set>

namespace camcast::launcher {

namespace {

std::string trim(const std::string &s) {
  const size_t a = s.find_first_not_of(" \t\r");
  if (a == std::string::npos)
    return "";
  return s.substr(a, s.find_last_not_of(" \t\r") - a + 1);
}

std::string where(const std::string &path, int line) {
  return path + ":" + std::to_string(line) + ": ";
}

// GLib key-file escapes (\s \n \t \r \\); false for any other.
bool unescape(const std::string &in, std::string *out) {
  out->clear();
  for (size_t i = 0; i < in.size(); i++) {
    if (in[i] != '\\') {
      *out += in[i];
      continue;
    }
    if (++i == in.size())
      return false;
    switch (in[i]) {
    case 's': *out += ' '; break;
    case 'n': *out += '\n'; break;
    case 't': *out += '\t'; break;
    case 'r': *out += '\r'; break;
    case '\\': *out += '\\'; break;
    default: return false;
    }
  }
  return true;
}

bool parse_int(const Value &v, int min, int max, int *out) {
  char *end = nullptr;
  const long n = strtol(v.text.c_str(), &end, 10);
  if (v.text.empty() || *end || n < min || n > max)
    return false;
  *out = int(n);
  return true;
}

}  // namespace

bool parse_pipeline_file(const std::string &path, const std::string &text, PipelineFile *out,
                         std::string *error) {
  *out = PipelineFile{};
  out->path = path;
  std::string base = path.substr(path.find_last_of('/') + 1);
  out->name = base.size() > 9 && base.compare(base.size() - 9, 9, ".pipeline") == 0
                  ? base.substr(0, base.size() - 9)
                  : base;
  std::string group;
  std::map<std::string, Value> pipeline, supervise;
  std::set<std::string> groups_seen;
  int line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    // One logical line: physical lines joined where one ends in a backslash.
    std::string line;
    const int first_line = line_no + 1;
    while (true) {
      const size_t end = text.find('\n', pos);
      std::string physical =
          text.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
      pos = end == std::string::npos ? text.size() : end + 1;
      line_no++;
      if (!physical.empty() && physical.back() == '\r')
        physical.pop_back();
      const bool more = !physical.empty() && physical.back() == '\\' && pos < text.size();
      if (more) {
        physical.pop_back();
        physical.erase(physical.find_last_not_of(" \t") + 1);
      }
      line += line.empty() ? physical : " " + trim(physical);
      if (!more)
        break;
    }
    const std::string t = trim(line);
    if (t.empty() || t[0] == '#')
      continue;
    if (t[0] == '[') {
      if (t.back() != ']') {
        *error = where(path, first_line) + "a group header must end with ']': " + t;
        return false;
      }
      group = t.substr(1, t.size() - 2);
      if (group != "pipeline" && group != "variables" && group != "supervise") {
        *error = where(path, first_line) + "unknown group [" + group +
                 "]; a pipeline file has [pipeline], [variables] and [supervise]";
        return false;
      }
      if (!groups_seen.insert(group).second) {
        *error = where(path, first_line) + "[" + group + "] appears twice";
        return false;
      }
      continue;
    }
    const size_t eq = t.find('=');
    if (eq == std::string::npos) {
      *error =
          where(path, first_line) + "expected KEY = VALUE, a [group] or a # comment, not: " + t;
      return false;
    }
    if (group.empty()) {
      *error =
          where(path, first_line) + "\"" + trim(t.substr(0, eq)) + "\" comes before any [group]";
      return false;
    }
    const std::string key = trim(t.substr(0, eq));
    Value value{"", first_line};
    if (key.empty() || !unescape(trim(t.substr(eq + 1)), &value.text)) {
      *error = where(path, first_line) +
               (key.empty() ? "a key is missing before '='"
                            : "bad escape in the value (GLib key files know \\s \\n \\t \\r \\\\)");
      return false;
    }
    auto &target = group == "pipeline"    ? pipeline
                   : group == "supervise" ? supervise
                                          : out->variables;
    if (target.count(key)) {
      *error = where(path, first_line) + "\"" + key + "\" is set twice in [" + group + "]";
      return false;
    }
    target[key] = value;
  }

  for (const auto &[key, value] : pipeline) {
    if (key == "description") {
      out->description = value.text;
    } else if (key == "launch") {
      out->launch = value;
    } else {
      *error = where(path, value.line) + "unknown key \"" + key +
               "\" in [pipeline]; it takes description and launch";
      return false;
    }
  }
  if (out->launch.text.empty()) {
    *error = path + ":" + std::to_string(line_no) +
             ": no launch line: [pipeline] needs launch = <a gst-launch-1.0 description>";
    return false;
  }
  Supervise &s = out->supervise;
  for (const auto &[key, value] : supervise) {
    bool ok = true;
    if (key == "restart") {
      if (value.text == "always")
        s.restart = Restart::Always;
      else if (value.text == "on-failure")
        s.restart = Restart::OnFailure;
      else if (value.text == "never")
        s.restart = Restart::Never;
      else
        ok = false;
      if (!ok) {
        *error = where(path, value.line) + "restart is always, on-failure or never, not \"" +
                 value.text + "\"";
        return false;
      }
      continue;
    }
    if (key == "backoff-initial")
      ok = parse_int(value, 0, 600000, &s.backoff_initial_ms);
    else if (key == "backoff-max")
      ok = parse_int(value, 0, 3600000, &s.backoff_max_ms);
    else if (key == "stall-timeout")
      ok = parse_int(value, 0, 3600, &s.stall_timeout_s);
    else if (key == "linger")
      ok = parse_int(value, 0, 3600, &s.linger_s);
    else if (key == "on-demand-linger")
      ok = parse_int(value, 0, 86400, &s.on_demand_linger_s);
    else if (key == "on-demand") {
      if (value.text == "true")
        s.on_demand = true;
      else if (value.text == "false")
        s.on_demand = false;
      else
        ok = false;
      if (!ok) {
        *error = where(path, value.line) + "on-demand is true or false, not \"" + value.text + "\"";
        return false;
      }
    } else {
      *error = where(path, value.line) + "unknown key \"" + key +
               "\" in [supervise]; it takes "
               "restart, backoff-initial, backoff-max (ms), stall-timeout, linger, on-demand "
               "and on-demand-linger (s)";
      return false;
    }
    if (!ok) {
      *error = where(path, value.line) + key + " must be a whole number in range, not \"" +
               value.text + "\"";
      return false;
    }
  }
  if (s.backoff_max_ms < s.backoff_initial_ms)
    s.backoff_max_ms = s.backoff_initial_ms;
  return true;
}

bool load_pipeline_file(const std::string &path, PipelineFile *out, std::string *error) {
  gchar *contents = nullptr;
  gsize length = 0;
  GError *err = nullptr;
  if (!g_file_get_contents(path.c_str(), &contents, &length, &err)) {
    *error = path + ": " + err->message;
    g_error_free(err);
    return false;
  }
  const std::string text(contents, length);
  g_free(contents);
  return parse_pipeline_file(path, text, out, error);
}

bool resolve_launch(const PipelineFile &file, const std::map<std::string, std::string> &overrides,
                    const std::map<std::string, std::string> &probed, std::string *launch,
                    std::string *error, std::map<std::string, std::string> *used) {
  std::function<bool(const std::string &, int, std::vector<std::string> &, std::string *)> expand =
      [&](const std::string &in, int line, std::vector<std::string> &stack, std::string *result) {
        result->clear();
        size_t pos = 0;
        while (true) {
          const size_t start = in.find("${", pos);
          if (start == std::string::npos) {
            *result += in.substr(pos);
            return true;
          }
          *result += in.substr(pos, start - pos);
          const size_t end = in.find('}', start);
          if (end == std::string::npos) {
            *error = where(file.path, line) + "\"${\" without a closing \"}\"";
            return false;
          }
          const std::string name = in.substr(start + 2, end - start - 2);
          pos = end + 1;
          if (std::find(stack.begin(), stack.end(), name) != stack.end()) {
            *error = where(file.path, line) + "${" + name + "} refers to itself";
            return false;
          }
          std::string value;
          int value_line = line;
          if (auto o = overrides.find(name); o != overrides.end()) {
            value = o->second;
          } else if (auto v = file.variables.find(name); v != file.variables.end()) {
            value = v->second.text;
            value_line = v->second.line;
          } else if (auto p = probed.find(name); p != probed.end()) {
            value = p->second;
          } else {
            *error = where(file.path, line) + "${" + name +
                     "} is not defined: add it under "
                     "[variables] or pass --set " +
                     name + "=VALUE";
            return false;
          }
          stack.push_back(name);
          std::string expanded;
          const bool ok = expand(value, value_line, stack, &expanded);
          stack.pop_back();
          if (!ok)
            return false;
          if (used)
            (*used)[name] = expanded;
          *result += expanded;
        }
      };
  std::vector<std::string> stack;
  return expand(file.launch.text, file.launch.line, stack, launch);
}

}  // namespace camcast::launcher
