# fish completion for ecuup(1). Installed as share/fish/vendor_completions.d/ecuup.fish.
# test/cli/docs_drift.sh checks that every option `ecuup SUB --help` shows has a line here whose
# __fish_seen_subcommand_from list names SUB.

set -l ecuup_subcommands inventory report fetch flash backup status update restore discover

# ECU names: the `- name:` entries of the config's ecus list.
function __ecuup_ecus
    set -l tokens (commandline -opc)
    set -l config $ECUUP_CONFIG
    test -n "$config"; or set config ecuup.yaml
    for i in (seq (count $tokens))
        switch $tokens[$i]
            case -c --config
                set -l next (math $i + 1)
                test $next -le (count $tokens); and set config $tokens[$next]
            case '--config=*'
                set config (string replace -- '--config=' '' $tokens[$i])
        end
    end
    test -r "$config"; or return
    string match -rg '^\s*-\s*name:\s*["\']?([A-Za-z0-9_][A-Za-z0-9_.-]*)' <$config
end

# --import ECU=FILE: ECU names first, then files after the '='.
function __ecuup_import
    set -l cur (commandline -ct)
    if string match -q -- '*=*' $cur
        set -l parts (string split -m 1 = -- $cur)
        for f in (__fish_complete_path $parts[2])
            echo $parts[1]=$f
        end
    else
        for e in (__ecuup_ecus)
            echo $e=
        end
    end
end

complete -c ecuup -f

# ecuup itself
complete -c ecuup -n "not __fish_seen_subcommand_from $ecuup_subcommands" -s h -l help -d 'Print the subcommands and exit statuses'
complete -c ecuup -n "not __fish_seen_subcommand_from $ecuup_subcommands" -s V -l version -d 'Print the version'
complete -c ecuup -n "not __fish_seen_subcommand_from $ecuup_subcommands" -a inventory -d 'Read the installed version of each ECU'
complete -c ecuup -n "not __fish_seen_subcommand_from $ecuup_subcommands" -a report -d 'Upload versions, record the tasks'
complete -c ecuup -n "not __fish_seen_subcommand_from $ecuup_subcommands" -a fetch -d 'Download and verify new software'
complete -c ecuup -n "not __fish_seen_subcommand_from $ecuup_subcommands" -a flash -d 'Program each target ECU'
complete -c ecuup -n "not __fish_seen_subcommand_from $ecuup_subcommands" -a backup -d 'Keep flashed software as the backup'
complete -c ecuup -n "not __fish_seen_subcommand_from $ecuup_subcommands" -a status -d 'Show where every ECU stands'
complete -c ecuup -n "not __fish_seen_subcommand_from $ecuup_subcommands" -a update -d 'Run all steps in order (for cron)'
complete -c ecuup -n "not __fish_seen_subcommand_from $ecuup_subcommands" -a restore -d "Flash an ECU's backup on demand"
complete -c ecuup -n "not __fish_seen_subcommand_from $ecuup_subcommands" -a discover -d "Find the DoIP gateways that answer on UDP"

