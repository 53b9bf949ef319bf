#!/usr/bin/env bash
# The docs of the other programs cannot drift either: walks the command tree of ecuup-server,
# ecuup-sim and ecuup-repo through their --help (nested subcommands included) and fails when a subcommand,
# an option or a positional's allowed value is missing from the man page (an .SS subsection per
# command under COMMANDS, with a .TP entry per option; the program's own options under OPTIONS)
# or from one of the bash, zsh and fish completions; also when a key of ecuup-sim's YAML or a fault
# kind is missing from ecuup-sim(1).
# bash completions are run; fish completions are asked with `complete -C` when fish is installed
# (else read); zsh completions are read: one function _PROG_PATH per command path.
# Env: ECUUP_BIN (dir of the built programs), ECUUP_SRC (source dir). Exit 0 pass, 1 fail, 125 skip.
set -u
BIN=${ECUUP_BIN:-build/bin}
SRC=${ECUUP_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
MAN=$SRC/man
COMP=$SRC/completions
PROGRAMS=(ecuup-server ecuup-sim ecuup-repo)
for prog in "${PROGRAMS[@]}"; do
  if [[ ! -x $BIN/$prog ]]; then
    echo "tools_docs_drift: skipped: $BIN/$prog is not built"
    exit 125
  fi
done
have_fish=false
command -v fish >/dev/null 2>&1 && have_fish=true

source "$SRC/test/support/docs_lib.sh"

# bash: source the file, run the function on the words (the last is completed), print COMPREPLY.
bash_complete() { # file function words...
  bash -c 'f=$1 fn=$2; shift 2; . "$f" || exit 1; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"
           COMP_POINT=${#COMP_LINE}; COMPREPLY=(); "$fn" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
           printf "%s\n" "${COMPREPLY[@]}"' _ "$@" 2>/dev/null
}
# zsh: the body of function $2 in file $1, plus the arrays ($_name) it names.
zsh_function() {
  local body name
  body=$(awk -v f="$2() {" '$0 == f { on = 1; next } on && /^}/ { exit } on' "$1")
  printf '%s\n' "$body"
  for name in $(grep -o '\$_[A-Za-z_]*' <<<"$body" | sort -u); do
    awk -v n="${name#\$}=(" 'index($0, n) == 1 { on = 1; next } on && /^\)/ { exit } on' "$1"
  done
}
# fish: what fish completes for the command line $2 with file $1 loaded (first column only).
fish_complete() {
  if $have_fish; then
    fish -c 'source $argv[1]; complete -C $argv[2]' "$1" "$2" 2>/dev/null | cut -f1
  fi
}

for prog in "${PROGRAMS[@]}"; do
  page=$MAN/$prog.1
  bash_file=$COMP/$prog.bash
  zsh_file=$COMP/_$prog
  fish_file=$COMP/$prog.fish
  bash_fn=_${prog//-/_}
  ok_files=true
  for f in "$page" "$bash_file" "$zsh_file" "$fish_file"; do
    [[ -f $f ]] || { missing "file ${f#"$SRC"/} does not exist"; ok_files=false; }
  done
  $ok_files || continue
  options_text=$(section "$page" OPTIONS)
  commands_text=$(section "$page" COMMANDS)
  titles=$(ss_titles "$commands_text")
  fish_static=$(cat "$fish_file")

  # Breadth-first over the command paths: "" (the program), "run", "admin", "admin vehicle", ...
  queue=("")
  while ((${#queue[@]})); do
    path=${queue[0]}
    queue=("${queue[@]:1}")
    # shellcheck disable=SC2086 # the path is words
    help=$("$BIN/$prog" $path --help 2>&1)
    name="$prog${path:+ $path}"
    subs=$(help_subcommands "$help")
    [[ -n $path || -n $subs ]] || missing "$prog --help lists no subcommands (cannot parse it)"
    for s in $subs; do queue+=("${path:+$path }$s"); done

    # The man page: the program's options under OPTIONS; a command's under its .SS subsection.
    if [[ -z $path ]]; then
      page_tags=$(tp_tags "$options_text")
      where="OPTIONS"
    else
      page_tags=$(tp_tags "$(ss_body "$commands_text" "$path")")
      where="COMMANDS subsection '$path'"
      checks=$((checks + 1))
      covered=false
      while IFS= read -r t; do [[ $t == "$path" || $t == "$path "* ]] && covered=true; done <<<"$titles"
      $covered || missing "$prog.1: COMMANDS has no .SS subsection for '$path'"
    fi
    # shellcheck disable=SC2086
    bash_opts=$(bash_complete "$bash_file" "$bash_fn" "$prog" $path -)
    # shellcheck disable=SC2086
    bash_words=$(bash_complete "$bash_file" "$bash_fn" "$prog" $path "")
    zsh_fn=_$prog${path:+_${path// /_}}
    zsh_body=$(zsh_function "$zsh_file" "$zsh_fn")
    [[ -n $zsh_body ]] || missing "_$prog: no function $zsh_fn() for '$name'"
    fish_opts=$(fish_complete "$fish_file" "$name -")
    fish_words=$(fish_complete "$fish_file" "$name ")

    for opt in $(help_options "$help"); do
      checks=$((checks + 1))
      # -h/--help of a command is the program's, documented once under OPTIONS.
      if [[ -z $path || ($opt != -h && $opt != --help) ]]; then
        has_token "$page_tags" "$opt" || missing "$prog.1: $where has no .TP entry for $opt ($name)"
      fi
      has_line "$bash_opts" "$opt" || missing "$prog.bash: '$name -' does not offer $opt"
      has_token "$zsh_body" "$opt" || missing "_$prog: $zsh_fn lacks $opt"
      if $have_fish; then
        has_line "$fish_opts" "$opt" || missing "$prog.fish: '$name -' does not offer $opt"
      else
        if [[ $opt == --* ]]; then re="-l ${opt#--}( |\$)"; else re="-s ${opt#-}( |\$)"; fi
        grep -qE -- "$re" <<<"$fish_static" || missing "$prog.fish: no line for $opt"
      fi
    done

    for word in $subs $(help_positional_values "$help"); do
      checks=$((checks + 1))
      # A subcommand is covered by its own .SS; a positional value must be in the command's text.
      if ! has_line "$subs" "$word"; then
        has_token "$(ss_body "$commands_text" "$path")" "$word" || missing "$prog.1: subsection '$path' lacks '$word'"
      fi
      has_line "$bash_words" "$word" || missing "$prog.bash: '$name ' does not offer '$word'"
      if has_line "$subs" "$word"; then
        [[ $zsh_body == *"'$word:"* ]] || missing "_$prog: $zsh_fn does not describe subcommand '$word'"
      else
        has_token "$zsh_body" "$word" || missing "_$prog: $zsh_fn does not offer '$word'"
      fi
      if $have_fish; then
        has_line "$fish_words" "$word" || missing "$prog.fish: '$name ' does not offer '$word'"
      else
        grep -qE -- "-a '?([^']* )?$word( |'|\$)" <<<"$fish_static" || missing "$prog.fish: no '-a $word' line"
      fi
    done
  done
done

# ecuup-sim's YAML keys (every check_keys list in sim_config.cpp) and fault kinds (fault.cpp) in its page.
sim_config_src=$SRC/lib/sim/sim_config.cpp
if [[ -f $sim_config_src && -f $MAN/ecuup-sim.1 ]]; then
  text=$(section "$MAN/ecuup-sim.1" "CONFIGURATION FILE")
  for k in $(tr '\n' ' ' <"$sim_config_src" | grep -oE 'check_keys\([a-z_]+(\[[^]]*\])?, \{[^}]*\}' | grep -oE '"[a-z_0-9]+"' | tr -d '"' | sort -u); do
    checks=$((checks + 1))
    has_token "$text" "$k" || missing "ecuup-sim.1: CONFIGURATION FILE lacks key '$k' (lib/sim/sim_config.cpp)"
  done
fi
if [[ -f $SRC/lib/sim/fault.cpp && -f $MAN/ecuup-sim.1 ]]; then
  text=$(section "$MAN/ecuup-sim.1" FAULTS)
  for k in $(sed -n '/fault_kind_name/,/^}/p' "$SRC/lib/sim/fault.cpp" | grep -oE 'return "[a-z_]+"' | grep -oE '"[a-z_]+"' | tr -d '"'); do
    checks=$((checks + 1))
    has_token "$text" "$k" || missing "ecuup-sim.1: FAULTS lacks fault kind '$k' (lib/sim/fault.cpp)"
  done
fi

if ((${#problems[@]})); then
  printf 'missing: %s\n' "${problems[@]}"
  echo "tools_docs_drift: ${#problems[@]} problem(s) in $checks checks"
  exit 1
fi
echo "tools_docs_drift: ok ($checks checks$($have_fish || echo '; fish not installed: fish file read, not run'))"
exit 0
