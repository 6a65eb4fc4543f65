#!/bin/sh
# nginx-proxy entrypoint: validate the environment, apply defaults, render
# templates/*.template with envsubst (restricted to an explicit variable list,
# so nginx's own $variables are left alone), check the result with `nginx -t`,
# then run nginx in the foreground as a child, turning SIGTERM into nginx's
# graceful stop (see "supervise nginx" below).
#
#   render-config.sh          render, check and run nginx (container ENTRYPOINT)
#   render-config.sh check    render and check only, print the rendered nginx.conf path
#
# The same script runs in the container (Alpine, busybox) and on a laptop or CI
# machine without Docker (Debian's /usr/sbin/nginx): every path is overridable
# by environment and nothing outside NGINX_RUNTIME_DIR is written.
# Exit status: 2 for a bad environment, 1 when the rendered config fails `nginx -t`.
# BASIC_AUTH_HTPASSWD (a secret) is never printed: its errors name only a line
# number, it is written only to NGINX_RUNTIME_DIR/auth/htpasswd (mode 0600), and
# it is removed from the environment before any program (nginx included) runs.
# See README.md beside this file for every variable and its default.
set -eu

PROG=nginx-proxy
NL='
'

# BASIC_AUTH_HTPASSWD is a secret: from here on it lives in a shell variable that
# is not exported, so no program this script starts (grep, tr, envsubst, nginx)
# finds it in its environment.
basic_auth_htpasswd=${BASIC_AUTH_HTPASSWD:-}
unset BASIC_AUTH_HTPASSWD

die() {
    # One line on stderr, whatever the value it quotes contains: line breaks and
    # tabs become '?', other control characters are dropped.
    printf '%s: %s\n' "$PROG" "$(printf '%s' "$*" | tr '\n\r\t' '???' | tr -d '\001-\037\177')" >&2
    exit 2
}

# matches ERE VALUE: VALUE (a single line) matches ERE as a whole.
matches() {
    case $2 in *"$NL"*) return 1 ;; esac
    printf '%s\n' "$2" | grep -Eqx -- "$1"
}

RE_UINT='0|[1-9][0-9]{0,8}'
RE_POSINT='[1-9][0-9]{0,8}'
RE_PORT='[1-9][0-9]{0,4}'
RE_TIME='[0-9]{1,9}(ms|s|m|h|d)?'
RE_SIZE='[0-9]{1,9}[kKmMgG]?'
RE_IPV4_OCTET='(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'
RE_IPV4="$RE_IPV4_OCTET(\\.$RE_IPV4_OCTET){3}"
RE_IPV6='\[[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*\]'
RE_LABEL='[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?'
RE_HOSTNAME="$RE_LABEL(\\.$RE_LABEL)*\\.?"
# Absolute paths nginx can take unquoted: no blanks, quotes, ';', '{', '}', '$', '#'.
RE_PATH='/[A-Za-z0-9._/@+,=:~-]*'

# check_value NAME ERE WHAT: the variable NAME must match ERE, else stop.
check_value() {
    eval "_value=\${$1}"
    # shellcheck disable=SC2154  # _value is set by the eval above
    matches "$2" "$_value" || die "$1='$_value' is invalid: expected $3"
}

# ---- arguments ---------------------------------------------------------------
MODE=run
case $# in
    0) ;;
    1) case $1 in
           check | --check) MODE=check ;;
           *) die "unknown argument '$1' (usage: render-config.sh [check])" ;;
       esac ;;
    *) die "too many arguments (usage: render-config.sh [check])" ;;
esac

# ---- BACKEND_HOST: required, host:port ---------------------------------------
BACKEND_HOST=${BACKEND_HOST:-}
[ -n "$BACKEND_HOST" ] || die "BACKEND_HOST is required, e.g. BACKEND_HOST=localhost:8080"
bad_backend() {
    die "BACKEND_HOST='$BACKEND_HOST' is invalid: $1; expected host:port with host a hostname, IPv4 address or [IPv6] address and port 1-65535, e.g. BACKEND_HOST=localhost:8080"
}
case $BACKEND_HOST in
    *"$NL"*) bad_backend "it contains a line break" ;;
    *:*) ;;
    *) bad_backend "the :port is missing" ;;
