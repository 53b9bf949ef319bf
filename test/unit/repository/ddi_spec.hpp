#pragma once
// The DDI OpenAPI description as test data: CI clones the repository with shared/ beside it, so the
// file is found at ECUUP_SOURCE_DIR/../shared/contracts. A tiny validator for the JSON Schema subset
// the description uses (type, required, properties, additionalProperties, enum, items, $ref).
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ecuup::test {

inline std::filesystem::path ddi_spec_path() {
  return std::filesystem::path(ECUUP_SOURCE_DIR) / ".." / "shared" / "contracts" / "hawkbit-ddi-openapi.json";
}

// The parsed description, or nullopt when absent (the caller skips with a message).
inline std::optional<nlohmann::json> load_ddi_spec() {
  std::ifstream in(ddi_spec_path());
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json doc = nlohmann::json::parse(text.str(), nullptr, false);
  if (doc.is_discarded()) return std::nullopt;
  return doc;
}

inline const nlohmann::json& ddi_schema(const nlohmann::json& spec, const std::string& name) {
  return spec.at("components").at("schemas").at(name);
}

inline void schema_errors(const nlohmann::json& spec, const nlohmann::json& schema, const nlohmann::json& value,
                          const std::string& path, std::vector<std::string>& out) {
  if (schema.contains("$ref")) {
    std::string ref = schema.at("$ref").get<std::string>();
    const std::string prefix = "#/components/schemas/";
    return schema_errors(spec, ddi_schema(spec, ref.substr(prefix.size())), value, path, out);
  }
  std::string type = schema.value("type", "");
  auto fail = [&](const std::string& what) { out.push_back(path + ": " + what); };
  if (type == "object" && !value.is_object()) return fail("expected an object");
  if (type == "string" && !value.is_string()) return fail("expected a string");
  if (type == "integer" && !value.is_number_integer()) return fail("expected an integer");
  if (type == "boolean" && !value.is_boolean()) return fail("expected a boolean");
  if (type == "array" && !value.is_array()) return fail("expected an array");
  if (schema.contains("enum")) {
    bool found = false;
    for (const auto& e : schema.at("enum")) found = found || e == value;
    if (!found) fail("value " + value.dump() + " is not in the enum " + schema.at("enum").dump());
  }
  if (value.is_object()) {
    for (const auto& r : schema.value("required", nlohmann::json::array()))
      if (!value.contains(r.get<std::string>())) fail("required '" + r.get<std::string>() + "' is missing");
    const auto props = schema.value("properties", nlohmann::json::object());
    for (const auto& [key, v] : value.items()) {
      if (props.contains(key)) schema_errors(spec, props.at(key), v, path + "." + key, out);
      else if (schema.contains("additionalProperties") && schema.at("additionalProperties").is_object())
        schema_errors(spec, schema.at("additionalProperties"), v, path + "." + key, out);
      else if (!props.empty()) fail("unknown property '" + key + "'");
    }
  }
  if (value.is_array() && schema.contains("items"))
    for (std::size_t i = 0; i < value.size(); ++i)
      schema_errors(spec, schema.at("items"), value[i], path + "[" + std::to_string(i) + "]", out);
}

// Errors of `value` against components.schemas.<name>; empty = valid.
inline std::vector<std::string> validate_ddi(const nlohmann::json& spec, const std::string& name,
                                             const nlohmann::json& value) {
  std::vector<std::string> out;
  schema_errors(spec, ddi_schema(spec, name), value, name, out);
  return out;
}

}  // namespace ecuup::test
