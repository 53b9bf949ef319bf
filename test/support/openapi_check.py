#!/usr/bin/env python3
"""Validate a JSON document against a schema of an OpenAPI 3.0 description (stdlib only).

    openapi_check.py SPEC.json SCHEMA_NAME JSON_FILE|-   [--strict]
    openapi_check.py SPEC.json --list

Checks #/components/schemas/SCHEMA_NAME with $ref resolution, type, nullable, required, enum,
properties, items, additionalProperties (false or a schema), allOf/anyOf/oneOf and the integer
formats int32/int64. --strict also rejects properties a schema does not declare when it says
nothing about additionalProperties (catches misspelt field names). `pattern` is not checked:
hawkBit's description uses it as prose ("HH:MM:SS").

Exit status: 0 valid, 1 invalid (one line per problem: JSON path, what is wrong), 2 usage error.
"""
import json
import sys

INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


class Checker:
    def __init__(self, spec, strict):
        self.spec = spec
        self.strict = strict
        self.problems = []

    def resolve(self, schema):
        seen = set()
        while isinstance(schema, dict) and "$ref" in schema:
            ref = schema["$ref"]
            if ref in seen or not ref.startswith("#/"):
                raise ValueError("cannot resolve $ref " + ref)
            seen.add(ref)
            node = self.spec
            for part in ref[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
            schema = node
        return schema

    def problem(self, path, message):
        self.problems.append(f"{path}: {message}")

    @staticmethod
    def type_name(value):
        if value is None:
            return "null"
        if isinstance(value, bool):
            return "boolean"
        if isinstance(value, int):
            return "integer"
        if isinstance(value, float):
            return "number"
        if isinstance(value, str):
            return "string"
        if isinstance(value, list):
            return "array"
        return "object"

    def type_ok(self, expected, value):
        actual = self.type_name(value)
        if expected == "number":
            return actual in ("integer", "number")
        return actual == expected

    def check(self, schema, value, path):
        schema = self.resolve(schema)
        if not isinstance(schema, dict):
            return
        if value is None and schema.get("nullable"):
            return
        for sub in schema.get("allOf", []):
            self.check(sub, value, path)
        for key in ("anyOf", "oneOf"):
            if key in schema:
                matches = 0
                for sub in schema[key]:
                    trial = Checker(self.spec, self.strict)
                    trial.check(sub, value, path)
                    matches += not trial.problems
                if matches == 0 or (key == "oneOf" and matches > 1):
                    self.problem(path, f"matches {matches} of the {key} alternatives")
        expected = schema.get("type")
        if expected and not self.type_ok(expected, value):
            self.problem(path, f"expected {expected}, got {self.type_name(value)} {json.dumps(value)[:60]}")
            return
        if "enum" in schema and value not in schema["enum"]:
            self.problem(path, f"{json.dumps(value)} is not one of {schema['enum']}")
        fmt = schema.get("format")
        if fmt in INT_RANGES and self.type_name(value) == "integer":
            low, high = INT_RANGES[fmt]
            if not low <= value <= high:
                self.problem(path, f"{value} is out of {fmt} range")
        if isinstance(value, dict):
            self.check_object(schema, value, path)
        if isinstance(value, list) and "items" in schema:
            for i, item in enumerate(value):
                self.check(schema["items"], item, f"{path}[{i}]")

    def check_object(self, schema, value, path):
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                self.problem(path, f"missing required property '{name}'")
        extra = schema.get("additionalProperties")
        for name, item in value.items():
            where = f"{path}.{name}"
            if name in props:
                self.check(props[name], item, where)
            elif extra is False:
                self.problem(where, "property not allowed (additionalProperties: false)")
            elif isinstance(extra, dict):
                self.check(extra, item, where)
            elif extra is None and self.strict and (props or "type" in schema):
                self.problem(where, "property not declared by the schema (--strict)")


def main(argv):
    args = [a for a in argv[1:] if a != "--strict"]
    strict = len(args) != len(argv) - 1
    if len(args) == 2 and args[1] == "--list":
        spec = load(args[0])
        try:
            for name in sorted(spec.get("components", {}).get("schemas", {})):
                print(name)
        except BrokenPipeError:
            pass
        return 0
    if len(args) != 3:
        print("usage: openapi_check.py SPEC.json SCHEMA_NAME JSON_FILE|- [--strict] | SPEC.json --list",
              file=sys.stderr)
        return 2
    spec = load(args[0])
    schemas = spec.get("components", {}).get("schemas", {})
    if args[1] not in schemas:
        print(f"openapi_check: no schema '{args[1]}' in {args[0]} (see --list)", file=sys.stderr)
        return 2
    try:
        text = sys.stdin.read() if args[2] == "-" else open(args[2], encoding="utf-8").read()
        instance = json.loads(text)
    except (OSError, ValueError) as e:
        print(f"openapi_check: {args[2]}: not JSON: {e}", file=sys.stderr)
        return 1
    checker = Checker(spec, strict)
    try:
        checker.check({"$ref": "#/components/schemas/" + args[1]}, instance, "$")
    except (ValueError, KeyError) as e:
        print(f"openapi_check: {args[0]}: {e}", file=sys.stderr)
        return 2
    for p in checker.problems:
        print(p)
    return 1 if checker.problems else 0


def load(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        print(f"openapi_check: {path}: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
