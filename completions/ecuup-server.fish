# fish completion for ecuup-server(1). Installed as share/fish/vendor_completions.d/ecuup-server.fish.
# Each line's condition `__ecuup_server_is PATH` names the command path it is for ("" = the program
# itself); test/cli/tools_docs_drift.sh checks that every option `... --help` shows has a line.

# True when the subcommand path typed so far is exactly the arguments ("run", "admin vehicle add").
function __ecuup_server_is
    set -l takes_value --data --listen --tls-cert --tls-key --tenant --admin-token-file \
        --gateway-token-file --polling-sleep --public-url --threads --part --version --filename \
        --vehicle --match --mode --token --url --ca-file --max-upload-size --auth-failure-limit \
        --auth-failure-window --sign-cert --sign-key --hardware --security-version --expires --statement \
        --signature
    set -l tokens (commandline -opc)
    set -l path
    set -l skip 0
    for t in $tokens[2..-1]
        if test $skip -eq 1
            set skip 0
            continue
        end
        if string match -q -- '-*' $t
            if not string match -q -- '*=*' $t; and contains -- $t $takes_value
                set skip 1
            end
            continue
        end
        switch "$path/$t"
            case /run /admin
                set path $t
            case admin/upload admin/assign admin/vehicle admin/cancel admin/list
                set path admin $t
            case 'admin vehicle/add'
                set path admin vehicle add
        end
    end
    test "$path" = "$argv"
end

complete -c ecuup-server -f

# ecuup-server
complete -c ecuup-server -n '__ecuup_server_is' -s h -l help -d 'Print the subcommands and exit'
complete -c ecuup-server -n '__ecuup_server_is' -l version -d 'Print the version'
complete -c ecuup-server -n '__ecuup_server_is' -a run -d 'Serve the DDI device API and the management API'
complete -c ecuup-server -n '__ecuup_server_is' -a admin -d 'Manage vehicles, software and assignments'

# ecuup-server run
complete -c ecuup-server -n '__ecuup_server_is run' -s h -l help -d 'Print the options and exit'
complete -c ecuup-server -n '__ecuup_server_is run' -l data -x -a '(__fish_complete_directories)' -d 'Data directory (database and artifacts)'
complete -c ecuup-server -n '__ecuup_server_is run' -l listen -x -d 'HOST:PORT to listen on (port 0: ephemeral)'
complete -c ecuup-server -n '__ecuup_server_is run' -l tls-cert -r -F -d 'Serve HTTPS with this PEM certificate'
complete -c ecuup-server -n '__ecuup_server_is run' -l tls-key -r -F -d 'PEM private key for --tls-cert'
complete -c ecuup-server -n '__ecuup_server_is run' -l tenant -x -d 'DDI tenant name'
complete -c ecuup-server -n '__ecuup_server_is run' -l admin-token-file -r -F -d 'Management API Bearer token file'
complete -c ecuup-server -n '__ecuup_server_is run' -l gateway-token-file -r -F -d 'DDI GatewayToken file'
complete -c ecuup-server -n '__ecuup_server_is run' -l polling-sleep -x -d 'DDI polling interval HH:MM:SS'
complete -c ecuup-server -n '__ecuup_server_is run' -l public-url -x -d 'Base URL for hrefs'
complete -c ecuup-server -n '__ecuup_server_is run' -l threads -x -d 'Worker threads'
complete -c ecuup-server -n '__ecuup_server_is run' -l log-requests -d 'Log each request to stderr'
complete -c ecuup-server -n '__ecuup_server_is run' -l max-upload-size -x -d 'Largest artifact upload (K, M, G suffixes)'
complete -c ecuup-server -n '__ecuup_server_is run' -l auth-failure-limit -x -d 'Failed authentications per address and window before HTTP 429'
complete -c ecuup-server -n '__ecuup_server_is run' -l auth-failure-window -x -d 'Seconds of that window'
complete -c ecuup-server -n '__ecuup_server_is run' -l sign-cert -r -F -d 'Sign release statements with this PEM certificate'
complete -c ecuup-server -n '__ecuup_server_is run' -l sign-key -r -F -d 'PEM private key for --sign-cert'