esac
backend_name=${BACKEND_HOST%:*}
backend_port=${BACKEND_HOST##*:}
[ -n "$backend_name" ] || bad_backend "the host is empty"
if matches "$RE_PORT" "$backend_port" && [ "$backend_port" -le 65535 ]; then :; else
    bad_backend "port '$backend_port' is not 1-65535"
fi
if matches '[0-9.]+' "$backend_name"; then
    matches "$RE_IPV4" "$backend_name" || bad_backend "'$backend_name' is not a valid IPv4 address"
elif matches "$RE_IPV6" "$backend_name"; then
    :
elif matches "$RE_HOSTNAME" "$backend_name" && [ "${#backend_name}" -le 253 ]; then
    :
else
    bad_backend "'$backend_name' is not a hostname, IPv4 address or [IPv6] address"
fi
# `localhost` is pinned to 127.0.0.1: where /etc/hosts also maps it to ::1 (Docker
# does), nginx would resolve it to two upstream servers; an IPv4-only backend then
# refuses one of them, and max_fails/fail_timeout come into play (slow recovery).
# A single server is never marked down by nginx. Write [::1]:PORT for IPv6.
case $backend_name in
    localhost | localhost.) BACKEND_SERVER="127.0.0.1:$backend_port" ;;
    *) BACKEND_SERVER=$BACKEND_HOST ;;
esac
export BACKEND_SERVER

# ---- the other knobs: defaults, then validation ------------------------------
# check_port NAME: the variable NAME must be a port 1-65535.
check_port() {
    check_value "$1" "$RE_PORT" "a port 1-65535"
    [ "$_value" -le 65535 ] || die "$1='$_value' is invalid: expected a port 1-65535"
}
# SERVER_PORT: the name the book's images used, accepted as an alias of LISTEN_PORT.
if [ -n "${SERVER_PORT:-}" ]; then
    check_port SERVER_PORT
    if [ -n "${LISTEN_PORT:-}" ] && [ "$LISTEN_PORT" != "$SERVER_PORT" ]; then
        die "LISTEN_PORT='$LISTEN_PORT' and SERVER_PORT='$SERVER_PORT' disagree: set only one (SERVER_PORT is an alias)"
    fi
fi
LISTEN_PORT=${LISTEN_PORT:-${SERVER_PORT:-80}}
LISTEN_ADDRESS=${LISTEN_ADDRESS:-0.0.0.0}
BACKEND_MAX_FAILS=${BACKEND_MAX_FAILS:-3}
BACKEND_FAIL_TIMEOUT=${BACKEND_FAIL_TIMEOUT:-10s}
WORKER_PROCESSES=${WORKER_PROCESSES:-auto}
WORKER_CONNECTIONS=${WORKER_CONNECTIONS:-8192}
WORKER_RLIMIT_NOFILE=${WORKER_RLIMIT_NOFILE:-}
LISTEN_BACKLOG=${LISTEN_BACKLOG:-4096}
KEEPALIVE_TIMEOUT=${KEEPALIVE_TIMEOUT:-75s}
UPSTREAM_KEEPALIVE=${UPSTREAM_KEEPALIVE:-128}
UPSTREAM_KEEPALIVE_TIMEOUT=${UPSTREAM_KEEPALIVE_TIMEOUT:-60s}
CLIENT_MAX_BODY_SIZE=${CLIENT_MAX_BODY_SIZE:-1m}
CLIENT_HEADER_TIMEOUT=${CLIENT_HEADER_TIMEOUT:-10s}
CLIENT_BODY_TIMEOUT=${CLIENT_BODY_TIMEOUT:-10s}
PROXY_CONNECT_TIMEOUT=${PROXY_CONNECT_TIMEOUT:-5s}
PROXY_READ_TIMEOUT=${PROXY_READ_TIMEOUT:-30s}
PROXY_SEND_TIMEOUT=${PROXY_SEND_TIMEOUT:-30s}
HEALTHZ_TIMEOUT=${HEALTHZ_TIMEOUT:-3s}
ERROR_LOG_LEVEL=${ERROR_LOG_LEVEL:-warn}
ACCESS_LOG=${ACCESS_LOG:-/dev/stdout}
ACCESS_LOG_BUFFER=${ACCESS_LOG_BUFFER:-4k}
ACCESS_LOG_FLUSH=${ACCESS_LOG_FLUSH:-1s}
BASIC_AUTH_REALM=${BASIC_AUTH_REALM:-Restricted}

