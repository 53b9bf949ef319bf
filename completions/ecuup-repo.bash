# bash completion for ecuup-repo(1)                                -*- shell-script -*-
# Installed as share/bash-completion/completions/ecuup-repo. test/cli/tools_docs_drift.sh checks
# that every subcommand and option `ecuup-repo ... --help` shows is offered here, by running it.

# Part names: the keys under `releases:` in the --repo directory's releases.yaml (no YAML parser).
_ecuup_repo_parts() {
    local repo=${1/#\~/$HOME}
    [[ -n $repo && -r $repo/releases.yaml ]] || return 0
    awk '/^releases:/ { on = 1; next } on && /^[^ #]/ { exit }
         on && match($0, /^  [A-Za-z0-9_][A-Za-z0-9_.+-]*:/) { print substr($0, 3, RLENGTH - 3) }' "$repo/releases.yaml" 2>/dev/null
}

_ecuup_repo() {
    local cur prev words cword split=false IFS=$' \t\n'
    if declare -F _init_completion >/dev/null 2>&1; then
        _init_completion -s || return
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

    local subcommands="add sign verify list pack"
    local pack_subcommands="pdx vbf"
    local takes_value=" --repo --part --version --hardware --security-version --expires --valid-days --sign-cert
        --sign-key --keyring --out --ecu --session --expect-ident --data-format --block --type --part-number
        --vbf-version --erase --call --ecu-address --base "
    local sub="" repo="" i w
    for ((i = 1; i < cword; i++)); do
        w=${words[i]}
        case $w in
            --repo) repo=${words[i+1]} ;;
            --repo=*) repo=${w#--repo=} ;;
        esac
        if [[ $w == -* ]]; then
            [[ $w != *=* && $takes_value == *" $w "* ]] && ((i++))
            continue
        fi
        if [[ -z $sub && " $subcommands " == *" $w "* ]]; then
            sub=$w
        elif [[ $sub == pack && " $pack_subcommands " == *" $w "* ]]; then
            sub="pack $w"
        fi
    done

    case $prev in
        --repo)
            COMPREPLY=($(compgen -d -- "$cur"))
            return 0
            ;;
        --sign-cert | --sign-key)
            COMPREPLY=($(compgen -f -X '!*.@(pem|crt|key)' -- "$cur") $(compgen -d -- "$cur"))
            return 0
            ;;
        --keyring | --out | --block)
            COMPREPLY=($(compgen -f -- "$cur"))
            return 0
            ;;
        --part)
            COMPREPLY=($(compgen -W "$(_ecuup_repo_parts "$repo")" -- "$cur"))
            return 0
            ;;
        --version)
            [[ -n $sub ]] && return 0
            ;;
        --hardware | --security-version | --expires | --valid-days | --ecu | --session | --expect-ident)
            return 0
            ;;
        --type)
            COMPREPLY=($(compgen -W "sbl exe data" -- "$cur"))
            return 0
            ;;
        --vbf-version)
            COMPREPLY=($(compgen -W "2.6 3.0" -- "$cur"))
            return 0
            ;;
        --data-format)
            COMPREPLY=($(compgen -W "0x00 0x10" -- "$cur"))
            return 0
            ;;
        --part-number | --erase | --call | --ecu-address | --base)
            return 0
            ;;
    esac

    local opts=""
    case $sub in
        "") opts="-h --help --version" ;;
        add) opts="-h --help --repo --part --version --sign-cert --sign-key --hardware --security-version --expires --valid-days" ;;
        sign) opts="-h --help --repo --part --sign-cert --sign-key --hardware --security-version --expires --valid-days" ;;
        verify) opts="-h --help --repo --keyring --part --json" ;;
        list) opts="-h --help --repo --json" ;;
        pack) opts="-h --help" ;;
        "pack pdx") opts="-h --help --out --ecu --version --session --expect-ident --data-format --extern --crc32 --block" ;;
        "pack vbf") opts="-h --help --out --type --part-number --version --vbf-version --data-format --erase --call
            --ecu-address --base" ;;
    esac

    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    elif [[ $sub == add || $sub == "pack vbf" ]]; then
        COMPREPLY=($(compgen -f -- "$cur"))
    elif [[ $sub == pack ]]; then
        COMPREPLY=($(compgen -W "$pack_subcommands" -- "$cur"))
    elif [[ -n $sub ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    else
        COMPREPLY=($(compgen -W "$subcommands" -- "$cur"))
    fi
    return 0
}

complete -F _ecuup_repo ecuup-repo
