#include "purge_job.h"

#include <algorithm>
#include <sstream>

#include "clock.h"
#include "job_session.h"
#include "log.h"
#include "progress.h"
#include "signals.h"

namespace sidecar {

namespace {

constexpr int kMinBatch = 100;
constexpr int kMaxBatch = 5000000;

struct RuleOutcome {
  long long rows = 0;
  int batches = 0;
  double longest_ms = 0;
  bool ok = true;
};

RuleOutcome purge_rule(JobSession& session, const Config& config, const std::string& rule_id,
                       const std::string& table, const std::string& action) {
  RuleOutcome outcome;
  int batch = config.batch_rows;
  int timeouts = 0;
  double started = monotonic_ms();
  Progress progress("purge " + table, "rows");
  while (!stop_requested()) {
    double t0 = monotonic_ms();
    PgResult r(nullptr);
    try {
      r = session.retry([&](PgConnection& db) {
        return db.exec("SELECT (r->>'rows')::bigint, (r->>'done')::boolean, coalesce((r->>'blocks_done')::bigint, 0), "
                       "coalesce((r->>'blocks_total')::bigint, 0), coalesce((r->'partitions_dropped')::text, ''), "
                       "coalesce((r->>'rows_estimate')::bigint, 0), coalesce(jsonb_array_length(r->'failed'), 0), "
                       "r::text FROM " + session.schema() + ".gdpr_purge_step($1::int4, $2::int4) r",
                       {rule_id, std::to_string(batch)});
      });
    } catch (const QueryError& e) {
      if (e.sqlstate() == "57014" && timeouts < 5 && batch > kMinBatch) {  // statement_timeout: smaller batches
        timeouts++;
        batch = std::max(kMinBatch, batch / 4);
        Log::warning("purge", "batch hit statement_timeout; retrying with " + std::to_string(batch) + " rows",
                     {table, {}, {}});
        continue;
      }
      Log::error("purge", std::string("rule ") + rule_id + " (" + action + ") failed: " + e.what() +
                              (e.sqlstate().empty() ? "" : " [" + e.sqlstate() + "]"),
                 {table, outcome.rows, {}});
      outcome.ok = false;
      return outcome;
    }
    double took = monotonic_ms() - t0;
    long long rows = r.integer(0, 0);
    bool done = r.boolean(0, 1);
    long long blocks_done = r.integer(0, 2);
    long long blocks_total = r.integer(0, 3);
    std::string dropped = r.text(0, 4);
    outcome.rows += rows + (dropped.empty() ? 0 : r.integer(0, 5));
    outcome.batches++;
    outcome.longest_ms = std::max(outcome.longest_ms, took);
    Log::debug("purge", r.text(0, 7), {table, rows, took});
    if (!dropped.empty()) {
      Log::info("purge", "dropped partitions " + dropped + " (entirely past retention, ~" + r.text(0, 5) + " rows)",
                {table, r.integer(0, 5), took});
    }
    if (r.integer(0, 6) > 0) {
      Log::error("purge", "some subjects could not be erased: " + r.text(0, 7), {table, {}, {}});
      outcome.ok = false;
    }
    double estimate = blocks_done > 0 ? static_cast<double>(outcome.rows) * static_cast<double>(blocks_total) /
                                            static_cast<double>(blocks_done)
                                      : 0;
    progress.update(static_cast<double>(outcome.rows), estimate);
    if (done) break;
    double target = config.batch_target_ms;
    if (took > target * 1.5) {
      batch = std::max(kMinBatch, static_cast<int>(batch * target / took));
    } else if (took < target / 2) {
      batch = std::min(kMaxBatch, batch * 2);
    }
  }
  if (stop_requested()) outcome.ok = false;
  std::ostringstream message;
  message << action << (stop_requested() ? " stopped after its current batch; the next run resumes" : " done")
          << " in " << outcome.batches << " batches, longest " << static_cast<long long>(outcome.longest_ms) << " ms";
  Log::info("purge", message.str(), {table, outcome.rows, monotonic_ms() - started});
  return outcome;
}

}  // namespace

bool run_purge(const Config& config) {
  JobSession session(config, "purge");
  std::string started_at = iso_utc(std::time(nullptr));
  bool ok = true;
  long long total = 0;
  double longest = 0;

  PgResult rules = session.retry([](PgConnection& db) {
    return db.exec("SELECT r.rule_id::text, pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname), r.action "
                   "FROM gdpr.retention_rule r JOIN pg_catalog.pg_class c ON c.oid = r.rel "
                   "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace ORDER BY r.rule_id");
  });
  for (int i = 0; i < rules.rows() && !stop_requested(); i++) {
    RuleOutcome outcome = purge_rule(session, config, rules.text(i, 0), rules.text(i, 1), rules.text(i, 2));
    ok = ok && outcome.ok;
    total += outcome.rows;
    longest = std::max(longest, outcome.longest_ms);
  }

  // legal holds that ended
  long long released = 0;
  try {
    while (!stop_requested()) {
      PgResult r = session.retry([&](PgConnection& db) {
        return db.exec("SELECT (r->>'released')::bigint FROM " + session.schema() + ".gdpr_release_holds($1::int4) r",
                       {std::to_string(std::min(config.batch_rows, 10000))});
      });
      long long n = r.integer(0, 0);
      released += n;
      if (n == 0) break;
    }
    if (released > 0) Log::info("purge", "released rows whose legal hold ended", {"", released, {}});
  } catch (const QueryError& e) {
    Log::error("purge", std::string("releasing ended legal holds failed: ") + e.what());
    ok = false;
  }

  // verified erasure requests, each in its own transaction
  long long requests = 0;
  try {
    PgResult due = session.retry([](PgConnection& db) {
      return db.exec("SELECT request_id::text FROM gdpr.request WHERE status = 'verified' AND request_type = 'erasure' "
                     "ORDER BY due_at, request_id");
    });
    for (int i = 0; i < due.rows() && !stop_requested(); i++) {
      try {
        double t0 = monotonic_ms();
        session.retry([&](PgConnection& db) {
          return db.exec("SELECT " + session.schema() + ".gdpr_fulfil_request($1::int8)", {due.text(i, 0)});
        });
        requests++;
        Log::info("purge", "carried out erasure request " + due.text(i, 0), {"", {}, monotonic_ms() - t0});
      } catch (const QueryError& e) {
        Log::error("purge", "erasure request " + due.text(i, 0) + " failed: " + e.what());
        ok = false;
      }
    }
  } catch (const QueryError& e) {
    Log::error("purge", std::string("reading the request ledger failed: ") + e.what());
    ok = false;
  }
  if (stop_requested()) {
    Log::warning("purge", "stopped by a signal after the current batch; the next run resumes where this one ended");
    ok = false;
  }
  std::ostringstream details;
  details << "{\"rows\":" << total << ",\"longest_batch_ms\":" << static_cast<long long>(longest)
          << ",\"holds_released\":" << released << ",\"erasure_requests\":" << requests << "}";
  session.finished(started_at, ok, details.str());
  return ok;
}

}  // namespace sidecar
