# bash completion for ecuup(1)                                     -*- shell-script -*-
# Installed as share/bash-completion/completions/ecuup. test/cli/docs_drift.sh checks that every
# option `ecuup SUB --help` shows is offered here, by running _ecuup.

# ECU names: the `- name:` entries of the config's ecus list (cheap: no YAML parser).
_ecuup_ecu_names() {
    local config=$1
    if [[ -z $config ]]; then
        config=${ECUUP_CONFIG:-ecuup.yaml}
    fi
    config=${config/#\~/$HOME}
    [[ -r $config ]] || return 0
    sed -n 's/^[[:space:]]*-[[:space:]]*name:[[:space:]]*["'\'']\{0,1\}\([A-Za-z0-9_][A-Za-z0-9_.-]*\).*/\1/p' "$config" 2>/dev/null
}

_ecuup() {
    local cur prev words cword split=false IFS=$' \t\n'
    if declare -F _init_completion >/dev/null 2>&1; then
        # -s: "--opt=value" gives prev=--opt, cur=value; -n =: "ECU=FILE" stays one word.
        _init_completion -s -n = || return
    else
        COMPREPLY=()
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD-1]}
        # Without bash-completion, readline splits at '=': "--opt = value", "ECU = FILE".
        if [[ $cur == = ]]; then
            cur=""
            if [[ ${words[cword-2]-} == --import ]]; then
                COMPREPLY=($(compgen -f))
                return 0
            fi
        elif [[ $prev == = ]]; then
            if [[ ${words[cword-3]-} == --import ]]; then
                COMPREPLY=($(compgen -f -- "$cur"))
                return 0
            fi
            prev=${words[cword-2]}
        fi
    fi

    local subcommands="inventory report fetch flash backup status update restore discover"
    local sub="" config="" i
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            -c | --config) config=${words[i+1]} ;;
            --config=*) config=${words[i]#--config=} ;;
            -*) ;;
            *) [[ -z $sub && " $subcommands " == *" ${words[i]} "* ]] && sub=${words[i]} ;;
        esac
    done

    if [[ -z $sub ]]; then
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "-h --help -V --version" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$subcommands" -- "$cur"))
        fi
        return 0
    fi

    # Values of options that take one.
    case $prev in
        -c | --config | --log-file | --trace)
            COMPREPLY=($(compgen -f -- "$cur"))
            compopt -o filenames 2>/dev/null
            return 0
            ;;
        -e | --ecu)
            COMPREPLY=($(compgen -W "$(_ecuup_ecu_names "$config")" -- "$cur"))
            return 0
            ;;
        --progress)
            COMPREPLY=($(compgen -W "auto bar plain jsonl none" -- "$cur"))
            return 0
            ;;
        --log-format)
            COMPREPLY=($(compgen -W "auto text json journal" -- "$cur"))
            return 0
            ;;
        --wait)
            COMPREPLY=($(compgen -W "10 60 300 600" -- "$cur"))
            return 0
            ;;
        --version)
            [[ $sub == backup ]] && return 0
            ;;
        --jobs)
            COMPREPLY=($(compgen -W "1 2 4 8" -- "$cur"))
            return 0
            ;;
        --rollback)
            COMPREPLY=($(compgen -W "ecu vehicle" -- "$cur"))
            return 0
            ;;
        --address | --vin | --eid)
            return 0
            ;;
        --timeout)
            COMPREPLY=($(compgen -W "600 2000 5000" -- "$cur"))
            return 0
            ;;
        --import)
            # ECU=FILE: the ECU names first, then files after the '='.
            if [[ $cur == *=* ]]; then
                COMPREPLY=($(compgen -f -- "${cur#*=}"))
                # readline replaces only the text after '=' when '=' breaks words.
                [[ $COMP_WORDBREAKS == *=* ]] || COMPREPLY=("${COMPREPLY[@]/#/${cur%%=*}=}")
            else
                COMPREPLY=($(compgen -S = -W "$(_ecuup_ecu_names "$config")" -- "$cur"))
                compopt -o nospace 2>/dev/null
            fi
            return 0
            ;;
    esac

    local common="-h --help -c --config -e --ecu --json --progress -v --verbose --log-file --log-format --wait --trace --trace-append"
    local opts
    case $sub in
        inventory | report | fetch | restore) opts="$common -n --dry-run" ;;
        flash | update) opts="$common -n --dry-run --no-backup --jobs --rollback --force-preconditions" ;;
        backup) opts="$common -n --dry-run --import --version --read --list" ;;
        status) opts="$common --sync --no-sync -f --follow" ;;
        discover) opts="-h --help --json --progress -v --verbose --log-file --log-format --address --vin --eid --timeout" ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    fi
    return 0
} &&
    complete -F _ecuup ecuup
