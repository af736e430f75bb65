// Prometheus text exposition of the daemon's counters and gauges.
#include "postroom/http/metrics.hpp"

#include <cstdio>

namespace postroom::http {
namespace {

void family(std::string& out, const char* name, const char* type, const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void sample(std::string& out, const std::string& name, double value) {
  char text[64];
  std::snprintf(text, sizeof text, "%.17g", value);
  out += name + " " + text + "\n";
}

// Label values escape backslash, double quote and newline (the format's rule).
std::string label(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void counter(std::string& out, const char* name, const char* help, std::uint64_t value) {
  family(out, name, "counter", help);
  sample(out, name, static_cast<double>(value));
}

}  // namespace

void Metrics::refuse(const std::string& reason) {
  for (auto& [name, n] : refused) {
    if (name == reason) {
      ++n;
      return;
    }
  }
  refused.emplace_back(reason, 1);
}

std::string render_metrics(const Metrics& m, const Gauges& g) {
  std::string out;
  counter(out, "postroom_messages_received_total", "Messages accepted by SMTP (250 sent).",
          m.messages_received);
  counter(out, "postroom_messages_delivered_total", "Relay recipients accepted by the next hop.",
          m.messages_delivered);
  counter(out, "postroom_messages_deferred_total", "Relay attempts that will be retried.",
          m.messages_deferred);
  counter(out, "postroom_messages_bounced_total", "Relay recipients given up, with a bounce.",
          m.messages_bounced);
  family(out, "postroom_messages_refused_total", "counter",
         "Messages, recipients or connections refused, by reason.");
  for (const auto& [reason, n] : m.refused)
    sample(out, "postroom_messages_refused_total{reason=\"" + label(reason) + "\"}",
           static_cast<double>(n));
  counter(out, "postroom_pop3_sessions_total", "POP3 sessions opened.", m.pop3_sessions);
  counter(out, "postroom_pop3_retrievals_total", "POP3 RETR commands answered +OK.",
          m.pop3_retrievals);
  counter(out, "postroom_logins_failed_total", "Failed logins (POP3, SMTP AUTH, HTTPS).",
          m.logins_failed);
  counter(out, "postroom_logins_locked_out_total", "Logins refused by a lockout.",
          m.logins_locked_out);
  family(out, "postroom_connections", "gauge", "Connections open on every listener.");
  sample(out, "postroom_connections", static_cast<double>(g.connections));
  if (g.queue_depth) {
    family(out, "postroom_queue_depth", "gauge", "Relay recipients waiting for delivery.");
    sample(out, "postroom_queue_depth", static_cast<double>(*g.queue_depth));
    family(out, "postroom_queue_oldest_age_seconds", "gauge",
           "Age of the oldest queued message (0 when the queue is empty).");
    sample(out, "postroom_queue_oldest_age_seconds",
           static_cast<double>(g.oldest_queued_age.value_or(0)));
  }
  if (g.disk_free_bytes) {
    family(out, "postroom_disk_free_bytes", "gauge",
           "Free space on the file system of the store (for unprivileged writers).");
    sample(out, "postroom_disk_free_bytes", static_cast<double>(*g.disk_free_bytes));
  }
  if (g.certificate_expiry) {
    family(out, "postroom_certificate_expiry_timestamp_seconds", "gauge",
           "When the served TLS certificate expires (Unix time).");
    sample(out, "postroom_certificate_expiry_timestamp_seconds",
           static_cast<double>(*g.certificate_expiry));
  }
  const auto& h = g.commit_latency;
  family(out, "postroom_store_commit_seconds", "histogram",
         "Time to commit one batch of the store's group-commit writer.");
  for (std::size_t i = 0; i < h.bounds.size() && i < h.buckets.size(); ++i) {
    char le[32];
    std::snprintf(le, sizeof le, "%g", h.bounds[i]);
    sample(out, std::string("postroom_store_commit_seconds_bucket{le=\"") + le + "\"}",
           static_cast<double>(h.buckets[i]));
  }
  sample(out, "postroom_store_commit_seconds_bucket{le=\"+Inf\"}", static_cast<double>(h.count));
  sample(out, "postroom_store_commit_seconds_sum", h.sum);
  sample(out, "postroom_store_commit_seconds_count", static_cast<double>(h.count));
  return out;
}

}  // namespace postroom::http
