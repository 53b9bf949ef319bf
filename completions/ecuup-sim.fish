# fish completion for ecuup-sim(1). Installed as share/fish/vendor_completions.d/ecuup-sim.fish.
# test/cli/tools_docs_drift.sh checks that every option `ecuup-sim SUB --help` shows is offered
# here (by asking fish what it completes).

set -l ecuup_sim_subcommands run console power-cut key mkimage dump

# ECU names: the `- name:` entries of the --config file's ecus list.
function __ecuup_sim_ecus
    set -l tokens (commandline -opc)
    set -l config
    for i in (seq (count $tokens))
        switch $tokens[$i]
            case --config
                set -l next (math $i + 1)
                test $next -le (count $tokens); and set config $tokens[$next]
            case '--config=*'
                set config (string replace -- '--config=' '' $tokens[$i])
        end
    end
    test -n "$config" -a -r "$config"; or return
    string match -rg '^\s*-\s*name:\s*["\']?([A-Za-z0-9_][A-Za-z0-9_.-]*)' <$config
end

# --fault ECU:KIND: ECU names first, then the kinds after the ':'.
function __ecuup_sim_faults
    set -l cur (commandline -ct)
    if string match -q -- '*:*' $cur
        set -l ecu (string split -m 1 : -- $cur)[1]
        for k in nrc: silence:block= drop:block= power_loss:block= slow_erase wrong_checksum security_delay slow_boot late: low_battery moving engine_running
            echo $ecu:$k
        end
    else
        for e in (__ecuup_sim_ecus)
            echo $e:
        end
    end
end

complete -c ecuup-sim -f

# ecuup-sim
complete -c ecuup-sim -n "not __fish_seen_subcommand_from $ecuup_sim_subcommands" -s h -l help -d 'Print the subcommands and exit'
complete -c ecuup-sim -n "not __fish_seen_subcommand_from $ecuup_sim_subcommands" -l version -d 'Print the version'
complete -c ecuup-sim -n "not __fish_seen_subcommand_from $ecuup_sim_subcommands" -a run -d 'Serve the configured ECUs over DoIP and CAN'
complete -c ecuup-sim -n "not __fish_seen_subcommand_from $ecuup_sim_subcommands" -a console -d 'Talk UDS to one ECU over stdin/stdout'
complete -c ecuup-sim -n "not __fish_seen_subcommand_from $ecuup_sim_subcommands" -a power-cut -d 'Cut the power of ECUs of a running simulator'
complete -c ecuup-sim -n "not __fish_seen_subcommand_from $ecuup_sim_subcommands" -a key -d 'Print the toy SecurityAccess key'
complete -c ecuup-sim -n "not __fish_seen_subcommand_from $ecuup_sim_subcommands" -a mkimage -d 'Write a software image'
complete -c ecuup-sim -n "not __fish_seen_subcommand_from $ecuup_sim_subcommands" -a dump -d "Write an ECU's flash memory to a file"

complete -c ecuup-sim -n "__fish_seen_subcommand_from $ecuup_sim_subcommands" -s h -l help -d 'Print the options and exit'

# run and console
complete -c ecuup-sim -n "__fish_seen_subcommand_from run console" -l config -r -F -d "The simulator's YAML file"
complete -c ecuup-sim -n "__fish_seen_subcommand_from run console dump power-cut" -l state -x -a '(__fish_complete_directories)' -d 'State directory'
complete -c ecuup-sim -n "__fish_seen_subcommand_from run console" -l fault -x -a '(__ecuup_sim_faults)' -d 'Inject a fault: ECU:KIND[...] (repeatable)'
complete -c ecuup-sim -n "__fish_seen_subcommand_from run" -l doip-port -x -d 'DoIP TCP port (0 = any free port)'
complete -c ecuup-sim -n "__fish_seen_subcommand_from run" -l bus -x -a 'udp: socketcan:' -d 'CAN bus: udp:LOCAL:REMOTE or socketcan:IFACE'
complete -c ecuup-sim -n "__fish_seen_subcommand_from run" -l ports-file -r -F -d 'Once ready, write the ports and VIN to FILE'
complete -c ecuup-sim -n "__fish_seen_subcommand_from run" -l trace -r -F -d "Write the CAN side's frames to FILE (candump log, or pcapng)"
complete -c ecuup-sim -n "__fish_seen_subcommand_from run" -l bitrate -x -d 'Pace the CAN side at this bitrate'
complete -c ecuup-sim -n "__fish_seen_subcommand_from run" -l data-bitrate -x -d 'CAN FD data-phase bitrate of the paced bus'
complete -c ecuup-sim -n "__fish_seen_subcommand_from console" -l ecu -x -a '(__ecuup_sim_ecus)' -d 'ECU name'

# power-cut
complete -c ecuup-sim -n "__fish_seen_subcommand_from power-cut" -l ecu -x -d 'ECU name (repeatable)'
complete -c ecuup-sim -n "__fish_seen_subcommand_from power-cut" -l all -d 'Every ECU of the simulator'
complete -c ecuup-sim -n "__fish_seen_subcommand_from power-cut" -l ms -x -d 'How long the power stays off, in milliseconds'

# mkimage
complete -c ecuup-sim -n "__fish_seen_subcommand_from mkimage" -l version -x -d 'Version stored in the header'
complete -c ecuup-sim -n "__fish_seen_subcommand_from mkimage" -l size -x -d 'Payload of N pseudo-random bytes'
complete -c ecuup-sim -n "__fish_seen_subcommand_from mkimage" -l seed -x -d 'Seed of the pseudo-random payload'
complete -c ecuup-sim -n "__fish_seen_subcommand_from mkimage" -l payload -r -F -d 'Payload file'
complete -c ecuup-sim -n "__fish_seen_subcommand_from mkimage dump" -s o -l output -r -F -d 'Output file'

# dump
complete -c ecuup-sim -n "__fish_seen_subcommand_from dump" -l ecu -x -d 'ECU name'
complete -c ecuup-sim -n "__fish_seen_subcommand_from dump" -l address -x -d 'Region start address (default: the lowest)'
complete -c ecuup-sim -n "__fish_seen_subcommand_from dump" -l image -d "Only the software image at the region's start"