# Options of every subcommand
complete -c ecuup -n "__fish_seen_subcommand_from inventory report fetch flash backup status update restore" -s h -l help -d 'Print the options and exit statuses'
complete -c ecuup -n "__fish_seen_subcommand_from inventory report fetch flash backup status update restore" -s c -l config -r -F -d 'Config file'
complete -c ecuup -n "__fish_seen_subcommand_from inventory report fetch flash backup status update restore" -s e -l ecu -x -a '(__ecuup_ecus)' -d 'Only this ECU (repeatable)'
complete -c ecuup -n "__fish_seen_subcommand_from inventory report fetch flash backup status update restore" -l json -d 'Print the result as JSON'
complete -c ecuup -n "__fish_seen_subcommand_from inventory report fetch flash backup status update restore" -l progress -x -a 'auto bar plain jsonl none' -d 'Progress display on stderr'
complete -c ecuup -n "__fish_seen_subcommand_from inventory report fetch flash backup status update restore" -s v -l verbose -d 'Say more on stderr'
complete -c ecuup -n "__fish_seen_subcommand_from inventory report fetch flash backup status update restore" -l log-file -r -F -d 'Append a log to FILE'
complete -c ecuup -n "__fish_seen_subcommand_from inventory report fetch flash backup status update restore" -l log-format -x -a 'auto text json journal' -d 'Messages on stderr and in the log file'
complete -c ecuup -n "__fish_seen_subcommand_from inventory report fetch flash backup status update restore" -l wait -f -d 'Wait (up to =SECONDS) for the manifest lock'
complete -c ecuup -n "__fish_seen_subcommand_from inventory report fetch flash backup status update restore" -l trace -r -F -d 'Write CAN/DoIP traffic to FILE'
complete -c ecuup -n "__fish_seen_subcommand_from inventory report fetch flash backup status update restore" -l trace-append -d 'With --trace: append instead of replacing'
complete -c ecuup -n "__fish_seen_subcommand_from inventory report fetch flash backup update restore" -s n -l dry-run -d 'Print the plan and change nothing'

# Options of one subcommand
complete -c ecuup -n "__fish_seen_subcommand_from flash update" -l no-backup -d 'Flash without a verified backup'
complete -c ecuup -n "__fish_seen_subcommand_from flash update" -l force-preconditions -d 'Flash even when an ECU precondition is not met'
complete -c ecuup -n "__fish_seen_subcommand_from flash update" -l jobs -x -a '1 2 4 8' -d 'ECUs of one flash order programmed at once'
complete -c ecuup -n "__fish_seen_subcommand_from flash update" -l rollback -x -a 'ecu vehicle' -d 'what a failed flash puts back'
complete -c ecuup -n "__fish_seen_subcommand_from backup" -l import -x -a '(__ecuup_import)' -d 'Seed a backup from ECU=FILE'
complete -c ecuup -n "__fish_seen_subcommand_from backup" -l version -x -d 'Version the imported file holds'
complete -c ecuup -n "__fish_seen_subcommand_from backup" -l read -d 'Read the installed software out as backup'
complete -c ecuup -n "__fish_seen_subcommand_from backup" -l list -d 'List the backups and check their hashes'
complete -c ecuup -n "__fish_seen_subcommand_from status" -l sync -d 'Deliver queued results first (default)'
complete -c ecuup -n "__fish_seen_subcommand_from status" -l no-sync -d 'Do not deliver queued results'
complete -c ecuup -n "__fish_seen_subcommand_from status" -s f -l follow -d 'Follow the live progress of a running ecuup'

# discover: DoIP vehicle identification; no config.
complete -c ecuup -n "__fish_seen_subcommand_from discover" -s h -l help -d 'Print the options and exit statuses'
complete -c ecuup -n "__fish_seen_subcommand_from discover" -l json -d 'Print the result as JSON'
complete -c ecuup -n "__fish_seen_subcommand_from discover" -l progress -x -a 'auto bar plain jsonl none' -d 'Progress display on stderr'
complete -c ecuup -n "__fish_seen_subcommand_from discover" -s v -l verbose -d 'Say more on stderr'
complete -c ecuup -n "__fish_seen_subcommand_from discover" -l log-file -r -F -d 'Append a log to FILE'
complete -c ecuup -n "__fish_seen_subcommand_from discover" -l log-format -x -a 'auto text json journal' -d 'Messages on stderr and in the log file'
complete -c ecuup -n "__fish_seen_subcommand_from discover" -l address -x -d 'Send the request to HOST[:PORT]'
complete -c ecuup -n "__fish_seen_subcommand_from discover" -l vin -x -d 'Only the vehicle with this VIN'
complete -c ecuup -n "__fish_seen_subcommand_from discover" -l eid -x -d 'Only the DoIP entity with this EID'
complete -c ecuup -n "__fish_seen_subcommand_from discover" -l timeout -x -a '600 2000 5000' -d 'Wait MS milliseconds for answers'