check_port LISTEN_PORT
check_value LISTEN_ADDRESS "$RE_IPV4|$RE_IPV6|\\*" "an IPv4 address, [IPv6] address or *"
check_value BACKEND_MAX_FAILS "$RE_UINT" "an integer >= 0 (0 disables)"
check_value BACKEND_FAIL_TIMEOUT "$RE_TIME" "an nginx time such as 10s"
check_value WORKER_PROCESSES "auto|$RE_POSINT" "auto or an integer >= 1"
check_value WORKER_CONNECTIONS "$RE_POSINT" "an integer >= 1"
check_value LISTEN_BACKLOG "$RE_POSINT" "an integer >= 1 (the kernel caps it at net.core.somaxconn)"
# Open files per worker: by default twice WORKER_CONNECTIONS (one descriptor per
# connection, with room for the logs and listeners), but no more than the hard
# limit, above which a non-root nginx (the image's) cannot raise its soft limit:
# raise the container's nofile ulimit instead.
if [ -n "$WORKER_RLIMIT_NOFILE" ]; then
    check_value WORKER_RLIMIT_NOFILE "$RE_POSINT" "an integer >= 1"
    [ "$WORKER_RLIMIT_NOFILE" -ge "$WORKER_CONNECTIONS" ] ||
        die "WORKER_RLIMIT_NOFILE='$WORKER_RLIMIT_NOFILE' is invalid: expected at least WORKER_CONNECTIONS ($WORKER_CONNECTIONS), one descriptor per connection"
else
    WORKER_RLIMIT_NOFILE=$((WORKER_CONNECTIONS * 2))
    # The hard limit from /proc (POSIX `ulimit` has no -H); none or `unlimited`: no cap.
    nofile_hard=''
    while read -r _w1 _w2 _w3 _soft _hard _rest; do
        [ "$_w1 $_w2 $_w3" != "Max open files" ] || nofile_hard=$_hard
    done 2>/dev/null </proc/self/limits || :
    if matches "$RE_POSINT" "$nofile_hard" && [ "$WORKER_RLIMIT_NOFILE" -gt "$nofile_hard" ]; then
        WORKER_RLIMIT_NOFILE=$nofile_hard
    fi
fi
check_value KEEPALIVE_TIMEOUT "$RE_TIME" "an nginx time such as 75s"
check_value UPSTREAM_KEEPALIVE "$RE_POSINT" "an integer >= 1"
check_value UPSTREAM_KEEPALIVE_TIMEOUT "$RE_TIME" "an nginx time such as 60s"
check_value CLIENT_MAX_BODY_SIZE "$RE_SIZE" "an nginx size such as 1m (0 = unlimited)"
check_value CLIENT_HEADER_TIMEOUT "$RE_TIME" "an nginx time such as 10s"
check_value CLIENT_BODY_TIMEOUT "$RE_TIME" "an nginx time such as 10s"
check_value PROXY_CONNECT_TIMEOUT "$RE_TIME" "an nginx time such as 5s"
check_value PROXY_READ_TIMEOUT "$RE_TIME" "an nginx time such as 30s"
check_value PROXY_SEND_TIMEOUT "$RE_TIME" "an nginx time such as 30s"
check_value HEALTHZ_TIMEOUT "$RE_TIME" "an nginx time such as 3s"
check_value ERROR_LOG_LEVEL 'debug|info|notice|warn|error|crit|alert|emerg' "an nginx log level such as warn"
check_value ACCESS_LOG "off|$RE_PATH" "off or an absolute path such as /dev/stdout"
check_value ACCESS_LOG_BUFFER "off|$RE_SIZE" "off or an nginx size such as 4k"
check_value ACCESS_LOG_FLUSH "$RE_TIME" "an nginx time such as 1s"
# The realm is shown by browsers and sent in WWW-Authenticate; it goes into the
# config inside double quotes, where nginx would expand `$` and `\`.
check_value BASIC_AUTH_REALM '[] !#%-:<-[^-z|~]{1,64}' "1-64 printable ASCII characters without \" \\ \$ ; { }"

