#!/usr/bin/env bash
# The docs that cannot drift: fails when `ecuup --help` or `ecuup SUB --help` names a subcommand,
# an option or an option value that the man pages (OPTIONS entry and SYNOPSIS) or the bash/zsh/fish
# completions do not, when a page's NAME line differs from the subcommand's summary, when a man
# page's EXIT STATUS lacks a code of util/exit_code.hpp, or when a config key, manifest key,
# uds driver key, status/step JSON key or result word in the source is missing from its man page.
# Env: ECUUP_BIN (dir of the built ecuup), ECUUP_SRC (source dir). Exit 0 pass, 1 fail, 125 skip.
set -u
BIN=${ECUUP_BIN:-build/bin}
SRC=${ECUUP_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
ECUUP=$BIN/ecuup
MAN=$SRC/man
COMP=$SRC/completions
if [[ ! -x $ECUUP ]]; then
  echo "docs_drift: skipped: $ECUUP is not built"
  exit 125
fi

source "$SRC/test/support/docs_lib.sh"

# --- bash completion: run _ecuup for real and read COMPREPLY.
bash_complete() { # words...; completes the last one
  bash -c '. "$1" || exit 1; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
           COMPREPLY=(); _ecuup ecuup "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"; printf "%s\n" "${COMPREPLY[@]}"' \
    _ "$COMP/ecuup.bash" "$@" 2>/dev/null
}

# --- zsh completion: the case arm "(SUB)" up to ";;", plus the arrays ($_ecuup_x) that it names.
zsh_arm() {
  local file=$COMP/_ecuup arm name
  arm=$(awk -v s="($1)" '{ l = $0; gsub(/^[ \t]+|[ \t]+$/, "", l) } l == s { on = 1; next } on && l == ";;" { exit } on' "$file")
  printf '%s\n' "$arm"
  for name in $(grep -o '\$_ecuup_[a-z_]*' <<<"$arm" | sort -u); do
    awk -v n="${name#\$}" '{ l = $0; gsub(/^[ \t]+/, "", l) } index(l, n "=(") == 1 { on = 1; next } on && l ~ /^\)/ { exit } on' "$file"
  done
}
zsh_top() { awk '/_arguments -C/ { on = 1 } on { print } on && /->option/ { exit }' "$COMP/_ecuup"; }

# --- fish completion: "SUB OPTION" pairs from each `complete -c ecuup` line (SUB "-" = ecuup itself).
fish_pairs() {
  local line cond subs s rest
  while IFS= read -r line; do
    [[ $line == "complete -c ecuup "* ]] || continue
    cond=""
    [[ $line =~ -n\ \"([^\"]*)\" ]] && cond=${BASH_REMATCH[1]}
    if [[ -z $cond || $cond == "not __fish_seen_subcommand_from"* ]]; then
      subs="-"
    elif [[ $cond == "__fish_seen_subcommand_from "* ]]; then
      subs=${cond#__fish_seen_subcommand_from }
    else
      continue
    fi
    rest=$line
    while [[ $rest =~ [[:space:]]-([lsa])[[:space:]]+([A-Za-z0-9_-]+)(.*) ]]; do
      for s in $subs; do
        case ${BASH_REMATCH[1]} in
          l) echo "$s --${BASH_REMATCH[2]}" ;;
          s) echo "$s -${BASH_REMATCH[2]}" ;;
          a) echo "$s ${BASH_REMATCH[2]}" ;;
        esac
      done
      rest=${BASH_REMATCH[3]}
    done
  done <"$COMP/ecuup.fish"
}

for f in "$COMP/ecuup.bash" "$COMP/_ecuup" "$COMP/ecuup.fish" "$MAN/ecuup.1"; do
  [[ -f $f ]] || missing "file $f does not exist"
done

top_help=$("$ECUUP" --help 2>&1)
subcommands=$(awk '/^Subcommands:/ { on = 1; next } on && /^$/ { exit } on { print $1 }' <<<"$top_help")
if [[ -z $subcommands ]]; then
  missing "ecuup --help lists no subcommands (cannot parse it)"
fi
exit_codes=$(sed -n 's/^[[:space:]]*[a-z_]*[[:space:]]*=[[:space:]]*\([0-9][0-9]*\),.*/\1/p' "$SRC/lib/util/exit_code.hpp")
[[ -n $exit_codes ]] || missing "no exit codes found in lib/util/exit_code.hpp"

fish_all=$(fish_pairs)
bash_top_words=$(bash_complete ecuup "")
bash_top_opts=$(bash_complete ecuup -)

# ecuup itself
main_text=$(plain "$MAN/ecuup.1" 2>/dev/null)
main_opts=$(tp_tags "$(section "$MAN/ecuup.1" OPTIONS 2>/dev/null)")
for opt in $(help_options "$top_help"); do
  checks=$((checks + 1))
  has_token "$main_opts" "$opt" || missing "ecuup.1: OPTIONS has no .TP entry for $opt"
  has_line "$bash_top_opts" "$opt" || missing "ecuup.bash: 'ecuup -' does not offer $opt"
  has_token "$(zsh_top)" "$opt" || missing "_ecuup: the top-level _arguments lacks $opt"
  has_line "$fish_all" "- $opt" || missing "ecuup.fish: no top-level line for $opt"
done

for sub in $subcommands; do
  page=$MAN/ecuup-$sub.1
  checks=$((checks + 1))
  has_token "$main_text" "ecuup-$sub" || missing "ecuup.1 does not mention ecuup-$sub"
  has_line "$bash_top_words" "$sub" || missing "ecuup.bash: 'ecuup ' does not offer subcommand $sub"
  grep -q "'$sub:" "$COMP/_ecuup" || missing "_ecuup: subcommand list lacks $sub"
  has_line "$fish_all" "- $sub" || missing "ecuup.fish: no '-a $sub' line"
  if [[ ! -f $page ]]; then
    missing "man page man/ecuup-$sub.1 does not exist"
    continue
  fi
  sub_help=$("$ECUUP" "$sub" --help 2>&1)
  # NAME says what the command table's summary says.
  summary=$(awk -v s="$sub" '/^Subcommands:/ { on = 1; next } on && $1 == s { $1 = ""; sub(/^ +/, ""); print; exit }' <<<"$top_help")
  name_line=$(section "$page" NAME | tr -s ' ')
  checks=$((checks + 1))
  [[ $name_line == "ecuup-$sub - $summary" ]] || missing "ecuup-$sub.1: NAME line '$name_line' is not 'ecuup-$sub - $summary' (the summary in ecuup --help)"
  # SYNOPSIS names every option (by its short or long name), --help aside.
  synopsis=$(section "$page" SYNOPSIS)
  for group in $(awk '/^  -/ { print $1 }' <<<"$sub_help"); do
    [[ $group == *--help* ]] && continue
    checks=$((checks + 1))
    found=false
    for opt in ${group//,/ }; do has_token "$synopsis" "$opt" && found=true; done
    $found || missing "ecuup-$sub.1: SYNOPSIS lacks ${group//,/ or }"
  done
  page_opts=$(section "$page" OPTIONS)
  page_tags=$(tp_tags "$page_opts")
  bash_opts=$(bash_complete ecuup "$sub" -)
  zsh_opts=$(zsh_arm "$sub")
  [[ -n $zsh_opts ]] || missing "_ecuup: no case arm '($sub)'"
  for opt in $(help_options "$sub_help"); do
    checks=$((checks + 1))
    has_token "$page_tags" "$opt" || missing "ecuup-$sub.1: OPTIONS has no .TP entry for $opt"
    has_line "$bash_opts" "$opt" || missing "ecuup.bash: 'ecuup $sub -' does not offer $opt"
    has_token "$zsh_opts" "$opt" || missing "_ecuup: arm ($sub) lacks $opt"
    has_line "$fish_all" "$sub $opt" || missing "ecuup.fish: no line offers $opt for $sub"
    values=$(help_values "$sub_help" "$opt")
    for v in $values; do
      checks=$((checks + 1))
      has_token "$page_opts" "$v" || missing "ecuup-$sub.1: OPTIONS lacks value '$v' of $opt"
      has_line "$(bash_complete ecuup "$sub" "$opt" "")" "$v" || missing "ecuup.bash: '$sub $opt' does not offer '$v'"
      has_token "$(grep -F -- "$opt" <<<"$zsh_opts")" "$v" || missing "_ecuup: arm ($sub) does not offer '$v' for $opt"
      has_token "$(grep -E -- "-l ${opt#--}( |$)" "$COMP/ecuup.fish")" "$v" || missing "ecuup.fish: does not offer '$v' for $opt"
    done
  done
done

# EXIT STATUS: every code, as a ".B N" entry, in ecuup.1 and every subcommand page.
for sub in "" $subcommands; do
  page=$MAN/ecuup${sub:+-$sub}.1
  [[ -f $page ]] || continue
  status_text=$(section "$page" "EXIT STATUS")
  [[ -n $status_text ]] || { missing "$(basename "$page"): no EXIT STATUS section"; continue; }
  for code in $exit_codes; do
    checks=$((checks + 1))
    has_line "$status_text" ".B $code" || missing "$(basename "$page"): EXIT STATUS lacks $code"
  done
done

# Config keys: every key config.cpp, precondition.cpp, the image/command drivers and releases.yaml (dir) know, as \fBkey\fR in ecuup-config.5.
if [[ -f $MAN/ecuup-config.5 ]]; then
  config_page=$(cat "$MAN/ecuup-config.5")
  for src in lib/config/config.cpp lib/config/precondition.cpp lib/ecu/image_driver.cpp lib/ecu/command_driver.cpp lib/repository/dir_repository.cpp; do
    [[ -f $SRC/$src ]] || continue
    flat=$(tr '\n' ' ' <"$SRC/$src")
    keys=$( { grep -o 'yaml_known_keys([^;]*;' <<<"$flat" | grep -o '"[a-z_]*"'
              grep -oE 'yaml_(string|int|bool)\([a-z_]+, [a-z_.]+, "[a-z_]+"' <<<"$flat" | grep -o '"[a-z_]*"'
              grep -o 'k_drivers = {[^}]*}' <<<"$flat" | grep -o '"[a-z_]*"'
              grep -oE 'k_[a-z]+_keys = \{[^}]*\}' <<<"$flat" | grep -o '"[a-z_]*"'; } | tr -d '"' | sort -u)
    for k in $keys; do
      checks=$((checks + 1))
      [[ $config_page == *"\\fB$k\\fR"* ]] || missing "ecuup-config.5 lacks config key '$k' (read in $src)"
    done
  done
else
  missing "man page man/ecuup-config.5 does not exist"
fi

# uds driver keys (the keys its sections accept) in ecuup-uds.7, where both exist.
if [[ -f $SRC/lib/ecu/uds_driver.cpp && -f $MAN/ecuup-uds.7 ]]; then
  uds_text=$(plain "$MAN/ecuup-uds.7")
  for k in $(tr '\n' ' ' <"$SRC/lib/ecu/uds_driver.cpp" | grep -oE '(known|yaml_known_keys)\([^;]*;' | grep -oE '"[a-z_0-9]+"' | tr -d '"' | sort -u); do
    checks=$((checks + 1))
    has_token "$uds_text" "$k" || missing "ecuup-uds.7 lacks uds driver key '$k' (lib/ecu/uds_driver.cpp)"
  done
fi

# Manifest keys: every key manifest.cpp reads, as \fBkey\fR in ecuup-manifest.5.
if [[ -f $MAN/ecuup-manifest.5 ]]; then
  manifest_page=$(cat "$MAN/ecuup-manifest.5")
  for k in $(grep -oE 'r\.(str|u64|integer|boolean|map|seq)\([a-z_]+, "[a-z_0-9]+"' "$SRC/lib/manifest/manifest.cpp" | grep -o '"[a-z_0-9]*"' | tr -d '"' | sort -u); do
    checks=$((checks + 1))
    [[ $manifest_page == *"\\fB$k\\fR"* ]] || missing "ecuup-manifest.5 lacks manifest key '$k'"
  done
else
  missing "man page man/ecuup-manifest.5 does not exist"
fi

# status --json keys in ecuup-status.1; step JSON keys in every step page (discover prints no step report).
json_keys() { grep -oE '\{"[a-z_]+",' "$1" | grep -oE '[a-z_]+' | sort -u; }
if [[ -f $SRC/lib/api/status.cpp && -f $MAN/ecuup-status.1 ]]; then
  text=$(section "$MAN/ecuup-status.1" "JSON OUTPUT")
  for k in $(json_keys "$SRC/lib/api/status.cpp"); do
    checks=$((checks + 1))
    has_token "$text" "$k" || missing "ecuup-status.1: JSON OUTPUT lacks key '$k'"
  done
fi
step_keys=$(sed -n '/StepReport::to_json/,/^}/p' "$SRC/lib/api/session.cpp" | grep -oE '"[a-z_]+"' | tr -d '"' | sort -u)
for sub in $subcommands; do
  [[ $sub == status || $sub == discover || ! -f $MAN/ecuup-$sub.1 ]] && continue
  text=$(section "$MAN/ecuup-$sub.1" "JSON OUTPUT")
  for k in $step_keys; do
    checks=$((checks + 1))
    has_token "$text" "$k" || missing "ecuup-$sub.1: JSON OUTPUT lacks step key '$k'"
  done
done

# Result words: what lib/api/SUB.cpp puts in an ECU's result, in the RESULTS section of its page.
for sub in $subcommands; do
  src=$SRC/lib/api/$sub.cpp
  [[ -f $src && -f $MAN/ecuup-$sub.1 ]] || continue
  text=$(section "$MAN/ecuup-$sub.1" RESULTS)
  for w in $(grep -E 'rep\.ecus\.push_back\(\{|outcome\("|outcome\([a-z]' "$src" | grep -v 'auto outcome' |
             grep -oE '"[a-z]+(-[a-z]+)*"' | tr -d '"' | sort -u); do
    checks=$((checks + 1))
    re="(^|[^a-z-])$w([^a-z-]|\$)"
    [[ $text =~ $re ]] || missing "ecuup-$sub.1: RESULTS lacks result word '$w' (from lib/api/$sub.cpp)"
  done
done

if ((${#problems[@]})); then
  printf 'missing: %s\n' "${problems[@]}"
  echo "docs_drift: ${#problems[@]} problem(s) in $checks checks"
  exit 1
fi
echo "docs_drift: ok ($checks checks)"
exit 0
