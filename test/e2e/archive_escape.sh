#!/usr/bin/env bash
# An artifact archive that tries to write outside the download directory is refused (exit 4).
source "$ECUUP_SRC/test/support/testlib.sh"
bench
python3 - "$B/repository" <<'PY'
import hashlib, io, sys, tarfile
root = sys.argv[1]
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w:gz") as t:
    data = b"evil"
    ti = tarfile.TarInfo("../../escaped.txt"); ti.size = len(data)
    t.addfile(ti, io.BytesIO(data))
open(root + "/evil.tar.gz", "wb").write(buf.getvalue())
d = buf.getvalue()
rel = open(root + "/releases.yaml").read()
rel = rel.replace("artifact: bms-1.1.0.img", "artifact: evil.tar.gz")
import re
rel = re.sub(r"(artifact: evil.tar.gz\n    sha256: )\w+(\n    size: )\d+", r"\g<1>%s\g<2>%d" % (hashlib.sha256(d).hexdigest(), len(d)), rel)
open(root + "/releases.yaml", "w").write(rel)
PY
"$ecuup" inventory >/dev/null 2>&1; "$ecuup" report >/dev/null 2>&1
expect 4 "fetch refuses the escaping archive" "$ecuup" fetch --ecu bms
check "nothing escaped" bash -c "! find '$B' '$T' -name escaped.txt | grep -q ."
check "no verified download" bash -c "! grep -q 'verified: true' '$B/state/manifest.yaml'"
finish
