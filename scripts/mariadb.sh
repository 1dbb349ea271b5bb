#!/usr/bin/env bash
# mariadb.sh — a private MariaDB instance for development and tests.
#
# The instance lives entirely under DIR (data, socket, pid file, error log, temporary files)
# and is started with --no-defaults, so it never reads /etc/mysql nor touches /var/lib/mysql:
# several instances (one per test binary, one per developer) can run side by side with the
# system server.
#
# Usage:
#   scripts/mariadb.sh start  DIR [PORT]   initialise DIR on first use, start, create database
#                                          `adnet`, print the DSN; PORT also listens on 127.0.0.1
#   scripts/mariadb.sh stop   DIR          graceful shutdown; SIGKILL after a bound
#   scripts/mariadb.sh status DIR          exit 0 if running, 3 if not
#   scripts/mariadb.sh dsn    DIR          print the DSN
#
# Environment:
#   MARIADB_START_TIMEOUT  seconds to wait for the server to answer (default 60)
#   MARIADB_STOP_TIMEOUT   seconds to wait for a graceful shutdown before SIGKILL (default 60)
#   MARIADB_OPTS           extra mariadbd options, e.g. "--innodb-flush-log-at-trx-commit=0"
#                          for throw-away test instances (split on whitespace)
set -euo pipefail

readonly DBNAME=adnet

die() {
	echo "mariadb.sh: $*" >&2
	exit 1
}

usage() {
	sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
	exit 2
}

# find_bin NAME prints the path of NAME, also looking in the sbin directories that are not in
# an ordinary user's PATH (Debian installs mariadbd in /usr/sbin).
find_bin() {
	local name=$1 d
	if command -v "$name" >/dev/null 2>&1; then
		command -v "$name"
		return 0
	fi
	for d in /usr/sbin /usr/local/sbin /sbin; do
		if [[ -x $d/$name ]]; then
			echo "$d/$name"
			return 0
		fi
	done
	return 1
}

