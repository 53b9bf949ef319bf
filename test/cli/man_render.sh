#!/usr/bin/env bash
# Every man page in man/ renders without a single groff warning, at terminal width, and has the
# sections a reader looks for. Env: ECUUP_SRC (source dir). Exit 0 pass, 1 fail, 125 no groff/nroff.
set -u
SRC=${ECUUP_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
if command -v groff >/dev/null 2>&1; then
  render() { groff -man -Tutf8 -ww -z "$1"; }
elif command -v nroff >/dev/null 2>&1; then
  render() { nroff -man -ww -z "$1"; }
else
  echo "man_render: skipped: neither groff nor nroff is installed (Debian: groff-base)"
  exit 125
fi

shopt -s nullglob
pages=("$SRC"/man/*.[1-8])
if ((${#pages[@]} == 0)); then
  echo "man_render: no man pages in $SRC/man"
  exit 1
fi

# ecuup(1) and the subcommand pages it lists also need OPTIONS, EXIT STATUS and EXAMPLES.
subcommand_pages=" ecuup.1 "
if [[ -f $SRC/man/ecuup.1 ]]; then
  for sub in $(awk '/^\.SH[[:space:]]+"?SUBCOMMANDS"?/ { on = 1; next } /^\.SH/ { on = 0 } on && /^\.BR ecuup/ { print $2 }' "$SRC/man/ecuup.1"); do
    subcommand_pages+="${sub//\\/}.1 "
  done
fi

failed=0
for page in "${pages[@]}"; do
  name=$(basename "$page")
  bad=0
  warnings=$(render "$page" 2>&1 >/dev/null)
  if [[ -n $warnings ]]; then
    echo "FAIL $name renders with warnings:"
    sed 's/^/    /' <<<"$warnings"
    failed=1
    continue
  fi
  sections=$(sed -n 's/^\.SH[[:space:]]*"\{0,1\}\([^"]*\)"\{0,1\}[[:space:]]*$/\1/p' "$page")
  grep -q '^\.TH ' "$page" || { echo "FAIL $name has no .TH line"; bad=1; }
  required=(NAME DESCRIPTION "SEE ALSO")
  [[ $name == *.1 ]] && required+=(SYNOPSIS)
  [[ $subcommand_pages == *" $name "* ]] && required+=(OPTIONS "EXIT STATUS" FILES EXAMPLES)
  for s in "${required[@]}"; do
    grep -qxF "$s" <<<"$sections" || { echo "FAIL $name has no $s section"; bad=1; }
  done
  # The NAME line is what whatis/apropos index: "name \- summary".
  name_line=$(awk '/^\.SH[[:space:]]+"?NAME"?/ { getline; print; exit }' "$page")
  [[ $name_line == *'\-'* ]] || { echo "FAIL $name: the NAME line lacks 'name \\- summary'"; bad=1; }
  if ((bad)); then failed=1; else echo "ok   $name"; fi
done
if ((failed)); then
  echo "man_render: failed"
  exit 1
fi
echo "man_render: ${#pages[@]} pages ok"