# ---- BASIC_AUTH_HTPASSWD: htpasswd lines, a secret -------------------------------
# Every message names the line number only, never a user name or a hash. Pure
# shell (no external command sees the value, not even in its arguments).
# bad_htpasswd N WHAT: stop, saying what is wrong with line N.
bad_htpasswd() {
    die "BASIC_AUTH_HTPASSWD line $1 $2 (the value is not shown)"
}
htpasswd_lines=''
if [ -n "$basic_auth_htpasswd" ]; then
    _rest=$basic_auth_htpasswd
    _n=0
    _users=0
    while [ -n "$_rest" ]; do
        _line=${_rest%%"$NL"*}
        case $_rest in
            *"$NL"*) _rest=${_rest#*"$NL"} ;;
            *) _rest='' ;;
        esac
        _n=$((_n + 1))
        case $_line in
            '#'* | '') continue ;;
            *[![:blank:]]*) ;;
            *) continue ;; # blanks only
        esac
        case $_line in
            *:*) ;;
            *) bad_htpasswd "$_n" "is not user:hash" ;;
        esac
        _user=${_line%%:*}
        _hash=${_line#*:}
        [ -n "$_user" ] || bad_htpasswd "$_n" "has an empty user name (expected user:hash)"
        [ "${#_user}" -le 255 ] || bad_htpasswd "$_n" "has a user name longer than 255 characters"
        case $_user in
            *[[:space:][:cntrl:]]*) bad_htpasswd "$_n" "has whitespace or a control character in the user name" ;;
        esac
        # nginx reads user:hash[:comment]
        [ -n "${_hash%%:*}" ] || bad_htpasswd "$_n" "has an empty hash (expected user:hash)"
        case $_hash in
            *[[:space:][:cntrl:]]*) bad_htpasswd "$_n" "has whitespace or a control character in the hash (a CRLF line break?)" ;;
            '{PLAIN}'* | '{plain}'*) bad_htpasswd "$_n" "is a {PLAIN} clear-text password: use a hash, e.g. openssl passwd -apr1" ;;
        esac
        htpasswd_lines="$htpasswd_lines$_line$NL"
        _users=$((_users + 1))
    done
    [ "$_users" -gt 0 ] || die "BASIC_AUTH_HTPASSWD has no user:hash line, only blank lines and comments (the value is not shown)"
    unset _rest _line _user _hash
fi
unset basic_auth_htpasswd

# nginx opens the access log by name; /dev/stdout cannot be opened when stdout is a
# socket (systemd's journal, for one), only when it is a pipe, file or terminal.
if [ "$ACCESS_LOG" = /dev/stdout ] && [ -S /dev/stdout ]; then
    die "stdout is a socket, which nginx cannot open as /dev/stdout: set ACCESS_LOG to a file path or to off"
fi
if [ "$ACCESS_LOG" = off ]; then
    NGINX_ACCESS_LOG=off
elif [ "$ACCESS_LOG_BUFFER" = off ]; then
    NGINX_ACCESS_LOG="$ACCESS_LOG proxy_json"
else
    NGINX_ACCESS_LOG="$ACCESS_LOG proxy_json buffer=$ACCESS_LOG_BUFFER flush=$ACCESS_LOG_FLUSH"
fi
export NGINX_ACCESS_LOG

# ---- paths -------------------------------------------------------------------
# absolute PATH: relative paths are taken from the current directory.
absolute() {
    case $1 in /*) printf '%s' "$1" ;; *) printf '%s/%s' "$(pwd)" "$1" ;; esac
}
script_dir=$(CDPATH='' cd "$(dirname "$0")" && pwd)
NGINX_TEMPLATE_DIR=$(absolute "${NGINX_TEMPLATE_DIR:-$script_dir/templates}")
NGINX_RUNTIME_DIR=$(absolute "${NGINX_RUNTIME_DIR:-/tmp/nginx-proxy}")
NGINX_CONF_DIR=$(absolute "${NGINX_CONF_DIR:-$NGINX_RUNTIME_DIR/conf}")
NGINX_PID_FILE=$(absolute "${NGINX_PID_FILE:-$NGINX_RUNTIME_DIR/nginx.pid}")
NGINX_TEMP_DIR=$(absolute "${NGINX_TEMP_DIR:-$NGINX_RUNTIME_DIR/temp}")
for name in NGINX_RUNTIME_DIR NGINX_CONF_DIR NGINX_PID_FILE NGINX_TEMP_DIR; do
    check_value "$name" "$RE_PATH" "an absolute path without blanks, quotes or ; { } \$ #"
done
if [ -z "${NGINX_BIN:-}" ]; then
    NGINX_BIN=$(command -v nginx || true)
    [ -n "$NGINX_BIN" ] || NGINX_BIN=/usr/sbin/nginx
fi
case $NGINX_BIN in
    */*) ;;
    *) NGINX_BIN=$(command -v "$NGINX_BIN" || printf '%s' "$NGINX_BIN") ;;
