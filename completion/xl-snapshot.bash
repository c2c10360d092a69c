# SPDX-License-Identifier: GPL-2.0-only
# bash completion for xl-snapshot(1)                      -*- shell-script -*-
#
# Everything comes from the binary, so the command table stays the one
# source: commands from 'xl-snapshot help --commands' (and the aliases
# of 'help --aliases'), each command's
# options (and which take an argument) from 'help --options <command>',
# domain names from 'xl list' and 'xl-snapshot list --domains', snapshot
# names from 'xl-snapshot list --names <Domain>'.

# _xl_snapshot_run ARGS...: the xl-snapshot being completed, with the
# -S DIR of the command line, stderr silenced.
_xl_snapshot_run()
{
    "$_xls_bin" ${_xls_state:+-S "$_xls_state"} "$@" 2>/dev/null
}

# _xl_snapshot_domains: running domains (xl, when we may ask it) and the
# domains with snapshots in the state dir.
_xl_snapshot_domains()
{
    if command -v xl >/dev/null 2>&1; then
        xl list 2>/dev/null | awk 'NR > 1 && $1 != "Domain-0" { print $1 }'
    fi
    _xl_snapshot_run list --domains
}

_xl_snapshot()
{
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    local _xls_bin=${COMP_WORDS[0]} _xls_state= cmd= i w opts
    local -a pos=() withargs=()

    COMPREPLY=()
    command -v "$_xls_bin" >/dev/null 2>&1 || _xls_bin=xl-snapshot

    # global options up to the command word
    for ((i = 1; i < COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        case $w in
        -S|--state-dir) ((i++)); _xls_state=${COMP_WORDS[i]} ;;
        --state-dir=*) _xls_state=${w#*=} ;;
        -*) ;;
        *) cmd=$w; break ;;
        esac
    done

    if [[ -z $cmd ]]; then
        case $prev in
        -S|--state-dir)
            compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -d -- "$cur")
            return ;;
        esac
        if [[ $cur == -* ]]; then
            opts=$(_xl_snapshot_run help --options | awk '{ print $1 }')
        else
            opts=$(_xl_snapshot_run help --commands)
            # the aliases (snapshot-create, ...) once a word is begun
            [[ -n $cur ]] && opts+=" "$(_xl_snapshot_run help --aliases |
                                        awk '{ print $1 }')
        fi
        mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
        return
    fi

    # an alias (snapshot-create, ...) completes as its command
    w=$(_xl_snapshot_run help --aliases | awk -v a="$cmd" '$1 == a { print $2 }')
    [[ -n $w ]] && cmd=$w

    # the command's options that take an argument, and its positional
    # arguments so far
    mapfile -t withargs < <(_xl_snapshot_run help --options "$cmd" |
                            awk 'NF > 1 { print $1 }')
    for ((i++; i < COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        if [[ " ${withargs[*]} " == *" $w "* ]]; then
            ((i++))
        elif [[ $w != -* ]]; then
            pos+=("$w")
        fi
    done

    if [[ " ${withargs[*]} " == *" $prev "* ]]; then
        case $prev in
        -c|--domain-config)
            compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
        --disk-dir|--kernel-dir)
            compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -d -- "$cur") ;;
        --compress)
            mapfile -t COMPREPLY < <(compgen -W zstd -- "$cur") ;;
        --volume-group)
            # the volume groups LVM knows (none without the LVM tools)
            mapfile -t COMPREPLY < <(compgen -W \
                "$(LVM_SUPPRESS_FD_WARNINGS=1 vgs --noheadings -o vg_name \
                   2>/dev/null | tr -d ' ')" -- "$cur") ;;
        --pre-hook|--post-hook)
            # a command: a program in PATH or a script's path
            compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -c -- "$cur") ;;
        -n|--name)
            # delete/revert -n NAME: a snapshot of the domain, when given
            # ("-n NAME <Domain>" puts it after: nothing to offer then)
            [[ $cmd == @(delete|revert) && ${#pos[@]} -gt 0 ]] &&
                mapfile -t COMPREPLY < <(compgen -W \
                    "$(_xl_snapshot_run list --names "${pos[0]}")" -- "$cur")
            ;;
        --parent|--from|--base|--match)
            # a snapshot of the domain, when it is already given (for
            # --match, a start to edit into a pattern)
            [[ ${#pos[@]} -gt 0 ]] &&
                mapfile -t COMPREPLY < <(compgen -W \
                    "$(_xl_snapshot_run list --names "${pos[0]}")" -- "$cur")
            ;;
        esac
        return
    fi
    if [[ $cur == -* ]]; then
        opts=$(_xl_snapshot_run help --options "$cmd" | awk '{ print $1 }')
        mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
        return
    fi

    case $cmd:${#pos[@]} in
    help:0)
        mapfile -t COMPREPLY < <(compgen -W \
            "$(_xl_snapshot_run help --commands)" -- "$cur") ;;
    check-config:0|create:1|import:0|redefine:1)
        # a config file, a bundle (directory or -), a record file
        compopt -o filenames 2>/dev/null
        mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
    export:2)
        # the bundle: a new directory (or - for a stream)
        compopt -o filenames 2>/dev/null
        mapfile -t COMPREPLY < <(compgen -d -- "$cur") ;;
    help:*|check-config:*|import:*) ;;
    *:0)
        # list --domains takes no domain
        [[ $cmd == list && " ${COMP_WORDS[*]} " == *" --domains "* ]] &&
            return
        mapfile -t COMPREPLY < <(compgen -W \
            "$(_xl_snapshot_domains | sort -u)" -- "$cur") ;;
    list:*|prune:*) ;;
    delete:1|revert:1)
        # "-n NAME <Domain>" (the original design's form) has its name
        [[ " ${COMP_WORDS[*]} " == *" -n "* ||
           " ${COMP_WORDS[*]} " == *" --name "* ]] && return
        mapfile -t COMPREPLY < <(compgen -W \
            "$(_xl_snapshot_run list --names "${pos[0]}")" -- "$cur") ;;
    *:1)
        mapfile -t COMPREPLY < <(compgen -W \
            "$(_xl_snapshot_run list --names "${pos[0]}")" -- "$cur") ;;
    esac
}
complete -F _xl_snapshot xl-snapshot
