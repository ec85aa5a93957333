// The record schemas as docs/results.md documents them, read from its tables so the tests and the docs
// cannot drift apart. A table whose header starts `| field | type |` under a `## \`llamascope.NAME/N\``
// heading is that record's schema. A field cell lists backticked names (dotted for nested fields); its
// type cell holds an optional JSON type (string, integer, number, boolean, object, array) and `R`
// (required, never null) or `null` (present, may be null). An object whose meaning starts with
// "statistics" takes the fields of the Statistics table; one whose meaning links to another field table
// (`[Model identity](#model-identity)`) takes that table's fields below it.
#pragma once

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace llamascope::testing_support {

enum class JsonType { any, string, integer, number, boolean, object, array };

struct FieldSpec {
  std::string pointer;  // JSON pointer from the record's root
  JsonType type = JsonType::any;
  bool required = true;
  bool nullable = false;
};
using Schema = std::vector<FieldSpec>;

namespace records_schema_detail {

inline std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

// The cells of a Markdown table row ("| a | b |"), trimmed; empty when the line is not a row.
inline std::vector<std::string> cells(const std::string& line) {
  const std::string t = trim(line);
  if (t.size() < 2 || t.front() != '|' || t.back() != '|') return {};
  std::vector<std::string> out;
  std::string cell;
  for (size_t i = 1; i + 1 < t.size(); ++i) {
    if (t[i] == '|') {
      out.push_back(trim(cell));
      cell.clear();
    } else {
      cell += t[i];
    }
  }
  out.push_back(trim(cell));
  return out;
}

// GitHub's heading anchor: lowercase, spaces to '-', everything but letters, digits, '-' and '_' dropped.
inline std::string anchor(const std::string& heading) {
  std::string out;
  for (char c : heading) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    else if (c == ' ')
      out += '-';
  }
  return out;
}

// The backticked names of a field cell: "`a`, `b.c`" -> {"a", "b.c"}.
inline std::vector<std::string> backticked(const std::string& cell) {
  std::vector<std::string> out;
  for (size_t open = cell.find('`'); open != std::string::npos; open = cell.find('`', open + 1)) {
    const size_t close = cell.find('`', open + 1);
    if (close == std::string::npos) break;
    out.push_back(cell.substr(open + 1, close - open - 1));
    open = close;
  }
  return out;
}

struct Row {
  std::vector<std::string> names;
  std::string type;
  std::string meaning;
};

}  // namespace records_schema_detail

// Every field table of a Markdown document, by the anchor of the heading above it, and the schemas.
class RecordsSchemaDoc {
 public:
  explicit RecordsSchemaDoc(const std::string& path) {
    namespace d = records_schema_detail;
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read " + path);
    std::string heading, line;
    bool in_field_table = false;
    while (std::getline(in, line)) {
      if (line.rfind("#", 0) == 0) {
        heading = d::trim(line.substr(line.find_first_not_of('#')));
        in_field_table = false;
        continue;
      }
      const std::vector<std::string> c = d::cells(line);
      if (c.empty()) {
        in_field_table = false;
        continue;
      }
      if (c.size() >= 3 && c[0] == "field" && c[1] == "type") {
        in_field_table = true;
        headings_[d::anchor(heading)] = heading;
        tables_[d::anchor(heading)];  // a table with no rows yet
        continue;
      }
      if (!in_field_table || c[0].find_first_not_of("-: ") == std::string::npos) continue;
      tables_[d::anchor(heading)].push_back({d::backticked(c[0]), c[1], c.size() > 2 ? c[2] : ""});
    }
  }

  // The schemas of the record types: "llamascope.bench/1" -> fields.
  std::map<std::string, Schema> schemas() const {
    std::map<std::string, Schema> out;
    for (const auto& [anchor, heading] : headings_) {
      const std::vector<std::string> names = records_schema_detail::backticked(heading);
      if (names.size() == 1 && names[0].rfind("llamascope.", 0) == 0) {
        Schema s;
        append(s, anchor, "", 0);
        out[names[0]] = s;
      }
    }
    return out;
  }

 private:
  void append(Schema& s, const std::string& table, const std::string& prefix, int depth) const {
    namespace d = records_schema_detail;
    if (depth > 4) throw std::runtime_error("docs: field tables link in a cycle at " + table);
    for (const d::Row& row : tables_.at(table)) {
      for (const std::string& name : row.names) {
        FieldSpec f;
        std::string pointer = prefix;
        for (const char c : "/" + name) pointer += c == '.' ? '/' : c;
        f.pointer = pointer;
        f.type = type_of(row.type);
        f.nullable = row.type.find("null") != std::string::npos;
        f.required = f.nullable || has_word(row.type, "R");
        s.push_back(f);
        if (f.type != JsonType::object) continue;
        if (const std::optional<std::string> sub = expansion(row.meaning))
          append(s, *sub, f.pointer, depth + 1);
      }
    }
  }

  // The field table a row's meaning refers to: "statistics..." -> the Statistics table, a link to a
  // heading that has a field table -> that table.
  std::optional<std::string> expansion(const std::string& meaning) const {
    if ((meaning.rfind("statistics", 0) == 0 || meaning.rfind("[statistics]", 0) == 0) &&
        tables_.count("statistics"))
      return std::string("statistics");
    for (size_t at = meaning.find("](#"); at != std::string::npos; at = meaning.find("](#", at + 1)) {
      const size_t end = meaning.find(')', at);
      if (end == std::string::npos) break;
      const std::string target = meaning.substr(at + 3, end - at - 3);
      if (target != "statistics" && tables_.count(target)) return target;
    }
    return std::nullopt;
  }

  static bool has_word(const std::string& text, const std::string& word) {
    std::istringstream in(text);
    for (std::string w; in >> w;)
      if (w == word) return true;
    return false;
  }

  static JsonType type_of(const std::string& cell) {
    const std::pair<const char*, JsonType> names[] = {
        {"string", JsonType::string},   {"integer", JsonType::integer}, {"number", JsonType::number},
        {"boolean", JsonType::boolean}, {"object", JsonType::object},   {"array", JsonType::array}};
    for (const auto& [name, type] : names)
      if (has_word(cell, name)) return type;
    return JsonType::any;
  }

  std::map<std::string, std::vector<records_schema_detail::Row>> tables_;
  std::map<std::string, std::string> headings_;  // anchor -> heading text
};

}  // namespace llamascope::testing_support