esac
[ -x "$NGINX_BIN" ] || die "nginx binary '$NGINX_BIN' not found or not executable (set NGINX_BIN)"
command -v envsubst >/dev/null 2>&1 || die "envsubst not found (Debian: apt-get install gettext-base)"

set -- "$NGINX_TEMPLATE_DIR"/*.template
[ -f "$1" ] || die "no *.template files in NGINX_TEMPLATE_DIR='$NGINX_TEMPLATE_DIR'"

for dir in "$NGINX_RUNTIME_DIR" "$NGINX_CONF_DIR" "$NGINX_TEMP_DIR" "$(dirname "$NGINX_PID_FILE")"; do
    if mkdir -p "$dir" 2>/dev/null && [ -w "$dir" ]; then :; else
        die "cannot write to '$dir' (mount a writable volume at NGINX_RUNTIME_DIR='$NGINX_RUNTIME_DIR' or point NGINX_RUNTIME_DIR elsewhere)"
    fi
done

# ---- NGINX_USER: the workers' user when nginx starts as root ---------------------
# Started as root, nginx runs its workers as its compiled-in user (nobody), which
# cannot read files under a directory only root may enter (a checkout under
# /root, pytest's temp directories): make run / make local as root name root.
# Ignored as any other user (the image's 101): the workers are that user already.
NGINX_USER=${NGINX_USER:-}
NGINX_USER_DIRECTIVE=''
if [ -n "$NGINX_USER" ]; then
    check_value NGINX_USER '[a-z_][a-z0-9_-]{0,31}' "a user name such as nobody"
    [ "$(id -u)" != 0 ] || NGINX_USER_DIRECTIVE="user $NGINX_USER;"
fi
export NGINX_USER_DIRECTIVE

# ---- basic authentication: the htpasswd file, or none --------------------------
# Only under the runtime dir, owner-only (umask 077: directory 0700, file 0600),
# replaced atomically; removed when authentication is off, so an earlier run's
# file neither lingers nor is used.
auth_dir=$NGINX_RUNTIME_DIR/auth
htpasswd_file=$auth_dir/htpasswd
if [ -n "$htpasswd_lines" ]; then
    if (umask 077 && mkdir -p "$auth_dir") && chmod 0700 "$auth_dir" && rm -f "$htpasswd_file.tmp" &&
        (umask 077 && printf '%s' "$htpasswd_lines" >"$htpasswd_file.tmp"); then :; else
        die "cannot write the htpasswd file under '$auth_dir'"
    fi
    # nginx's workers read the file at every request. Started as root, nginx runs
    # them as its compiled-in user (nobody unless `nginx -V` says --user=), which
    # must own the file; as any other user they run as that user already.
    if [ "$(id -u)" = 0 ]; then
        nginx_user=$("$NGINX_BIN" -V 2>&1 || :)
        case $nginx_user in
            *--user=*) nginx_user=${nginx_user#*--user=} && nginx_user=${nginx_user%%[[:space:]]*} ;;
            *) nginx_user=nobody ;;
        esac
        [ -z "$NGINX_USER" ] || nginx_user=$NGINX_USER
        chown "$nginx_user" "$auth_dir" "$htpasswd_file.tmp" ||
            die "cannot give the htpasswd file under '$auth_dir' to nginx's worker user '$nginx_user'"
    fi
    mv -f "$htpasswd_file.tmp" "$htpasswd_file" || die "cannot write the htpasswd file under '$auth_dir'"
    unset htpasswd_lines
    # The client's credentials are nginx's business: not passed on to the backend.
    NGINX_AUTH_BASIC="auth_basic \"$BASIC_AUTH_REALM\"; auth_basic_user_file $htpasswd_file; proxy_set_header Authorization \"\";"
else
    rm -rf "$auth_dir" || die "cannot remove the stale htpasswd file under '$auth_dir'"
    NGINX_AUTH_BASIC='auth_basic off;'
fi
export NGINX_AUTH_BASIC

# ---- render ------------------------------------------------------------------
# Only these variables are substituted; every other `$name` stays for nginx.
SUBST_VARS='BACKEND_SERVER BACKEND_MAX_FAILS BACKEND_FAIL_TIMEOUT LISTEN_ADDRESS LISTEN_PORT
WORKER_PROCESSES WORKER_CONNECTIONS WORKER_RLIMIT_NOFILE LISTEN_BACKLOG KEEPALIVE_TIMEOUT
UPSTREAM_KEEPALIVE UPSTREAM_KEEPALIVE_TIMEOUT CLIENT_MAX_BODY_SIZE CLIENT_HEADER_TIMEOUT CLIENT_BODY_TIMEOUT
PROXY_CONNECT_TIMEOUT PROXY_READ_TIMEOUT PROXY_SEND_TIMEOUT HEALTHZ_TIMEOUT
ERROR_LOG_LEVEL NGINX_ACCESS_LOG NGINX_PID_FILE NGINX_TEMP_DIR NGINX_AUTH_BASIC NGINX_USER_DIRECTIVE'
shell_format=''
for name in $SUBST_VARS; do
    # shellcheck disable=SC2163  # export the variable whose name is in $name
    export "$name"
    shell_format="$shell_format \${$name}"
done

for template in "$@"; do
    out="$NGINX_CONF_DIR/$(basename "$template" .template)"
    envsubst "$shell_format" <"$template" >"$out.tmp" || die "could not render '$template'"
    mv -f "$out.tmp" "$out"
done
conf="$NGINX_CONF_DIR/nginx.conf"
[ -f "$conf" ] || die "templates rendered, but no nginx.conf among them (NGINX_TEMPLATE_DIR='$NGINX_TEMPLATE_DIR')"

# ---- check and run -----------------------------------------------------------
# -p: relative paths resolve inside the runtime dir; -e (nginx >= 1.19.5): the
# startup error log is stderr, not a compiled-in path under /var/log.
set -- -p "$NGINX_RUNTIME_DIR/" -c "$conf"
if "$NGINX_BIN" -h 2>&1 | grep -q -- '-e filename'; then
    set -- "$@" -e stderr
fi
if ! "$NGINX_BIN" "$@" -t -q; then
    printf '%s: the rendered configuration %s failed nginx -t\n' "$PROG" "$conf" >&2
    exit 1
fi
if [ "$MODE" = check ]; then
    printf '%s\n' "$conf"
    exit 0
fi

# ---- supervise nginx -----------------------------------------------------------
# nginx is not exec'd: for nginx SIGTERM and SIGINT mean a fast stop that drops
# the requests in flight, and SIGTERM is what ECS and most supervisors send. This
# shell stays as the parent (PID 1 in the container), turns TERM, INT and QUIT
# into SIGQUIT (nginx's graceful stop: stop accepting, finish in-flight
# requests), passes HUP on (reload), and exits with nginx's status.
nginx_pid=''
stop_requested=''

# nginx handles signals once it has written its pid file; until then a signal may
# be lost (an asynchronous command starts with SIGQUIT ignored), so wait for it,
# for at most 5 s, while nginx still runs.
wait_until_nginx_handles_signals() {
    _tries=0
    while [ "$(cat "$NGINX_PID_FILE" 2>/dev/null || :)" != "$nginx_pid" ] && kill -0 "$nginx_pid" 2>/dev/null &&
        [ "$_tries" -lt 50 ]; do
        sleep 0.1
        _tries=$((_tries + 1))
    done
}

# forward SIGNAL: send SIGNAL to nginx (a stop is remembered if nginx is not started yet).
forward() {
    signal_received=1
    [ "$1" = HUP ] || stop_requested=1
    [ -n "$nginx_pid" ] || return 0
    wait_until_nginx_handles_signals
    kill -s "$1" "$nginx_pid" 2>/dev/null || :
}
trap 'forward QUIT' TERM INT QUIT
trap 'forward HUP' HUP

# A stale pid file would look like a started nginx.
rm -f "$NGINX_PID_FILE"
"$NGINX_BIN" "$@" -g 'daemon off;' &
nginx_pid=$!
# A stop that came before nginx_pid was known.
[ -z "$stop_requested" ] || forward QUIT

# `wait` returns early (status > 128) whenever a trapped signal arrives, while
# nginx may still be finishing requests: wait again until it has really exited.
# (dash and busybox keep the status of an exited child until `wait` reports it.)
while :; do
    signal_received=''
    status=0
    wait "$nginx_pid" || status=$?
    if [ -z "$signal_received" ] || [ "$status" -le 128 ]; then break; fi
done
exit "$status"
