#!/usr/bin/env bash
# Install relayd as a system service: user, program, config, unit, udev rule, avahi file.
#
#   sudo systemd/install.sh                     from a checkout: venv in /opt/relayd
#   sudo systemd/install.sh --pyz relayd-0.1.0-aarch64.pyz   the one-file build, no venv
#   sudo systemd/install.sh --relayd /usr/local/bin/relayd   a relayd installed some other way
#   systemd/install.sh --root /tmp/tree         into a directory tree (packaging, tests)
#   sudo systemd/install.sh --uninstall         remove all but the data (/var/lib/relayd)
#                                               and the config (/etc/relayd)
# Running it again is safe: what is there and current is left as it is.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SOURCE="$(dirname "$HERE")"
ROOT=""
MODE="venv"
PYZ=""
RELAYD_BIN=""
UNINSTALL=0
START=1
PYTHON="${PYTHON:-python3}"

PREFIX=/opt/relayd
CONFIG=/etc/relayd/relayd.toml
STATE=/var/lib/relayd
UNIT=/etc/systemd/system/relayd.service
SYSUSERS=/usr/lib/sysusers.d/relayd.conf
UDEV_RULE=/etc/udev/rules.d/90-relayd-modem.rules
AVAHI_SERVICE=/etc/avahi/services/relayd.service

usage() {
    sed -n '2,11s/^# \{0,1\}//p' "$0"
    exit "${1:-0}"
}

while [ $# -gt 0 ]; do
    case "$1" in
        --root) ROOT="$(realpath -m "${2:?--root needs a directory}")"; START=0; shift 2 ;;
        --root=*) ROOT="$(realpath -m "${1#*=}")"; START=0; shift ;;
        --pyz) MODE="pyz"; PYZ="$(realpath "${2:?--pyz needs a file}")"; shift 2 ;;
        --relayd) MODE="external"; RELAYD_BIN="${2:?--relayd needs a path}"; shift 2 ;;
        --no-start) START=0; shift ;;
        --uninstall) UNINSTALL=1; shift ;;
        -h|--help) usage 0 ;;
        *) echo "install.sh: unknown option $1" >&2; usage 2 ;;
    esac
done

say() { printf 'relayd install: %s\n' "$*"; }
is_root() { [ "$(id -u)" -eq 0 ]; }
live() { [ -z "$ROOT" ] && [ -d /run/systemd/system ]; }

# Copy a file only when its content or mode differs, so a second run changes nothing.
put() { # put MODE SRC DEST
    local mode="$1" src="$2" dest="$ROOT$3"
    mkdir -p "$(dirname "$dest")"
    if [ -f "$dest" ] && cmp -s "$src" "$dest" && [ "$(stat -c %a "$dest")" = "${mode#0}" ]; then
        return 0
    fi
    install -m "$mode" "$src" "$dest"
    say "wrote $3"
}

put_text() { # put_text MODE DEST <<< content
    local tmp
    tmp="$(mktemp)"
    cat > "$tmp"
    put "$1" "$tmp" "$2"
    rm -f "$tmp"
}

# The numeric id of a user or group in the target tree ("" when it does not exist).
id_in_root() { # id_in_root passwd|group NAME
    local file="${ROOT:-}/etc/$1"
    [ -f "$file" ] && awk -F: -v n="$2" '$1 == n { print $3 }' "$file" || true
}

own() { # own USER:GROUP PATH: only root can, and only when both exist in the tree
    is_root || return 0
    local uid gid
    uid="$(id_in_root passwd "${1%%:*}")"; [ "${1%%:*}" = root ] && uid=0
    gid="$(id_in_root group "${1#*:}")"
    [ -n "$uid" ] && [ -n "$gid" ] && chown "$uid:$gid" "$ROOT$2"
    return 0
}

relayd_version() {
    "$PYTHON" - "$SOURCE/pyproject.toml" <<'PY'
import sys, tomllib
print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])
PY
}

# --- uninstall ---------------------------------------------------------------------------

