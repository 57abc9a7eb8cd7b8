#include "status_job.h"

#include <cstdio>
#include <iostream>
#include <sstream>

#include "clock.h"
#include "exit_code.h"
#include "log.h"
#include "pg_connection.h"

namespace sidecar {

namespace {

// Runs a query returning one JSON value (text) per database section.
std::string json_of(PgConnection& db, const std::string& sql) {
  PgResult r = db.exec(sql);
  return r.rows() > 0 && !r.is_null(0, 0) ? r.text(0, 0) : "null";
}

void print_table(PgConnection& db, const std::string& title, const std::string& sql) {
  PgResult r = db.exec(sql);
  std::cout << title << (r.rows() == 0 ? ": none\n" : ":\n");
  for (int i = 0; i < r.rows(); i++) std::cout << "  " << r.text(i, 0) << "\n";
}

}  // namespace

bool run_status(const Config& config) {
  PgConnection db = PgConnection::open(config.dbname);
  std::string schema = require_extension(db);
  bool json = Log::json();
  bool ok = true;
  const std::string rules_sql =
      "SELECT coalesce(jsonb_agg(to_jsonb(s) ORDER BY s.rule_id), '[]')::text FROM " + schema +
      ".gdpr_retention_status() s";
  const std::string overdue_sql = "SELECT coalesce(jsonb_agg(to_jsonb(o)), '[]')::text FROM " + schema +
                                  ".gdpr_requests_overdue() o";
  const std::string counts_sql =
      "SELECT jsonb_build_object("
      "'holds_ended', (SELECT count(*) FROM gdpr.hold_release WHERE released_at IS NULL AND release_at <= now()), "
      "'erasure_requests_verified', (SELECT count(*) FROM gdpr.request WHERE status = 'verified' AND request_type = 'erasure'), "
      "'requests_open', (SELECT count(*) FROM gdpr.request WHERE status IN ('received', 'verified')))::text";
  const std::string jobs_sql =
      "SELECT coalesce(jsonb_agg(to_jsonb(j) ORDER BY j.job), '[]')::text FROM gdpr.job_run j";
  const std::string backups_sql =
      "SELECT jsonb_build_object('newest', max(taken_at) FILTER (WHERE expired_at IS NULL), "
      "'kept', count(*) FILTER (WHERE expired_at IS NULL), "
      "'past_max_age', count(*) FILTER (WHERE expired_at IS NULL AND taken_at <= $1::timestamptz))::text FROM gdpr.backup";
  std::string past = iso_utc(Clock::now() - config.backup_max_age_s);

  // master key versions in every database of the cluster
  std::ostringstream keys_json;
  std::ostringstream keys_text;
  keys_json << "[";
  PgResult dbs = db.exec("SELECT datname FROM pg_catalog.pg_database WHERE datallowconn AND NOT datistemplate ORDER BY 1");
  bool first = true;
  for (int i = 0; i < dbs.rows(); i++) {
    std::string name = dbs.text(i, 0);
    std::string entry;
    try {
      PgConnection other = PgConnection::open(conninfo_for_database(config.dbname, name));
      auto other_schema = other.extension_schema();
      if (!other_schema) continue;
      entry = json_of(other, "SELECT coalesce(jsonb_agg(to_jsonb(k) ORDER BY k.version), '[]')::text FROM " +
                                 *other_schema + ".gdpr_master_key_status() k");
      keys_text << "  " << name << ":";
      PgResult rows = other.exec("SELECT version, newest, configured, wrapped_keys FROM " + *other_schema +
                                 ".gdpr_master_key_status() ORDER BY version");
      if (rows.rows() == 0) keys_text << " no versions";
      for (int r = 0; r < rows.rows(); r++) {
        keys_text << " v" << rows.text(r, 0) << " (" << rows.text(r, 3) << " keys"
                  << (rows.boolean(r, 1) ? ", newest" : "") << (rows.boolean(r, 2) ? "" : ", NOT CONFIGURED") << ")";
      }
      keys_text << "\n";
    } catch (const std::exception& e) {
      ok = false;
      entry = "{\"error\":" + json_quote(e.what()) + "}";
      keys_text << "  " << name << ": cannot inspect: " << e.what() << "\n";
    }
    keys_json << (first ? "" : ",") << "{\"database\":" << json_quote(name) << ",\"versions\":" << entry << "}";
    first = false;
  }
  keys_json << "]";

  if (json) {
    PgResult backups = db.exec(backups_sql, {past});
    std::cout << "{\"database\":" << json_quote(db.database()) << ",\"time\":" << json_quote(iso_utc(Clock::now()))
              << ",\"retention\":" << json_of(db, rules_sql) << ",\"due\":" << json_of(db, counts_sql)
              << ",\"requests_overdue\":" << json_of(db, overdue_sql) << ",\"last_runs\":" << json_of(db, jobs_sql)
              << ",\"backups\":" << backups.text(0, 0) << ",\"master_keys\":" << keys_json.str() << "}\n";
    return ok;
  }
  std::cout << "pg_gdpr status of database " << db.database() << " at " << iso_utc(Clock::now()) << "\n\n";
  print_table(db, "Retention rules (rows due now / due for over a day)",
              "SELECT format('%s %s after %s from %s: %s due, %s overdue%s; last complete pass %s', s.table_name, "
              "s.action, s.keep, s.counted_from, s.due_rows, s.overdue_rows, "
              "CASE WHEN s.pass_in_progress THEN ', pass in progress' ELSE '' END, "
              "coalesce(s.last_pass_done_at::text, 'never')) FROM " + schema + ".gdpr_retention_status() s ORDER BY s.rule_id");
  print_table(db, "Due now",
              "SELECT format('%s legal holds ended, waiting for release; %s verified erasure requests waiting', "
              "(SELECT count(*) FROM gdpr.hold_release WHERE released_at IS NULL AND release_at <= now()), "
              "(SELECT count(*) FROM gdpr.request WHERE status = 'verified' AND request_type = 'erasure'))");
  print_table(db, "Requests past their due date (30 days)",
              "SELECT format('request %s (%s, %s) due %s, overdue by %s', o.request_id, o.request_type, o.status, "
              "o.due_at, date_trunc('second', o.overdue)) FROM " + schema + ".gdpr_requests_overdue() o");
  print_table(db, "Last runs",
              "SELECT format('%s: %s at %s (%s)', j.job, CASE WHEN j.succeeded THEN 'succeeded' ELSE 'FAILED' END, "
              "date_trunc('second', j.finished_at), j.details) FROM gdpr.job_run j ORDER BY j.job");
  PgResult backups = db.exec("SELECT format('newest %s; %s kept; %s older than the maximum age and not expired', "
                             "coalesce(max(taken_at) FILTER (WHERE expired_at IS NULL)::text, 'none'), "
                             "count(*) FILTER (WHERE expired_at IS NULL), "
                             "count(*) FILTER (WHERE expired_at IS NULL AND taken_at <= $1::timestamptz)) FROM gdpr.backup",
                             {past});
  std::cout << "Backups: " << backups.text(0, 0) << "\n";
  std::cout << "Master key versions in use, per database:\n" << keys_text.str();
  return ok;
}

}  // namespace sidecar
