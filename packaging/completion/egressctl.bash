# bash completion for egressctl(8), the control tool of egressd.
#
# Completes the verbs, each verb's options (as `egressctl VERB --help` lists them), the
# firewall sub-verbs, "on"/"off" for learn, folders and files for the options that take
# them, and client labels where a verb takes a client NAME. The labels come from the file
# names in the rules folder (<label>.<address> -> label), which is the one lint would
# read without asking egressd: `--rules DIR` on the command line, else rules_dir of
# `--config FILE` (relative to the config's folder; /etc/egressd/rules when unset),
# else /etc/egressd/rules.
#
# Installed as share/bash-completion/completions/egressctl; needs only bash itself.

# The value of option $1 on the command line, in either form, "--opt VALUE" or
# "--opt=VALUE" (the latter split around "=" by readline). The word being completed is
# not looked at. Prints nothing when the option is not there.
_egressctl_option_value() {
    local opt=$1 i n=${#COMP_WORDS[@]} w value=""
    for ((i = 1; i < n; i++)); do
        ((i == COMP_CWORD)) && continue
        w=${COMP_WORDS[i]}
        if [[ $w == "$opt" ]]; then
            if [[ ${COMP_WORDS[i + 1]-} == "=" ]]; then
                ((i + 2 != COMP_CWORD)) && value=${COMP_WORDS[i + 2]-}
            elif ((i + 1 != COMP_CWORD)); then
                value=${COMP_WORDS[i + 1]-}
            fi
        elif [[ $w == "$opt="?* ]]; then
            value=${w#"$opt="}
        fi
    done
    # One level of quotes, and a leading ~/, as the shell would remove and expand them.
    if [[ $value == \'*\' || $value == \"*\" ]] && ((${#value} >= 2)); then
        value=${value:1:${#value}-2}
    fi
    [[ $value == \~/* ]] && value=$HOME/${value#\~/}
    printf '%s' "$value"
}

# The rules folder egressctl lint would read (without asking egressd).
_egressctl_rules_dir() {
    local dir config line value=""
    local section='^[[:space:]]*\['
    local double_quoted='^[[:space:]]*rules_dir[[:space:]]*=[[:space:]]*"([^"]*)"'
    local single_quoted="^[[:space:]]*rules_dir[[:space:]]*=[[:space:]]*'([^']*)'"
    dir=$(_egressctl_option_value --rules)
    if [[ -n $dir ]]; then
        printf '%s' "$dir"
        return
    fi
    config=$(_egressctl_option_value --config)
    if [[ -n $config && -r $config ]]; then
        # Top-level keys come before the first [section] in TOML.
        while IFS= read -r line || [[ -n $line ]]; do
            [[ $line =~ $section ]] && break
            if [[ $line =~ $double_quoted || $line =~ $single_quoted ]]; then
                value=${BASH_REMATCH[1]}
            fi
        done < "$config"
        if [[ -n $value ]]; then
            # Relative to the folder of the config file, as egressd reads it.
            if [[ $value != /* && $config == */* ]]; then
                value=${config%/*}/$value
            fi
            printf '%s' "$value"
            return
        fi
    fi
    printf '%s' /etc/egressd/rules
}

# Whether the config of --config sets a qrexec_socket (then a rules file named after a
# qube, without an address, is that qube's).
_egressctl_qrexec_on() {
    local config line
    local section='^[[:space:]]*\['
    local set_key='^[[:space:]]*qrexec_socket[[:space:]]*=[[:space:]]*["'"'"'][^"'"'"']'
    config=$(_egressctl_option_value --config)
    [[ -n $config && -r $config ]] || return 1
    while IFS= read -r line || [[ -n $line ]]; do
        [[ $line =~ $section ]] && return 1
        [[ $line =~ $set_key ]] && return 0
    done < "$config"
    return 1
}

# The client labels of the rules files in folder $1, one per line. Names egressd skips
# (hidden files, editor and package-manager leftovers, names that are not
# <label>.<address>) give no label; with $2 non-empty (qrexec on), a qube's name does.
_egressctl_labels() {
    local dir=$1 qrexec=${2:-} file name label prefix address shopts
    local octet='(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'
    local ipv4="^(.+)\\.($octet\\.){3}$octet\$"
    local label_chars='^[A-Za-z0-9._-]+$'
    [[ -d $dir ]] || return 0
    local -
    set +f
    shopts=$(shopt -p nullglob failglob dotglob)
    shopt -s nullglob
    shopt -u failglob dotglob
    for file in "$dir"/*; do
        [[ -f $file ]] || continue
        name=${file##*/}
        case $name in
            .* | *~ | \#*\# | ?*.swp | ?*.bak | ?*.tmp | ?*.rpmnew | ?*.rpmsave | ?*.dpkg-*)
                continue ;;
        esac
        if [[ $name == *:* ]]; then
            # IPv6: the address starts after the last "." before the first ":".
            prefix=${name%%:*}
            [[ $prefix == *.* ]] || continue
            label=${prefix%.*}
            address=${name:${#label}+1}
            [[ $address =~ ^[0-9A-Fa-f:.]+$ ]] || continue
        elif [[ $name =~ $ipv4 ]]; then
            label=${BASH_REMATCH[1]}
        elif [[ -n $qrexec && $name =~ ^[A-Za-z][A-Za-z0-9._-]{0,30}$ ]]; then
            label=$name  # a qube's or profile's file (qrexec_socket)
        else
            continue
        fi
        [[ $label =~ $label_chars ]] && printf '%s\n' "$label"
    done
    eval "$shopts"
}

_egressctl() {
    local cur=${COMP_WORDS[COMP_CWORD]-}
    local prev=""
    ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
    # "--opt=VALUE" arrives as "--opt" "=" "VALUE", or "--opt" "=" while VALUE is empty.
    if [[ $cur == "=" ]]; then
        prev=${COMP_WORDS[COMP_CWORD - 1]}
        cur=""
    elif [[ $prev == "=" ]] && ((COMP_CWORD > 1)); then
        prev=${COMP_WORDS[COMP_CWORD - 2]}
    fi

    local verbs="show update start stop restart kill-all kill-all-and-restart reload
        firewall check lint blocked allow deny watch learn suggest import-tinyproxy"
    local global_options="-h --help --version --socket --config --json"

    # The arguments of options that take one.
    case $prev in
        --socket | --config)
            compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -f -- "$cur")
            return 0 ;;
        --rules | --output)
            compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -d -- "$cur")
            return 0 ;;
        --since | --port)
            COMPREPLY=()
            return 0 ;;
    esac

    # The verb, the firewall's sub-verb and the positional arguments typed so far.
    local verb="" sub="" i w
    local -a args=()
    for ((i = 1; i < COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        case $w in
            --socket | --config | --rules | --output | --since | --port)
                # Its value: the next word, or the one after "=".
                if [[ ${COMP_WORDS[i + 1]-} == "=" ]]; then
                    ((i += 2))
                else
                    ((i += 1))
                fi
                continue ;;
            -*) continue ;;
        esac
        if [[ -z $verb ]]; then
            verb=$w
        elif [[ $verb == firewall && -z $sub ]]; then
            sub=$w
        else
            args+=("$w")
        fi
    done

    local words=""
    if [[ $cur == -* ]]; then
        case $verb in
            "") words=$global_options ;;
            update) words="-h --help --json --port" ;;
            firewall)
                if [[ -n $sub ]]; then
                    words="-h --help --json --port"
                else
                    words="-h --help --json"
                fi ;;
            lint) words="-h --help --rules --json" ;;
            blocked) words="-h --help --since --json" ;;
            allow | deny) words="-h --help --subdomains --port --json" ;;
            import-tinyproxy) words="-h --help --output" ;;
            *) words="-h --help --json" ;;
        esac
        mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
        return 0
    fi

    if [[ -z $verb ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$verbs" -- "$cur")
        return 0
    fi

    local want=""   # what the next positional argument is: label, state, sub, dir
    case $verb in
        start | stop | restart) want=label ;;
        check | blocked | allow | deny | suggest | lint | watch)
            ((${#args[@]} == 0)) && want=label ;;
        learn)
            case ${#args[@]} in
                0) want=label ;;
                1) want=state ;;
            esac ;;
        firewall) [[ -z $sub ]] && want=sub ;;
        import-tinyproxy) ((${#args[@]} == 0)) && want=dir ;;
    esac

    case $want in
        label)
            if [[ $verb == lint && $cur == */* ]]; then
                # lint takes the path of a rules file too.
                compopt -o filenames 2>/dev/null
                mapfile -t COMPREPLY < <(compgen -f -- "$cur")
                return 0
            fi
            local labels label given
            labels=$(_egressctl_labels "$(_egressctl_rules_dir)" \
                "$(_egressctl_qrexec_on && printf 1)")
            words=""
            for label in $labels; do
                # start, stop and restart take several names: offer each one once.
                for given in "${args[@]}"; do
                    [[ $given == "$label" ]] && continue 2
                done
                words+=" $label"
            done ;;
        state) words="on off" ;;
        sub) words="open close status" ;;
        dir)
            compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -d -- "$cur")
            return 0 ;;
    esac
    if [[ -n $words ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
    else
        COMPREPLY=()
    fi
    return 0
}

complete -F _egressctl egressctl
