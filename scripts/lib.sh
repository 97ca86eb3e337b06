# Shared set-up for scripts/demo and scripts/test (sourced, not run).
# Works on a fresh Debian machine as root: installs python3 and venv support when
# missing, then the project and its dev tools into .venv.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
DOCS="${PORTSPEC_DOCS:-$ROOT/../shared/vendor-docs}"

say() { printf '==> %s\n' "$*"; }

ensure_python() {
    if command -v python3 >/dev/null 2>&1 \
        && python3 -c 'import sys, ensurepip, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        return
    fi
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "error: need Python >= 3.11 with venv (Debian: apt-get install python3 python3-venv)" >&2
        exit 2
    fi
    say "installing python3 and python3-venv (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv python3-pip >/dev/null
}

ensure_venv() {
    ensure_python
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating $VENV"
        python3 -m venv "$VENV"
    fi
    say "installing pytest-portspec, its dev tools and ansible-core into .venv"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$ROOT[dev,ansible]" 2>&1 \
        | grep -v "^WARNING: Location" || true
    "$VENV/bin/python" -c 'import pytest_portspec' || { echo "error: install failed" >&2; exit 2; }
}

ensure_docs() {
    if [ ! -d "$DOCS" ]; then
        echo "error: vendor documents not found at $DOCS (set PORTSPEC_DOCS)" >&2
        exit 2
    fi
}

ensure_lab_deps() {
    local tool missing=""
    for tool in ip nsenter unshare sshd ssh-keygen ufw iptables ebtables dnsmasq sudo ss nft ipset; do
        command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || missing="$missing $tool"
    done
    if [ -n "$missing" ]; then
        say "installing the lab's system packages (missing:$missing)"
        "$VENV/bin/portspec" lab install-deps
    fi
}

# ensure_package TOOL PACKAGE WHY: install a Debian package when its tool is missing (as root)
ensure_package() {
    if ! command -v "$1" >/dev/null 2>&1; then
        if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
            echo "error: $1 is needed $3 (Debian: apt-get install $2)" >&2
            exit 2
        fi
        say "installing $2 $3"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null
    fi
}

ensure_scan_deps() {
    # nmap: the outside-in scan's first choice (--scan); its tests run the real program
    ensure_package nmap nmap "for the scan tests"
}

ensure_report_deps() {
    # headless Chromium opens the HTML report in the tests, as a reviewer would
    ensure_package chromium chromium "(headless) for the report tests"
}
