#!/usr/bin/env python3
"""Validates JSON documents against ecuup's schemas (man/json/*.schema.json), with an independent
validator (python3-jsonschema).
  json_check.py SCHEMA_DIR SCHEMA FILE      FILE holds one JSON document
  json_check.py SCHEMA_DIR SCHEMA --lines FILE   every line of FILE is a document
Exit 0 when all are valid; 1 with the first errors printed; 125 when jsonschema is missing."""
import json
import os
import sys
import warnings

try:
    import jsonschema
except ImportError:
    print("json_check: python3-jsonschema is not installed", file=sys.stderr)
    sys.exit(125)

warnings.filterwarnings("ignore", category=DeprecationWarning)


def main():
    schema_dir, name = sys.argv[1], sys.argv[2]
    lines = sys.argv[3] == "--lines"
    path = sys.argv[4] if lines else sys.argv[3]
    store = {}
    for f in os.listdir(schema_dir):
        if f.endswith(".schema.json"):
            s = json.load(open(os.path.join(schema_dir, f)))
            store[s["$id"]] = s
    schema = json.load(open(os.path.join(schema_dir, name)))
    resolver = jsonschema.RefResolver(base_uri=schema["$id"], referrer=schema, store=store)
    validator = jsonschema.Draft202012Validator(schema, resolver=resolver)
    text = open(path).read()
    docs = [json.loads(l) for l in text.splitlines() if l.strip()] if lines else [json.loads(text)]
    if not docs:
        print("json_check: %s holds no document" % path)
        return 1
    bad = 0
    for i, doc in enumerate(docs):
        for err in validator.iter_errors(doc):
            bad += 1
            if bad <= 5:
                where = "/".join(str(p) for p in err.absolute_path)
                print("json_check: %s doc %d at /%s: %s" % (path, i + 1, where, err.message[:300]))
    return 1 if bad else 0


sys.exit(main())