if [ "$UNINSTALL" -eq 1 ]; then
    if live; then
        systemctl disable --now relayd.service 2>/dev/null || true
    elif [ -n "$ROOT" ] && command -v systemctl >/dev/null; then
        systemctl --root="$ROOT" disable relayd.service >/dev/null 2>&1 || true
    fi
    rm -f "$ROOT/etc/systemd/system/multi-user.target.wants/relayd.service"
    for path in "$UNIT" "$UDEV_RULE" "$AVAHI_SERVICE" "$SYSUSERS"; do
        if [ -e "$ROOT$path" ]; then rm -f "$ROOT$path"; say "removed $path"; fi
    done
    if [ -e "$ROOT$PREFIX" ]; then rm -rf "$ROOT$PREFIX"; say "removed $PREFIX"; fi
    if live; then
        systemctl daemon-reload
        command -v udevadm >/dev/null && udevadm control --reload || true
    fi
    say "kept $STATE (messages, keys) and $(dirname "$CONFIG") (config); the user relayd stays"
    exit 0
fi

if [ -z "$ROOT" ] && ! is_root; then
    echo "install.sh: run as root (sudo), or use --root DIR" >&2
    exit 1
fi

# --- 1. the user ---------------------------------------------------------------------------

put 0644 "$HERE/relayd.sysusers" "$SYSUSERS"
if command -v systemd-sysusers >/dev/null; then
    if [ -n "$ROOT" ]; then
        mkdir -p "$ROOT/etc"
        systemd-sysusers --root="$ROOT" "$ROOT$SYSUSERS"
    else
        systemd-sysusers "$SYSUSERS"
    fi
elif [ -z "$ROOT" ] && ! id relayd >/dev/null 2>&1; then
    useradd --system --home-dir "$STATE" --shell /usr/sbin/nologin --user-group \
        --groups dialout relayd
fi

# --- 2. the program ------------------------------------------------------------------------

case "$MODE" in
    venv)
        # The venv's own scripts name its path: in a --root tree it is built for that path.
        VENV="$ROOT$PREFIX"
        version="$(relayd_version)"
        stamp="$VENV/.relayd-source"
        want="$version $(cd "$SOURCE" && find relayd modem web pyproject.toml -type f \
            ! -path '*/__pycache__/*' -print0 | sort -z | xargs -0 cat | cksum)"
        if [ ! -x "$VENV/bin/python" ]; then
            if ! "$PYTHON" -c 'import ensurepip' 2>/dev/null && [ -z "$ROOT" ]; then
                apt-get install -y python3-venv  # Debian ships venv without pip otherwise
            fi
            "$PYTHON" -m venv "$VENV"
            say "created the venv $PREFIX"
        fi
        if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
            # Built from a copy: pip would leave a root-owned build/ in the checkout.
            copy="$(mktemp -d)"
            cp -r "$SOURCE/pyproject.toml" "$SOURCE/README.md" "$SOURCE/relayd" \
                "$SOURCE/modem" "$SOURCE/web" "$copy/"
            "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$copy"
            rm -rf "$copy"
            printf '%s\n' "$want" > "$stamp"
            say "installed relayd $version into $PREFIX"
        fi
        RELAYD="$VENV/bin/relayd"
        EXEC="$PREFIX/bin/relayd"
        ;;
    pyz)
        put 0644 "$PYZ" "$PREFIX/relayd.pyz"
        put_text 0755 "$PREFIX/bin/relayd" <<EOF
#!/bin/sh
# relayd from the one-file build; it unpacks into \$SHIV_ROOT (the unit sets /var/cache/relayd).
export SHIV_ROOT="\${SHIV_ROOT:-\${HOME:-/tmp}/.shiv}"
exec /usr/bin/python3 $PREFIX/relayd.pyz "\$@"
EOF
        RELAYD="$ROOT$PREFIX/bin/relayd"
        if [ -n "$ROOT" ]; then RELAYD="$PYTHON $PYZ"; fi
        EXEC="$PREFIX/bin/relayd"
        ;;
    external)
        RELAYD="$RELAYD_BIN"
        EXEC="$RELAYD_BIN"
        ;;
esac

