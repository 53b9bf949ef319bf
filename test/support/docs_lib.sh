# Shared by the docs drift tests (test/cli/docs_drift.sh, test/cli/tools_docs_drift.sh): reading
# roff man pages and CLI11 --help texts, and collecting problems. Source it; it defines functions only.
problems=()
checks=0
missing() { problems+=("$*"); }

# roff source -> text: drop font escapes, \- becomes -, \& and \e go.
plain() { sed -e 's/\\f[BIRP]//g' -e 's/\\f([A-Z][A-Z]//g' -e 's/\\f\[[^]]*\]//g' -e 's/\\-/-/g' -e 's/\\&//g' -e 's/\\e/\\/g' "$1"; }
# One .SH section of a page, as text ($2 is the heading, without quotes).
section() {
  plain "$1" | awk -v want="$2" '/^\.SH/ { t = $0; sub(/^\.SH[ \t]+/, "", t); gsub(/"/, "", t); on = (t == want); next } on'
}
# The titles of the .SS subsections in a section's text.
ss_titles() { awk '/^\.SS/ { t = $0; sub(/^\.SS[ \t]+/, ""); gsub(/"/, ""); print }' <<<"$1"; }
# The body of subsection $2 of a section's text $1.
ss_body() {
  awk -v want="$2" '/^\.SS/ { t = $0; sub(/^\.SS[ \t]+/, "", t); gsub(/"/, "", t); on = (t == want); next } on' <<<"$1"
}
# The tags of a section's .TP entries (the line after each .TP): where an option is defined.
tp_tags() { awk 'tag { print; tag = 0 } /^\.TP/ { tag = 1 }' <<<"$1"; }
# Does text $1 hold option/word $2 as a whole token ('-', '_' and alphanumerics do not continue it)?
# (Pure bash: the checks run hundreds of times and must not fork on a loaded machine.)
has_token() {
  local re="(^|[^-[:alnum:]_])${2//./\\.}([^-[:alnum:]_]|\$)"
  [[ $1 =~ $re ]]
}
# Is $2 one of the lines of $1?
has_line() { [[ $'\n'$1$'\n' == *$'\n'"$2"$'\n'* ]]; }

# From a CLI11 --help text: options (first field of "  -x,--long ..." lines, split at commas),
# subcommand names, allowed values of option $2 ("--opt TEXT:{a,b,c}"), allowed positional values.
help_options() { awk '/^  -/ { n = split($1, a, ","); for (i = 1; i <= n; i++) print a[i] }' <<<"$1"; }
help_subcommands() { awk '/^Subcommands:/ { on = 1; next } on && /^$/ { exit } on && /^  [^ ]/ { print $1 }' <<<"$1"; }
help_values() { awk -v o="$2" '/^  -/ { n = split($1, a, ","); for (i = 1; i <= n; i++) if (a[i] == o && match($0, /\{[^}]*\}/)) { s = substr($0, RSTART + 1, RLENGTH - 2); gsub(",", "\n", s); print s } }' <<<"$1"; }
help_positional_values() {
  awk '/^Positionals:/ { on = 1; next } on && /^$/ { exit }
       on && match($0, /\{[^}]*\}/) { s = substr($0, RSTART + 1, RLENGTH - 2); gsub(",", "\n", s); print s }' <<<"$1"
}