# as_root runs a command as root, through sudo when we are not root.
as_root() {
	if [[ $(id -u) -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		die "need root to run: $* (install mariadb-server yourself)"
	fi
}

# ensure_installed installs the Debian MariaDB server package when mariadbd is missing, so that
# the project works on a bare machine.
ensure_installed() {
	if find_bin mariadbd >/dev/null && find_bin mariadb-install-db >/dev/null &&
		find_bin mariadb-admin >/dev/null && find_bin mariadb >/dev/null; then
		return 0
	fi
	echo "mariadb.sh: mariadbd not found, installing mariadb-server" >&2
	export DEBIAN_FRONTEND=noninteractive
	if ! as_root apt-get install -y mariadb-server mariadb-client; then
		as_root apt-get update
		as_root apt-get install -y mariadb-server mariadb-client
	fi
	find_bin mariadbd >/dev/null || die "mariadbd still missing after installing mariadb-server"
}

# paths sets the file names of the instance in DIR (made absolute: the socket path is baked
# into the DSN).
paths() {
	local d=$1
	[[ -n $d ]] || usage
	if [[ -d $d ]]; then
		d=$(cd "$d" && pwd -P)
	elif [[ $d != /* ]]; then
		d=$PWD/$d
	fi
	DIR=$d
	DATA=$DIR/data
	SOCK=$DIR/mysqld.sock
	PIDFILE=$DIR/mysqld.pid
	ERRLOG=$DIR/mysqld.err
	PORTFILE=$DIR/port
}

# server_pid prints the pid of our mariadbd if it is alive. The command name is checked so that
# a stale pid file whose pid has been reused never makes us signal an unrelated process.
server_pid() {
	local pid
	[[ -s $PIDFILE ]] || return 1
	pid=$(<"$PIDFILE")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	if [[ -r /proc/$pid/comm ]]; then
		case $(<"/proc/$pid/comm") in
		mariadbd | mysqld) ;;
		*) return 1 ;;
		esac
	fi
	echo "$pid"
}

admin() {
	"$(find_bin mariadb-admin)" --no-defaults --socket="$SOCK" --user=root --connect-timeout=2 "$@"
}

client() {
	"$(find_bin mariadb)" --no-defaults --socket="$SOCK" --user=root --batch --skip-column-names "$@"
}

alive() {
	admin ping >/dev/null 2>&1
}

log_tail() {
	if [[ -f $ERRLOG ]]; then
		echo "---- last lines of $ERRLOG ----" >&2
		tail -n 30 "$ERRLOG" >&2
	else
		echo "(no error log at $ERRLOG)" >&2
	fi
}

print_dsn() {
	echo "root@unix($SOCK)/$DBNAME?parseTime=true"
}

# init_datadir creates the system tables into a scratch directory and renames it into place,
# so that an interrupted first start never leaves a half-initialised data directory behind.
init_datadir() {
	local tmp=$DIR/data.new
	rm -rf "$tmp"
	echo "mariadb.sh: initialising $DATA" >&2
	if ! "$(find_bin mariadb-install-db)" --no-defaults --datadir="$tmp" \
		--auth-root-authentication-method=normal --skip-test-db \
		--user="$(id -un)" >"$DIR/install.log" 2>&1; then
		cat "$DIR/install.log" >&2
		die "mariadb-install-db failed"
	fi
	mv "$tmp" "$DATA"
}

# wait_alive waits (bounded) until the server with the given pid answers; on failure it prints
# the error log tail and exits.
wait_alive() {
	local pid=$1 deadline=$((SECONDS + ${MARIADB_START_TIMEOUT:-60}))
	until alive; do
		if ! kill -0 "$pid" 2>/dev/null; then
			log_tail
			die "mariadbd exited during start-up"
		fi
		if ((SECONDS >= deadline)); then
			log_tail
			die "mariadbd (pid $pid) did not answer within ${MARIADB_START_TIMEOUT:-60}s"
		fi
		sleep 0.2
	done
}

# lock_dir serialises start and stop on DIR, so that two concurrent starts neither initialise
# the data directory twice nor start two servers on it. The lock is released when we exit.
lock_dir() {
	mkdir -p "$DIR"
	exec 9>"$DIR/lock"
	if command -v flock >/dev/null 2>&1; then
		flock -w "${MARIADB_START_TIMEOUT:-60}" 9 || die "timed out waiting for the lock on $DIR"
	fi
}

cmd_start() {
	local port=${1:-} pid net_opts extra_opts
	ensure_installed
	lock_dir
	# sun_path holds 108 bytes: a longer socket path fails with an obscure bind error.
	if ((${#SOCK} > 100)); then
		die "socket path $SOCK is too long for a Unix socket; use a shorter DIR"
	fi
	if pid=$(server_pid); then
		# Running, perhaps still starting up (another caller's start): wait for it to answer.
		wait_alive "$pid"
		echo "mariadb.sh: already running (pid $pid)" >&2
		print_dsn
		return 0
	fi
	[[ -d $DATA/mysql ]] || init_datadir

	if [[ -n $port ]]; then
		[[ $port =~ ^[0-9]+$ ]] || die "port $port: not a number"
		net_opts=(--port="$port" --bind-address=127.0.0.1)
		echo "$port" >"$PORTFILE"
	else
		net_opts=(--skip-networking)
		rm -f "$PORTFILE"
	fi
	read -r -a extra_opts <<<"${MARIADB_OPTS:-}"
	rm -f "$SOCK" "$PIDFILE"
	# Temporary tables under DIR too: nothing of the instance lives in a shared /tmp, where
	# another process's clean-up could delete a file under a running query.
	mkdir -p "$DIR/tmp"
	# Detached from our stdin/stdout/stderr: a caller that captures our output (a Go test)
	# must not wait for the server to exit before it sees EOF.
	"$(find_bin mariadbd)" --no-defaults --datadir="$DATA" --socket="$SOCK" \
		--pid-file="$PIDFILE" --log-error="$ERRLOG" --tmpdir="$DIR/tmp" --user="$(id -un)" \
		--character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
		"${net_opts[@]}" "${extra_opts[@]}" </dev/null >>"$DIR/mysqld.out" 2>&1 9>&- &
	pid=$!

	wait_alive "$pid"
	client -e "CREATE DATABASE IF NOT EXISTS \`$DBNAME\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
	echo "mariadb.sh: started (pid $pid)" >&2
	print_dsn
}

cmd_stop() {
	local pid deadline
	[[ -d $DIR ]] && lock_dir
	if ! pid=$(server_pid); then
		echo "mariadb.sh: not running" >&2
		return 0
	fi
	# A clean shutdown flushes InnoDB so the next start needs no crash recovery.
	admin shutdown >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
	deadline=$((SECONDS + ${MARIADB_STOP_TIMEOUT:-60}))
	while kill -0 "$pid" 2>/dev/null; do
		if ((SECONDS >= deadline)); then
			echo "mariadb.sh: pid $pid still running after ${MARIADB_STOP_TIMEOUT:-60}s, killing it" >&2
			kill -KILL "$pid" 2>/dev/null || true
			break
		fi
		sleep 0.2
	done
	echo "mariadb.sh: stopped" >&2
}

cmd_status() {
	local pid
	if pid=$(server_pid) && alive; then
		if [[ -f $PORTFILE ]]; then
			echo "running (pid $pid) socket $SOCK port $(<"$PORTFILE")"
		else
			echo "running (pid $pid) socket $SOCK"
		fi
		return 0
	fi
	echo "not running"
	return 3
}

main() {
	local cmd=${1:-}
	[[ $# -ge 2 ]] || usage
	paths "$2"
	case $cmd in
	start) cmd_start "${3:-}" ;;
	stop) cmd_stop ;;
	status) cmd_status ;;
	dsn) print_dsn ;;
	*) usage ;;
	esac
}

main "$@"
