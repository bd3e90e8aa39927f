#!/usr/bin/env bash
# Build dist/relayd-<version>-<arch>.pyz: relayd and every dependency in one file (shiv).
#
#   systemd/build-pyz.sh [ARCH] [OUT_DIR]     ARCH: x86_64 (default: this machine) or aarch64
#
# Compiled dependencies come as manylinux wheels for ARCH and CPython $PYVER (3.11: Debian 12,
# Raspberry Pi OS bookworm), so the Pi artifact is built here. Run it with the system python:
#   python3 relayd-0.1.0-aarch64.pyz run --demo
# It unpacks itself once into $SHIV_ROOT (default ~/.shiv).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ARCH="${1:-$(uname -m)}"
OUT="$(realpath -m "${2:-$REPO/dist}")"
PYVER="${PYVER:-3.11}"
PY="${PY:-$REPO/.venv/bin/python}"

case "$ARCH" in
    x86_64|aarch64) ;;
    *) echo "build-pyz: ARCH must be x86_64 or aarch64, not $ARCH" >&2; exit 2 ;;
esac

cd "$REPO"
version="$("$PY" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')"
mapfile -t deps < <("$PY" -c 'import tomllib
for dep in tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]:
    print(dep)')
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/wheels" "$OUT"
target=(--only-binary=:all: --implementation cp --python-version "$PYVER"
        --platform "manylinux2014_$ARCH" --platform "manylinux_2_17_$ARCH"
        --platform "manylinux_2_28_$ARCH")
pip=("$PY" -m pip --disable-pip-version-check --quiet)

# relayd itself is pure Python, built from a copy (a build/ left in the checkout could
# carry deleted modules into the wheel); its dependencies are fetched for the target.
mkdir "$work/src"
cp -r pyproject.toml README.md relayd modem web "$work/src/"
find "$work/src" -name __pycache__ -prune -exec rm -rf {} +
"${pip[@]}" wheel --no-deps --wheel-dir "$work/wheels" "$work/src" 2>/dev/null
# Pure-Python dependencies published only as source are built into wheels first.
sdist_only=(openapi-ui-bundles)
for dep in "${deps[@]}"; do
    for name in "${sdist_only[@]}"; do
        if [[ "$dep" == "$name"* ]]; then
            "${pip[@]}" wheel --no-deps --wheel-dir "$work/wheels" "$dep" 2>/dev/null
        fi
    done
done
"${pip[@]}" download "${target[@]}" --find-links "$work/wheels" --dest "$work/wheels" \
    "${deps[@]}" 2>/dev/null

# Every wheel must be pure or built for ARCH: a wrong-arch .so would only fail on the Pi.
for wheel in "$work"/wheels/*.whl; do
    case "$(basename "$wheel")" in
        *-none-any.whl|*"_$ARCH.whl"|*"_$ARCH."*) ;;
        *) echo "build-pyz: $(basename "$wheel") is neither pure nor $ARCH" >&2; exit 1 ;;
    esac
done

pyz="$OUT/relayd-$version-$ARCH.pyz"
"$PY" -m shiv --quiet --compressed --reproducible \
    --python "/usr/bin/env python3" --entry-point relayd.__main__:main --output-file "$pyz" \
    --no-index --find-links "$work/wheels" "${target[@]}" relayd 2>/dev/null
echo "$pyz"
