#!/bin/sh
# Installs what the tests need and the machine lacks, on Debian or Ubuntu.
# Safe to run again: it installs nothing that is already there. Without root
# or apt it says what is missing and leaves it to the tests to skip (or, with
# WARREN_TEST_REQUIRE=all, to fail).
set -eu

missing=""
need() { # need COMMAND-OR-PATH PACKAGE
	if ! command -v "$1" >/dev/null 2>&1 && [ ! -e "$1" ]; then
		missing="$missing $2"
	fi
}

# PostgreSQL server binaries (initdb, pg_ctl) for the throwaway test cluster.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
	missing="$missing postgresql"
fi
need nc netcat-openbsd
need curl curl
# A real OpenSSH server and client for the SSH session tests.
need /usr/sbin/sshd openssh-server
need ssh-keygen openssh-client
# The browser console: Node.js and npm build it and run its unit tests;
# Debian's Chromium runs its browser tests (through playwright-core).
need node nodejs
need npm npm
need /usr/bin/chromium chromium

if [ -z "$missing" ]; then
	echo "test dependencies: all present"
	exit 0
fi
echo "test dependencies: installing$missing"
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	echo "test dependencies: cannot install (need root and apt-get); install:$missing" >&2
	exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || true
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
