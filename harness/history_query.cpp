// Reading the results history: runs, whole records (put back together from their tables), trends over
// commits and a commit's baseline. Filters become one WHERE clause with parameters, so the database's
// indexes do the selecting.
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "harness/history.h"
#include "harness/records.h"

namespace llamascope {
namespace {

using json = nlohmann::json;

const char* const kFrom =
    " FROM results r JOIN runs u ON u.id = r.run_id LEFT JOIN environments e ON e.id = u.environment_id"
    " LEFT JOIN models m ON m.id = r.model_id";

struct Where {
  std::string sql;
  std::vector<SqlValue> params;
  void add(const std::string& condition, std::vector<SqlValue> values) {
    std::string c = condition;
    for (size_t i = 0; i < values.size(); ++i) {  // each {} becomes the next $N
      const size_t at = c.find("{}");
      c.replace(at, 2, fmt::format("${}", params.size() + 1));
      params.push_back(std::move(values[i]));
    }
    sql += (sql.empty() ? " WHERE " : " AND ") + c;
  }
};

Where where_clause(const HistoryFilter& f) {
  Where w;
  if (!f.model.empty()) w.add("(m.name = {} OR m.sha256 LIKE {})", {f.model, f.model + "%"});
  if (!f.kernels.empty()) w.add("r.kernels = {}", {f.kernels});
  if (!f.machine.empty())
    w.add("(e.hostname = {} OR e.cpu_model LIKE {})", {f.machine, "%" + f.machine + "%"});
  if (!f.commit.empty()) w.add("e.git_revision LIKE {}", {f.commit + "%"});
  if (!f.commits.empty()) {
    std::string in = "e.git_revision IN (";
    std::vector<SqlValue> values;
    for (const std::string& c : f.commits) {
      in += values.empty() ? "{}" : ", {}";
      values.emplace_back(c.substr(0, 12));
    }
    w.add(in + ")", std::move(values));
  }
  if (!f.since.empty()) w.add("COALESCE(r.finished_at, u.started) >= {}", {f.since});
  if (!f.until.empty()) w.add("COALESCE(r.finished_at, u.started) <= {}", {f.until});
  if (!f.test.empty()) w.add("r.test = {}", {f.test});
  if (!f.schema.empty()) w.add("r.record_schema = {}", {f.schema});
  if (f.threads > 0) w.add("r.threads = {}", {int64_t{f.threads}});
  if (!f.run.empty()) w.add("u.run_id LIKE {}", {f.run + "%"});
  return w;
}

json text_or_null(const std::optional<std::string>& v) {
  return v ? json(*v) : json(nullptr);
}

// The record as imported: the body with its environment, model and samples put back.
json reassemble(HistoryStore& store, const SqlRow& row) {
  // row: id, body, model body, environment body
  json record = json::parse(*row[1]);
  if (row[2]) record["model"] = json::parse(*row[2]);
  if (row[3]) record["environment"] = json::parse(*row[3]);
  const auto samples = store.query(
      "SELECT metric, value FROM samples WHERE result_id = $1 ORDER BY metric, idx", {std::stoll(*row[0])});
  for (const SqlRow& s : samples) {
    json& stat = record[*s[0]];
    if (!stat.contains("samples")) stat["samples"] = json::array();
    stat["samples"].push_back(std::stod(*s[1]));
  }
  return record;
}

std::vector<json> records_where(HistoryStore& store, const Where& w, const std::string& order) {
  const auto rows = store.query(std::string("SELECT r.id, r.body, m.body, re.body") + kFrom +
                                    " LEFT JOIN environments re ON re.id = r.environment_id" + w.sql + order,
                                w.params);
  std::vector<json> out;
  out.reserve(rows.size());
  for (const SqlRow& row : rows) out.push_back(reassemble(store, row));
  return out;
}

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string trimmed_command_output(const std::string& command) {
  std::unique_ptr<FILE, decltype(&pclose)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) return "";
  std::string out;
  char buffer[4096];
  for (size_t n; (n = fread(buffer, 1, sizeof buffer, pipe.get())) > 0;) out.append(buffer, n);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

bool safe_git_argument(const std::string& s) {
  return !s.empty() && s[0] != '-' &&
         s.find_first_not_of(
             "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
             "0123456789._/~^@{}-") == std::string::npos;
}

}  // namespace

std::vector<json> history_runs(HistoryStore& store, const HistoryFilter& filter) {
  const Where w = where_clause(filter);
  const auto rows = store.query(
      std::string("SELECT u.run_id, u.kind, u.started, e.hostname, e.cpu_model, e.git_revision, e.git_dirty, "
                  "COUNT(*), COUNT(DISTINCT r.model_id)") +
          kFrom + w.sql +
          " GROUP BY u.id, u.run_id, u.kind, u.started, e.hostname, e.cpu_model, e.git_revision, e.git_dirty"
          " ORDER BY CASE WHEN u.started IS NULL THEN 1 ELSE 0 END, u.started, u.id",
      w.params);
  std::vector<json> runs;
  for (const SqlRow& r : rows)
    runs.push_back({{"run_id", *r[0]},
                    {"kind", *r[1]},
                    {"started", text_or_null(r[2])},
                    {"hostname", text_or_null(r[3])},
                    {"cpu_model", text_or_null(r[4])},
                    {"revision", text_or_null(r[5])},
                    {"dirty", r[6] ? json(*r[6] == "1") : json(nullptr)},
                    {"records", std::stoll(*r[7])},
                    {"models", std::stoll(*r[8])}});
  return runs;
}

std::vector<json> history_records(HistoryStore& store, const HistoryFilter& filter) {
  return records_where(store, where_clause(filter), " ORDER BY r.id");
}

json history_trend(HistoryStore& store, const HistoryFilter& filter) {
  HistoryFilter f = filter;
  f.schema = "llamascope.bench/1";
  const Where w = where_clause(f);
  const auto rows = store.query(
      std::string("SELECT r.kernels, r.threads, COALESCE(e.cpu_model, '?'), COALESCE(e.git_revision, '?'), "
                  "e.git_dirty, r.finished_at, r.value, m.name") +
          kFrom + w.sql + " ORDER BY r.finished_at, r.id",
      w.params);
  struct Point {
    std::string commit, first_time;
    bool dirty = false;
    std::vector<double> values;
  };
  std::map<std::tuple<std::string, int64_t, std::string>, std::vector<Point>> series;
  std::vector<std::tuple<std::string, int64_t, std::string>> order;
  std::set<std::string> models;
  for (const SqlRow& r : rows) {
    const auto key = std::make_tuple(*r[0], std::stoll(*r[1]), *r[2]);
    if (!series.count(key)) order.push_back(key);
    std::vector<Point>& points = series[key];
    auto it = std::find_if(points.begin(), points.end(), [&](const Point& p) { return p.commit == *r[3]; });
    if (it == points.end()) it = points.insert(points.end(), Point{*r[3], r[5].value_or(""), false, {}});
    it->dirty = it->dirty || (r[4] && *r[4] == "1");
    it->values.push_back(std::stod(*r[6]));
    models.insert(*r[7]);
  }
  json out = {{"model", filter.model}, {"test", filter.test}, {"models", models}, {"series", json::array()}};
  // With a git range, commits follow the history (rev-list lists the newest first), not the measurements.
  auto git_position = [&](const std::string& commit) {
    const auto it = std::find_if(filter.commits.begin(), filter.commits.end(),
                                 [&](const std::string& c) { return c.substr(0, 12) == commit; });
    return filter.commits.end() - it;
  };
  for (const auto& key : order) {
    json points = json::array();
    double previous = 0;
    if (!filter.commits.empty())
      std::stable_sort(series[key].begin(), series[key].end(), [&](const Point& a, const Point& b) {
        return git_position(a.commit) < git_position(b.commit);
      });
    for (const Point& p : series[key]) {
      const double median = median_of(p.values);
      points.push_back({{"commit", p.commit},
                        {"dirty", p.dirty},
                        {"first_time", p.first_time},
                        {"records", p.values.size()},
                        {"median", median},
                        {"min", *std::min_element(p.values.begin(), p.values.end())},
                        {"max", *std::max_element(p.values.begin(), p.values.end())},
                        {"change", previous > 0 ? json(median / previous - 1) : json(nullptr)}});
      previous = median;
    }
    out["series"].push_back({{"kernels", std::get<0>(key)},
                             {"threads", std::get<1>(key)},
                             {"machine", std::get<2>(key)},
                             {"points", points}});
  }
  return out;
}

std::vector<std::string> git_revision_range(const std::string& range) {
  if (!safe_git_argument(range)) throw Error("history: '" + range + "' is not a git revision range");
  const std::string out =
      trimmed_command_output("git rev-list --abbrev=12 --abbrev-commit '" + range + "' 2>/dev/null");
  std::vector<std::string> revs;
  for (size_t start = 0; start < out.size();) {
    const size_t end = std::min(out.find('\n', start), out.size());
    revs.push_back(out.substr(start, end - start));
    start = end + 1;
  }
  if (revs.empty())
    throw Error("history: git rev-list '" + range + "' named no commits (run it inside the repository)");
  return revs;
}

std::vector<json> history_baseline_records(HistoryStore& store, const std::string& rev,
                                           const std::string& machine) {
  if (rev.empty()) throw Error("history baseline: empty revision");
  HistoryFilter f;
  f.machine = machine;
  f.commit = rev;
  if (history_runs(store, f).empty() && safe_git_argument(rev)) {  // a ref such as main or HEAD~2
    const std::string resolved =
        trimmed_command_output("git rev-parse --short=12 '" + rev + "^{commit}' 2>/dev/null");
    if (!resolved.empty()) f.commit = resolved;
  }
  // The newest bench record, and the newest profile run, per (model, kernels, threads[, test], host).
  auto key = [](const json& r) {
    // Each field as its JSON text: a profile record's kernels or threads may be any type (json::value()
    // with a typed default throws on a string and is undefined on a huge float).
    return fmt::format("{}|{}|{}|{}|{}", value_at(r, "/model/sha256").dump(), value_at(r, "/kernels").dump(),
                       value_at(r, "/threads").dump(), value_at(r, "/test").dump(),
                       value_at(r, "/environment/hostname").dump());
  };
  std::vector<json> newest, profiles;
  std::set<std::string> seen;
  for (const char* schema : {"llamascope.bench/1", "llamascope.profile/1"}) {
    f.schema = schema;
    for (json& r : records_where(store, where_clause(f), " ORDER BY r.finished_at DESC, r.id DESC"))
      if (seen.insert(schema + key(r)).second)
        (f.schema == "llamascope.bench/1" ? newest : profiles).push_back(r);
  }
  std::reverse(newest.begin(), newest.end());
  for (auto it = profiles.rbegin(); it != profiles.rend(); ++it) {  // each run whole: profile, steps, layers
    HistoryFilter run;
    run.run = (*it)["run_id"].get<std::string>();
    for (json& r : history_records(store, run)) newest.push_back(std::move(r));
  }
  if (newest.empty())
    throw Error("history baseline: no bench or profile records at commit '" + rev + "' in " +
                store.location());
  return newest;
}

std::vector<json> history_baseline_records(const std::string& db_url, const std::string& rev) {
  const auto store = open_history_store(db_url.empty() ? default_history_url() : db_url);
  return history_baseline_records(*store, rev);
}

}  // namespace llamascope
