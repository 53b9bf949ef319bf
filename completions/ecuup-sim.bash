# bash completion for ecuup-sim(1)                                 -*- shell-script -*-
# Installed as share/bash-completion/completions/ecuup-sim. test/cli/tools_docs_drift.sh checks
# that every subcommand and option `ecuup-sim ... --help` shows is offered here, by running it.

# ECU names: the `- name:` entries of the --config file's ecus list (cheap: no YAML parser).
_ecuup_sim_ecu_names() {
    local config=${1/#\~/$HOME}
    [[ -n $config && -r $config ]] || return 0
    sed -n 's/^[[:space:]]*-[[:space:]]*name:[[:space:]]*["'\'']\{0,1\}\([A-Za-z0-9_][A-Za-z0-9_.-]*\).*/\1/p' "$config" 2>/dev/null
}

_ecuup_sim() {
    local cur prev words cword split=false IFS=$' \t\n'
    if declare -F _init_completion >/dev/null 2>&1; then
        _init_completion -s -n : || return
    else
        COMPREPLY=()
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD-1]}
        if [[ $cur == = ]]; then
            cur=""
        elif [[ $prev == = ]]; then
            prev=${words[cword-2]}
        fi
    fi

    local subcommands="run console power-cut key mkimage dump"
    local takes_value=" --config --state --doip-port --bus --ports-file --fault --trace --bitrate --data-bitrate --ecu
        --version --size --seed --payload -o --output --address --ms "
    local sub="" config="" i w
    for ((i = 1; i < cword; i++)); do
        w=${words[i]}
        case $w in
            --config) config=${words[i+1]} ;;
            --config=*) config=${w#--config=} ;;
        esac
        if [[ $w == -* ]]; then
            [[ $w != *=* && $takes_value == *" $w "* ]] && ((i++))
            continue
        fi
        [[ -z $sub && " $subcommands " == *" $w "* ]] && sub=$w
    done

    case $prev in
        --config)
            COMPREPLY=($(compgen -f -X '!*.@(yaml|yml)' -- "$cur") $(compgen -d -- "$cur"))
            return 0
            ;;
        --state)
            COMPREPLY=($(compgen -d -- "$cur"))
            return 0
            ;;
        --trace | --payload | -o | --output | --ports-file)
            COMPREPLY=($(compgen -f -- "$cur"))
            return 0
            ;;
        --ecu)
            COMPREPLY=($(compgen -W "$(_ecuup_sim_ecu_names "$config")" -- "$cur"))
            return 0
            ;;
        --fault)
            local kinds="nrc: silence:block= drop:block= power_loss:block= slow_erase wrong_checksum security_delay slow_boot late: low_battery moving engine_running" e k list=""
            for e in $(_ecuup_sim_ecu_names "$config"); do
                for k in $kinds; do list+=" $e:$k"; done
            done
            compopt -o nospace 2>/dev/null
            COMPREPLY=($(compgen -W "$list" -- "$cur"))
            # "ECU:KIND": readline treats ':' as a word break; bash-completion knows how to cope.
            declare -F __ltrim_colon_completions >/dev/null 2>&1 && __ltrim_colon_completions "$cur"
            return 0
            ;;
        --bus)
            compopt -o nospace 2>/dev/null
            COMPREPLY=($(compgen -W "udp: socketcan:" -- "$cur"))
            return 0
            ;;
        --doip-port | --bitrate | --data-bitrate | --version | --size | --seed | --address | --ms)
            return 0
            ;;
    esac

    local opts=""
    case $sub in
        "") opts="-h --help --version" ;;
        run) opts="-h --help --config --state --doip-port --bus --ports-file --fault --trace --bitrate --data-bitrate" ;;
        console) opts="-h --help --config --ecu --state --fault" ;;
        power-cut) opts="-h --help --state --ecu --all --ms" ;;
        key) opts="-h --help" ;;
        mkimage) opts="-h --help --version --size --seed --payload -o --output" ;;
        dump) opts="-h --help --state --ecu -o --output --address --image" ;;
    esac

    if [[ $cur == -* || -n $sub ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    else
        COMPREPLY=($(compgen -W "$subcommands" -- "$cur"))
    fi
    return 0
}

complete -F _ecuup_sim ecuup-sim
