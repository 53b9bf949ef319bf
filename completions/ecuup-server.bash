# bash completion for ecuup-server(1)                              -*- shell-script -*-
# Installed as share/bash-completion/completions/ecuup-server. test/cli/tools_docs_drift.sh checks
# that every subcommand and option `ecuup-server ... --help` shows is offered here, by running it.

_ecuup_server() {
    local cur prev words cword split=false IFS=$' \t\n'
    if declare -F _init_completion >/dev/null 2>&1; then
        _init_completion -s || return
    else
        COMPREPLY=()
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD-1]}
        # Without bash-completion, readline splits "--opt=value" at '='.
        if [[ $cur == = ]]; then
            cur=""
        elif [[ $prev == = ]]; then
            prev=${words[cword-2]}
        fi
    fi

    # Options that take a value (their next word is not a subcommand).
    local takes_value=" --data --listen --tls-cert --tls-key --tenant --admin-token-file --gateway-token-file
        --polling-sleep --public-url --threads --part --version --filename --vehicle --match --mode --token
        --url --ca-file --max-upload-size --auth-failure-limit --auth-failure-window --sign-cert --sign-key
        --hardware --security-version --expires --statement --signature "
    # The subcommand path so far ("", "run", "admin", "admin upload", "admin vehicle add", ...).
    local path="" i w
    for ((i = 1; i < cword; i++)); do
        w=${words[i]}
        if [[ $w == -* ]]; then
            [[ $w != *=* && $takes_value == *" $w "* ]] && ((i++))
            continue
        fi
        case "$path/$w" in
            /run | /admin) path=$w ;;
            admin/upload | admin/assign | admin/vehicle | admin/cancel | admin/list) path="admin $w" ;;
            "admin vehicle/add") path="admin vehicle add" ;;
        esac
    done

    case $prev in
        --data)
            COMPREPLY=($(compgen -d -- "$cur"))
            return 0
            ;;
        --tls-cert | --tls-key | --admin-token-file | --gateway-token-file | --ca-file | --sign-cert | --sign-key | --statement | --signature)
            COMPREPLY=($(compgen -f -- "$cur"))
            return 0
            ;;
        --mode)
            COMPREPLY=($(compgen -W "forced attempt downloadonly" -- "$cur"))
            return 0
            ;;
        --listen | --tenant | --polling-sleep | --public-url | --threads | --part | --version | --filename | --vehicle | --match | --token | --url | --max-upload-size | --auth-failure-limit | --auth-failure-window | --hardware | --security-version | --expires)
            return 0
            ;;
    esac

    local opts="" words_here=""
    case $path in
        "")
            opts="-h --help --version"
            words_here="run admin"
            ;;
        run)
            opts="-h --help --data --listen --tls-cert --tls-key --tenant --admin-token-file --gateway-token-file
                  --polling-sleep --public-url --threads --log-requests --max-upload-size --auth-failure-limit
                  --auth-failure-window --sign-cert --sign-key"
            ;;
        admin)
            opts="-h --help --data --url --admin-token-file --ca-file --json"
            words_here="upload assign vehicle cancel list"
            ;;
        "admin upload")
            opts="-h --help --part --version --filename --hardware --security-version --expires --statement --signature
                  --data --url --admin-token-file --ca-file --json"
            ;;
        "admin assign")
            opts="-h --help --part --version --vehicle --all --match --mode --data --url --admin-token-file --ca-file --json"
            ;;
        "admin vehicle")
            opts="-h --help"
            words_here="add"
            ;;
        "admin vehicle add")
            opts="-h --help --token --data --url --admin-token-file --ca-file --json"
            ;;
        "admin cancel")
            opts="-h --help --vehicle --data --url --admin-token-file --ca-file --json"
            ;;
        "admin list")
            opts="-h --help --vehicle --data --url --admin-token-file --ca-file --json"
            words_here="vehicles actions modules"
            ;;
    esac

    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    elif [[ $path == "admin upload" ]]; then
        COMPREPLY=($(compgen -f -- "$cur"))
    else
        COMPREPLY=($(compgen -W "$words_here" -- "$cur"))
    fi
    return 0
}

complete -F _ecuup_server ecuup-server