# ecuup-server admin (its options are accepted after its commands too)
for p in admin 'admin upload' 'admin assign' 'admin vehicle add' 'admin cancel' 'admin list'
    complete -c ecuup-server -n "__ecuup_server_is $p" -s h -l help -d 'Print the options and exit'
    complete -c ecuup-server -n "__ecuup_server_is $p" -l data -x -a '(__fish_complete_directories)' -d 'Data directory'
    complete -c ecuup-server -n "__ecuup_server_is $p" -l url -x -d 'Base URL of a running server (instead of --data)'
    complete -c ecuup-server -n "__ecuup_server_is $p" -l admin-token-file -r -F -d 'With --url: admin token file'
    complete -c ecuup-server -n "__ecuup_server_is $p" -l ca-file -r -F -d 'With an https --url: PEM CA certificates'
    complete -c ecuup-server -n "__ecuup_server_is $p" -l json -d 'Print JSON'
end
complete -c ecuup-server -n '__ecuup_server_is admin' -a upload -d 'Store FILE as the software of part P, version V, and its release statement'
complete -c ecuup-server -n '__ecuup_server_is admin' -a assign -d 'Assign part P version V to vehicles'
complete -c ecuup-server -n '__ecuup_server_is admin' -a vehicle -d 'Register vehicles'
complete -c ecuup-server -n '__ecuup_server_is admin' -a cancel -d 'Ask a vehicle to cancel its open action'
complete -c ecuup-server -n '__ecuup_server_is admin' -a list -d 'List vehicles, actions or modules'

# ecuup-server admin upload
complete -c ecuup-server -n '__ecuup_server_is admin upload' -F
complete -c ecuup-server -n '__ecuup_server_is admin upload' -l part -x -d 'ECU part name'
complete -c ecuup-server -n '__ecuup_server_is admin upload' -l version -x -d 'Software version'
complete -c ecuup-server -n '__ecuup_server_is admin upload' -l filename -x -d 'Artifact name offered to vehicles'
complete -c ecuup-server -n '__ecuup_server_is admin upload' -l hardware -x -d 'Signed statement: hardware part number'
complete -c ecuup-server -n '__ecuup_server_is admin upload' -l security-version -x -d 'Signed statement: anti-rollback counter'
complete -c ecuup-server -n '__ecuup_server_is admin upload' -l expires -x -d 'Signed statement: expiry, UTC YYYY-MM-DDTHH:MM:SSZ'
complete -c ecuup-server -n '__ecuup_server_is admin upload' -l statement -r -F -d 'Ready-made release statement'
complete -c ecuup-server -n '__ecuup_server_is admin upload' -l signature -r -F -d 'Detached CMS signature of --statement'

# ecuup-server admin assign
complete -c ecuup-server -n '__ecuup_server_is admin assign' -l part -x -d 'ECU part name'
complete -c ecuup-server -n '__ecuup_server_is admin assign' -l version -x -d 'Software version (uploaded before)'
complete -c ecuup-server -n '__ecuup_server_is admin assign' -l vehicle -x -d 'One vehicle'
complete -c ecuup-server -n '__ecuup_server_is admin assign' -l all -d 'Every registered vehicle'
complete -c ecuup-server -n '__ecuup_server_is admin assign' -l match -x -d 'Vehicles whose attribute ATTR equals VALUE (ATTR=VALUE)'
complete -c ecuup-server -n '__ecuup_server_is admin assign' -l mode -x -a 'forced attempt downloadonly' -d 'How the deployment is offered'

# ecuup-server admin vehicle [add]
complete -c ecuup-server -n '__ecuup_server_is admin vehicle' -s h -l help -d 'Print the options and exit'
complete -c ecuup-server -n '__ecuup_server_is admin vehicle' -a add -d 'Register vehicle ID (prints its TargetToken)'
complete -c ecuup-server -n '__ecuup_server_is admin vehicle add' -l token -x -d 'TargetToken to use (default: random)'

# ecuup-server admin cancel
complete -c ecuup-server -n '__ecuup_server_is admin cancel' -l vehicle -x -d 'Vehicle id'

# ecuup-server admin list
complete -c ecuup-server -n '__ecuup_server_is admin list' -l vehicle -x -d 'Actions of one vehicle only'
complete -c ecuup-server -n '__ecuup_server_is admin list' -a 'vehicles actions modules' -d 'What to list'