# --- 3. the config (kept when present) -------------------------------------------------------

if [ ! -f "$ROOT$CONFIG" ]; then
    mkdir -p "$ROOT$(dirname "$CONFIG")"
    SHIV_ROOT="$(mktemp -d)" $RELAYD init --config "$ROOT$CONFIG" >/dev/null
    chmod 0640 "$ROOT$CONFIG"
    own root:relayd "$CONFIG"
    say "wrote $CONFIG (edit it, then: systemctl restart relayd)"
else
    say "kept $CONFIG"
fi

# --- 4. the unit, the udev rule, the state directory ---------------------------------------

sed "s#^ExecStart=/opt/relayd/bin/relayd #ExecStart=$EXEC #" "$HERE/relayd.service" \
    | put_text 0644 "$UNIT"
put 0644 "$HERE/90-relayd-modem.rules" "$UDEV_RULE"
if [ ! -d "$ROOT$STATE" ]; then
    mkdir -p "$ROOT$STATE"
    chmod 0750 "$ROOT$STATE"
    own relayd:relayd "$STATE"
fi

# --- 5. avahi, where it runs: it announces relayd and relayd's own announcer stays off -----

if [ -x "$ROOT/usr/sbin/avahi-daemon" ]; then
    # The same id relayd's own announcer would use ([mdns] in SPEC §10); no secret here.
    if [ ! -s "$ROOT$STATE/instance-id" ]; then
        od -An -N6 -tx1 /dev/urandom | tr -d ' \n' > "$ROOT$STATE/instance-id"
        echo >> "$ROOT$STATE/instance-id"
        own relayd:relayd "$STATE/instance-id"
    fi
    relay_id="$(tr -dc '0-9a-f' < "$ROOT$STATE/instance-id")"
    port="$("$PYTHON" - "$ROOT$CONFIG" <<'PY'
import sys, tomllib
server = tomllib.load(open(sys.argv[1], "rb")).get("server", {})
print(server.get("port", 8080), "1" if server.get("tls_cert") else "0")
PY
)"
    tls="${port#* }"
    port="${port% *}"
    version="$(relayd_version)"
    {
        echo '<?xml version="1.0" standalone="no"?>'
        echo '<!DOCTYPE service-group SYSTEM "avahi-service.dtd">'
        echo '<!-- relayd, written by install.sh. relayd itself does not announce while this'
        echo '     file exists ([mdns] backend = "auto"). sims is not kept current here. -->'
        echo '<service-group>'
        echo '  <name replace-wildcards="yes">relayd on %h</name>'
        for type in _smsrelay._tcp _http._tcp; do
            echo '  <service>'
            echo "    <type>$type</type>"
            echo "    <port>$port</port>"
            for txt in txtvers=1 "id=$relay_id" "version=$version" path=/api/v1 ws=/websocket \
                docs=/docs auth=token "tls=$tls"; do
                echo "    <txt-record>$txt</txt-record>"
            done
            echo '  </service>'
        done
        echo '</service-group>'
    } | put_text 0644 "$AVAHI_SERVICE"
elif [ -e "$ROOT$AVAHI_SERVICE" ]; then
    rm -f "$ROOT$AVAHI_SERVICE"
    say "removed $AVAHI_SERVICE (no avahi-daemon): relayd announces itself"
fi

# --- 6. enable, and start on a live system --------------------------------------------------

if [ -n "$ROOT" ]; then
    if command -v systemctl >/dev/null; then
        systemctl --root="$ROOT" enable relayd.service >/dev/null 2>&1
    fi
elif live; then
    systemctl daemon-reload
    if command -v udevadm >/dev/null; then
        udevadm control --reload || true
        udevadm trigger --subsystem-match=tty --action=add || true
    fi
    systemctl enable relayd.service
    if [ "$START" -eq 1 ]; then
        systemctl restart relayd.service
        say "started: systemctl status relayd; journalctl -u relayd -f"
        say "admin key: sudo cat $STATE/admin.key"
    fi
else
    say "systemd is not running here: start it with $EXEC run --config $CONFIG"
fi
