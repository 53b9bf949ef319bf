# fish completion for ecuup-repo(1). Installed as share/fish/vendor_completions.d/ecuup-repo.fish.
# test/cli/tools_docs_drift.sh checks that every option `ecuup-repo SUB --help` shows is offered
# here (by asking fish what it completes).

set -l ecuup_repo_subcommands add sign verify list pack

# Part names: the keys under `releases:` in the --repo directory's releases.yaml.
function __ecuup_repo_parts
    set -l tokens (commandline -opc)
    set -l repo
    for i in (seq (count $tokens))
        switch $tokens[$i]
            case --repo
                set -l next (math $i + 1)
                test $next -le (count $tokens); and set repo $tokens[$next]
            case '--repo=*'
                set repo (string replace -- '--repo=' '' $tokens[$i])
        end
    end
    test -n "$repo" -a -r "$repo/releases.yaml"; or return
    string match -rg '^  ([A-Za-z0-9_][A-Za-z0-9_.+-]*):' <$repo/releases.yaml
end

complete -c ecuup-repo -f

# ecuup-repo
complete -c ecuup-repo -n "not __fish_seen_subcommand_from $ecuup_repo_subcommands" -s h -l help -d 'Print the subcommands and exit'
complete -c ecuup-repo -n "not __fish_seen_subcommand_from $ecuup_repo_subcommands" -l version -d 'Print the version'
complete -c ecuup-repo -n "not __fish_seen_subcommand_from $ecuup_repo_subcommands" -a add -d 'Publish FILE as the newest release of a part'
complete -c ecuup-repo -n "not __fish_seen_subcommand_from $ecuup_repo_subcommands" -a sign -d "Sign the statement of a part's current release"
complete -c ecuup-repo -n "not __fish_seen_subcommand_from $ecuup_repo_subcommands" -a verify -d "Check every release's artifact, statement and signature"
complete -c ecuup-repo -n "not __fish_seen_subcommand_from $ecuup_repo_subcommands" -a list -d 'Print the releases'
complete -c ecuup-repo -n "not __fish_seen_subcommand_from $ecuup_repo_subcommands" -a pack -d 'Write an OEM container (VBF, PDX) from image files'

complete -c ecuup-repo -n "__fish_seen_subcommand_from $ecuup_repo_subcommands" -s h -l help -d 'Print the options and exit'
complete -c ecuup-repo -n "__fish_seen_subcommand_from add sign verify list" -l repo -x -a '(__fish_complete_directories)' -d 'The repository directory'

# add and sign
complete -c ecuup-repo -n "__fish_seen_subcommand_from add sign verify" -l part -x -a '(__ecuup_repo_parts)' -d 'The part name'
complete -c ecuup-repo -n "__fish_seen_subcommand_from add" -l version -x -d "The release's software version"
complete -c ecuup-repo -n "__fish_seen_subcommand_from add" -F -d 'The artifact file'
complete -c ecuup-repo -n "__fish_seen_subcommand_from add sign" -l sign-cert -r -F -d "The signer's PEM certificate"
complete -c ecuup-repo -n "__fish_seen_subcommand_from add sign" -l sign-key -r -F -d "The signer's PEM private key"
complete -c ecuup-repo -n "__fish_seen_subcommand_from add sign" -l hardware -x -d 'A hardware part number (DID 0xF191; repeatable)'
complete -c ecuup-repo -n "__fish_seen_subcommand_from add sign" -l security-version -x -d 'The anti-rollback counter'
complete -c ecuup-repo -n "__fish_seen_subcommand_from add sign" -l expires -x -d 'Expiry, UTC YYYY-MM-DDTHH:MM:SSZ'
complete -c ecuup-repo -n "__fish_seen_subcommand_from add sign" -l valid-days -x -d 'Expires N days from now'

# verify and list
complete -c ecuup-repo -n "__fish_seen_subcommand_from verify" -l keyring -r -F -d 'Trusted CA certificates: a PEM file or a directory'
complete -c ecuup-repo -n "__fish_seen_subcommand_from verify list" -l json -d 'Print JSON on stdout'

# pack pdx
complete -c ecuup-repo -n "__fish_seen_subcommand_from pack; and not __fish_seen_subcommand_from pdx" -a pdx -d 'Write ODX-F flash data in a PDX container'
complete -c ecuup-repo -n "__fish_seen_subcommand_from pdx" -l out -r -F -d 'The PDX file to write'
complete -c ecuup-repo -n "__fish_seen_subcommand_from pdx" -l ecu -x -d "The ECU-MEM's SHORT-NAME"
complete -c ecuup-repo -n "__fish_seen_subcommand_from pdx" -l version -x -d 'The software version (OWN-IDENT VERSION)'
complete -c ecuup-repo -n "__fish_seen_subcommand_from pdx" -l session -x -d "The SESSION's SHORT-NAME"
complete -c ecuup-repo -n "__fish_seen_subcommand_from pdx" -l expect-ident -x -d 'An EXPECTED-IDENT, NAME=VALUE (repeatable)'
complete -c ecuup-repo -n "__fish_seen_subcommand_from pdx" -l data-format -x -a '0x00 0x10' -d 'The dataFormatIdentifier (0x10: zlib)'
complete -c ecuup-repo -n "__fish_seen_subcommand_from pdx" -l extern -d "Each block's data in a file of its own"
complete -c ecuup-repo -n "__fish_seen_subcommand_from pdx" -l crc32 -d 'A CRC-32 FW-CHECKSUM per DATABLOCK'
complete -c ecuup-repo -n "__fish_seen_subcommand_from pdx" -l block -r -F -d 'A DATABLOCK: TYPE:IMAGE[@BASE] (repeatable)'
# pack vbf
complete -c ecuup-repo -n "__fish_seen_subcommand_from pack; and not __fish_seen_subcommand_from vbf" -a vbf -d "Write a VBF file from images"
complete -c ecuup-repo -n "__fish_seen_subcommand_from vbf" -l out -r -F -d 'The VBF file to write'
complete -c ecuup-repo -n "__fish_seen_subcommand_from vbf" -l type -x -a 'sbl exe data' -d 'The software part type'
complete -c ecuup-repo -n "__fish_seen_subcommand_from vbf" -l part-number -x -d 'sw_part_number'
complete -c ecuup-repo -n "__fish_seen_subcommand_from vbf" -l version -x -d 'sw_version'
complete -c ecuup-repo -n "__fish_seen_subcommand_from vbf" -l vbf-version -x -a '2.6 3.0' -d 'The format version written'
complete -c ecuup-repo -n "__fish_seen_subcommand_from vbf" -l data-format -x -a '0x00 0x10' -d 'data_format_identifier (0x10: zlib)'
complete -c ecuup-repo -n "__fish_seen_subcommand_from vbf" -l erase -x -d 'START:LENGTH erased first (repeatable)'
complete -c ecuup-repo -n "__fish_seen_subcommand_from vbf" -l call -x -d 'Where the SBL starts'
complete -c ecuup-repo -n "__fish_seen_subcommand_from vbf" -l ecu-address -x -d "The ECU's diagnostic address"
complete -c ecuup-repo -n "__fish_seen_subcommand_from vbf" -l base -x -d 'The address of a raw image'
complete -c ecuup-repo -n "__fish_seen_subcommand_from vbf" -F -d 'An image file'
